import { HttpException } from '@nestjs/common';
import { parentPort } from 'node:worker_threads';
import { lowerThreadPriority, nameThread } from '../inference/thread-priority';
import { parseJsonObject } from './json-body.middleware';
import { MAX_COPIED_VALUES, packNumericArrays } from './json-pack';
import type { ParseReply, ParseRequest } from './json-parse-pool';
import { scanPackedJson } from './json-scan';

const PARSE_THREAD_NICE = 5;

/**
 * A JSON parse thread: the same checks and parse as on the main thread (parseJsonObject, so the
 * same 400/413 texts), then the numeric arrays packed into transferable Float64Arrays.
 */
function handle({ id, bytes, limits, what, minPacked }: ParseRequest): void {
  let tree;
  try {
    const body = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    // The scan reads a request's tensors straight into the blocks; anything else it leaves here.
    tree =
      scanPackedJson(body, limits, minPacked, MAX_COPIED_VALUES) ??
      packNumericArrays(parseJsonObject(body, limits, what), minPacked);
  } catch (error) {
    const reply: ParseReply =
      error instanceof HttpException
        ? { id, refused: { status: error.getStatus(), message: error.message } }
        : { id, inline: true };
    return parentPort!.postMessage(reply);
  }
  if (!tree) return parentPort!.postMessage({ id, inline: true } satisfies ParseReply);
  const transfer = tree.blocks.map(({ block }) => block.data.buffer as ArrayBuffer);
  parentPort!.postMessage({ id, tree } satisfies ParseReply, transfer);
}

// Below the main thread, above the inference threads: a probe or a signal on the main thread
// must not wait for a parse, and a parse feeds the models, so it goes before them.
lowerThreadPriority(PARSE_THREAD_NICE);
nameThread('json-parse');
parentPort!.on('message', handle);
parentPort!.postMessage({ id: 0, ready: true } satisfies ParseReply);
