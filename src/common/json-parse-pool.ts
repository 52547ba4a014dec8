import {
  BadRequestException,
  HttpException,
  Logger,
  PayloadTooLargeException,
} from '@nestjs/common';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { parseJsonObject } from './json-body.middleware';
import { JsonLimits } from './json-limits';
import { PackedTree, unpackTree } from './json-pack';

export interface ParseRequest {
  id: number;
  bytes: Uint8Array;
  limits?: JsonLimits;
  what: string;
  minPacked: number;
}

export type ParseReply =
  | { id: number; tree: PackedTree }
  /** The body is valid but is better parsed where it is used (see packNumericArrays). */
  | { id: number; inline: true }
  /** A client error from parseJsonObject: status and message, rebuilt on the main thread. */
  | { id: number; refused: { status: number; message: string } }
  | { id: number; failed: string };

/** Arrays of fewer numbers stay ordinary arrays: a proxy costs more than it saves on them. */
export const MIN_PACKED_NUMBERS = 256;

/** The exception parseJsonObject threw in the thread, as the main thread would have thrown it. */
function rebuildRefusal({ status, message }: { status: number; message: string }): HttpException {
  if (status === 400) return new BadRequestException(message);
  if (status === 413) return new PayloadTooLargeException(message);
  return new HttpException(message, status);
}

function spawn(): Worker {
  const script = join(__dirname, `json-parse.worker${__filename.endsWith('.ts') ? '.ts' : '.js'}`);
  if (script.endsWith('.js')) return new Worker(script);
  // Under ts-node or Jest (the file is .ts) the thread registers ts-node itself, transpile-only.
  const bootstrap = `require('ts-node').register({ transpileOnly: true }); require(${JSON.stringify(script)});`;
  return new Worker(bootstrap, { eval: true });
}

interface Pending {
  resolve: (value: Record<string, unknown>) => void;
  reject: (error: unknown) => void;
  parseHere: () => Record<string, unknown>;
}

class ParseThread {
  readonly pending = new Map<number, Pending>();
  readonly worker = spawn();
  dead = false;

  constructor(onDeath: (error: Error) => void) {
    this.worker.unref();
    this.worker.on('message', (reply: ParseReply) => this.settle(reply));
    const die = (error: Error) => {
      if (this.dead) return;
      this.dead = true;
      for (const call of this.pending.values()) call.reject(error);
      this.pending.clear();
      onDeath(error);
    };
    this.worker.on('error', die);
    this.worker.on('exit', (code) => die(new Error(`JSON parse thread exited with code ${code}`)));
  }

  private settle(reply: ParseReply): void {
    const call = this.pending.get(reply.id);
    if (!call) return;
    this.pending.delete(reply.id);
    if ('tree' in reply) return call.resolve(unpackTree(reply.tree) as Record<string, unknown>);
    if ('refused' in reply) return call.reject(rebuildRefusal(reply.refused));
    if ('failed' in reply) return call.reject(new Error(`JSON parse thread failed: ${reply.failed}`));
    try {
      call.resolve(call.parseHere());
    } catch (error) {
      call.reject(error);
    }
  }
}

/**
 * Threads that parse large JSON bodies, so the main thread stays free for what must never wait
 * (health probes, signals, accepting connections, small requests): JSON.parse of a 1 MB tensor
 * takes ~15 ms, and the tree it builds lives, and is garbage collected, on the thread that
 * built it. The main thread gets back the value with its numeric arrays packed (packedArray):
 * one transferred Float64Array per tensor. Bodies go to the thread with the fewest in hand.
 */
export class JsonParsePool {
  private readonly logger = new Logger(JsonParsePool.name);
  private readonly threads: (ParseThread | undefined)[];
  private nextId = 1;
  private closed = false;

  constructor(
    size: number,
    private readonly minPacked = MIN_PACKED_NUMBERS,
  ) {
    this.threads = new Array<ParseThread | undefined>(size).fill(undefined);
  }

  /** parseJsonObject(bytes, limits, what), off the main thread; same value, same refusals. */
  parse(bytes: Buffer, limits?: JsonLimits, what = 'body'): Promise<Record<string, unknown>> {
    if (this.closed) return Promise.resolve().then(() => parseJsonObject(bytes, limits, what));
    const thread = this.pick();
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      thread.pending.set(id, { resolve, reject, parseHere: () => parseJsonObject(bytes, limits, what) });
      // Copied, not transferred: the bytes stay here in case the thread hands the parse back.
      thread.worker.postMessage({ id, bytes, limits, what, minPacked: this.minPacked } satisfies ParseRequest);
    });
  }

  /** Ends the threads; later bodies are parsed on the calling thread. */
  async close(): Promise<void> {
    this.closed = true;
    const threads = this.threads.filter((t): t is ParseThread => t !== undefined);
    this.threads.fill(undefined);
    await Promise.all(threads.map((t) => t.worker.terminate()));
  }

  /** The live thread with the fewest bodies in hand, started (or restarted) on demand. */
  private pick(): ParseThread {
    let best: ParseThread | undefined;
    for (let i = 0; i < this.threads.length; i++) {
      let thread = this.threads[i];
      if (!thread || thread.dead) {
        const slot = i;
        thread = new ParseThread((error) => {
          if (!this.closed) this.logger.error(`JSON parse thread ${slot} stopped: ${error.message}`);
          if (this.threads[slot] === thread) this.threads[slot] = undefined;
        });
        this.threads[i] = thread;
      }
      if (!best || thread.pending.size < best.pending.size) best = thread;
    }
    return best!;
  }
}
