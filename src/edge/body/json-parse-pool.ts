import {
  BadRequestException,
  HttpException,
  Logger,
  OnApplicationBootstrap,
  OnApplicationShutdown,
  PayloadTooLargeException,
} from '@nestjs/common';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { JsonLimits } from './json-limits';
import { MIN_PACKED_NUMBERS, PackedTree, parseJsonBody, unpackTree } from './json-parse';

export interface ParseRequest {
  id: number;
  bytes: Uint8Array;
  limits?: JsonLimits;
  what: string;
  minPacked: number;
}

export type ParseReply =
  /** The thread's first message: it takes bodies from now on. */
  | { id: 0; ready: true }
  | { id: number; tree: PackedTree }
  /** Parse it where it is used: an unexpected error in the thread. */
  | { id: number; inline: true }
  /** A client error from parsePackedJson: status and message, rebuilt on the main thread. */
  | { id: number; refused: { status: number; message: string } };

/** The exception parsePackedJson threw in the thread, as the main thread would have thrown it. */
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

/** Settles a call by parsing on this thread: the same value or refusal as without a pool. */
function parseHere(call: Pending): void {
  try {
    call.resolve(call.parseHere());
  } catch (error) {
    call.reject(error);
  }
}

class ParseThread {
  readonly pending = new Map<number, Pending>();
  readonly worker = spawn();
  readonly started: Promise<void>;
  ready = false;
  dead = false;

  constructor(onDeath: (error: Error) => void) {
    this.worker.unref();
    this.worker.on('message', (reply: ParseReply) => this.settle(reply));
    this.started = new Promise((resolve, reject) => {
      this.worker.once('message', () => resolve());
      this.worker.once('exit', () => reject(new Error('JSON parse thread exited at start')));
    });
    this.started.then(() => (this.ready = true)).catch(() => undefined);
    // The bodies a dead thread held are parsed here: slower for them, never lost nor failed.
    const die = (error: Error) => {
      if (this.dead) return;
      this.dead = true;
      const held = [...this.pending.values()];
      this.pending.clear();
      onDeath(error);
      held.forEach(parseHere);
    };
    this.worker.on('error', die);
    this.worker.on('exit', (code) => die(new Error(`JSON parse thread exited with code ${code}`)));
  }

  /** Settles a call from the thread's reply; an unexpected failure there is a parse here. */
  private settle(reply: ParseReply): void {
    if ('ready' in reply) return;
    const call = this.pending.get(reply.id);
    if (!call) return;
    this.pending.delete(reply.id);
    if ('tree' in reply) return call.resolve(unpackTree(reply.tree) as Record<string, unknown>);
    if ('refused' in reply) return call.reject(rebuildRefusal(reply.refused));
    parseHere(call);
  }
}

/**
 * Threads that parse large JSON bodies, so the main thread stays free for what must never wait
 * (health probes, signals, accepting connections, small requests): JSON.parse of a 1 MB tensor
 * takes ~15 ms, and the tree it builds lives, and is garbage collected, on the thread that
 * built it. The main thread gets back the value with its numeric arrays packed (packedArray):
 * one transferred Float64Array per tensor. Bodies go to the started thread with the fewest in
 * hand; threads start with the application and restart on the next body after one dies. A body
 * that comes while none has started is parsed here rather than wait for a thread's start-up.
 */
export class JsonParsePool implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(JsonParsePool.name);
  private readonly threads: (ParseThread | undefined)[];
  private nextId = 1;
  private closed = false;
  /** Bodies parsed by a thread so far (not counting those handed back). */
  parsedOffThread = 0;

  constructor(
    size: number,
    private readonly minPacked = MIN_PACKED_NUMBERS,
  ) {
    this.threads = new Array<ParseThread | undefined>(size).fill(undefined);
  }

  /** parseJsonBody(bytes, limits, what), off the main thread; same value, same refusals. */
  parse(bytes: Buffer, limits?: JsonLimits, what = 'body'): Promise<Record<string, unknown>> {
    const here = () => parseJsonBody(bytes, limits, what, this.minPacked);
    const thread = this.closed ? undefined : this.pick();
    if (!thread) return Promise.resolve().then(here);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const offThread = (value: Record<string, unknown>) => {
        this.parsedOffThread++;
        resolve(value);
      };
      thread.pending.set(id, { resolve: offThread, reject, parseHere: here });
      // Copied, not transferred: the bytes stay here in case the thread hands the parse back.
      thread.worker.postMessage({
        id,
        bytes,
        limits,
        what,
        minPacked: this.minPacked,
      } satisfies ParseRequest);
    });
  }

  /** Started before the first request: a body parsed here costs this thread its parse. */
  onApplicationBootstrap(): Promise<void> {
    return this.whenStarted();
  }

  onApplicationShutdown(): Promise<void> {
    return this.close();
  }

  /** Ends the threads; later bodies are parsed on the calling thread. */
  async close(): Promise<void> {
    this.closed = true;
    const threads = this.threads.filter((t): t is ParseThread => t !== undefined);
    this.threads.fill(undefined);
    await Promise.all(threads.map((t) => t.worker.terminate()));
  }

  /** Resolves once every thread has started (starting them if need be). */
  async whenStarted(): Promise<void> {
    if (this.closed) return;
    this.pick();
    await Promise.all(this.threads.map((thread) => thread?.started));
  }

  /** The started thread with the fewest bodies in hand; threads (re)start on demand. */
  private pick(): ParseThread | undefined {
    let best: ParseThread | undefined;
    for (let i = 0; i < this.threads.length; i++) {
      let thread = this.threads[i];
      if (!thread || thread.dead) {
        const slot = i;
        thread = new ParseThread((error) => {
          if (!this.closed)
            this.logger.error(`JSON parse thread ${slot} stopped: ${error.message}`);
          if (this.threads[slot] === thread) this.threads[slot] = undefined;
        });
        this.threads[i] = thread;
      }
      if (thread.ready && (!best || thread.pending.size < best.pending.size)) best = thread;
    }
    return best;
  }
}
