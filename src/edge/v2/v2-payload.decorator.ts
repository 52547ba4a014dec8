import { createParamDecorator, ExecutionContext } from '@nestjs/common';
import type { Request } from 'express';
import { binaryTailOf } from '../body/json-body.middleware';
import type { V2Payload } from './v2.mapper';

/**
 * The body of a V2 infer request in whichever form it came: JSON, a JSON header + binary data,
 * or the raw form (binary data alone). Validation is the mapper's (readInferRequest): the raw
 * form has no JSON to hand to the validation pipe, and a header's inputs carry no `data`.
 */
export const V2InferPayload = createParamDecorator(
  (_data: unknown, ctx: ExecutionContext): V2Payload => {
    const req = ctx.switchToHttp().getRequest<Request>();
    return {
      body: req.body,
      tail: binaryTailOf(req),
      acceptsBinary:
        req.accepts(['application/json', 'application/octet-stream']) ===
        'application/octet-stream',
    };
  },
);
