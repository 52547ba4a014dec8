import { HttpException } from '@nestjs/common';
import { parentPort } from 'node:worker_threads';
import { lowerThreadPriority, nameThread } from '../../core/inference/thread-priority';
import { parsePackedJson } from './json-parse';
import type { ParseReply, ParseRequest } from './json-parse-pool';

const PARSE_THREAD_NICE = 5;

/**
 * A JSON parse thread: the same checks, parse and packing as on the main thread
 * (parsePackedJson, so the same 400/413 texts), the numeric arrays packed into transferable
 * Float64Arrays.
 */
function handle({ id, bytes, limits, what, minPacked }: ParseRequest): void {
  let tree;
  try {
    const body = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    tree = parsePackedJson(body, limits, what, minPacked);
  } catch (error) {
    const reply: ParseReply =
      error instanceof HttpException
        ? { id, refused: { status: error.getStatus(), message: error.message } }
        : { id, inline: true };
    return parentPort!.postMessage(reply);
  }
  const transfer = tree.blocks.map(({ block }) => block.data.buffer as ArrayBuffer);
  parentPort!.postMessage({ id, tree } satisfies ParseReply, transfer);
}

// Below the main thread, above the inference threads: a probe or a signal on the main thread
// must not wait for a parse, and a parse feeds the models, so it goes before them.
lowerThreadPriority(PARSE_THREAD_NICE);
nameThread('json-parse');
parentPort!.on('message', handle);
parentPort!.postMessage({ id: 0, ready: true } satisfies ParseReply);
