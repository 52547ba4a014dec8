import { HttpException } from '@nestjs/common';
import { parentPort } from 'node:worker_threads';
import { parseJsonObject } from './json-body.middleware';
import { packNumericArrays } from './json-pack';
import type { ParseReply, ParseRequest } from './json-parse-pool';

/**
 * A JSON parse thread: the same checks and parse as on the main thread (parseJsonObject, so the
 * same 400/413 texts), then the numeric arrays packed into transferable Float64Arrays.
 */
parentPort!.on('message', (request: ParseRequest) => {
  const { id, bytes, limits, what, minPacked } = request;
  let reply: ParseReply;
  try {
    const value = parseJsonObject(Buffer.from(bytes), limits, what);
    const tree = packNumericArrays(value, minPacked);
    if (!tree) {
      reply = { id, inline: true };
    } else {
      const transfer = tree.blocks.map(({ block }) => block.data.buffer as ArrayBuffer);
      parentPort!.postMessage({ id, tree } satisfies ParseReply, transfer);
      return;
    }
  } catch (error) {
    reply =
      error instanceof HttpException
        ? { id, refused: { status: error.getStatus(), message: error.message } }
        : { id, failed: String((error as Error)?.stack ?? error) };
  }
  parentPort!.postMessage(reply);
});
