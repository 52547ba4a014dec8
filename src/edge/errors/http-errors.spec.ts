import { Body, Controller, INestApplication, Logger, Post } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { Test } from '@nestjs/testing';
import express, { Request } from 'express';
import request from 'supertest';
import { LifecycleService } from '../../core/lifecycle/lifecycle.service';
import {
  SERVING_CODES,
  ServingCode,
  ServingError,
  ServingReason,
} from '../../errors/serving-error';
import { requestGuard } from '../admission/request-guard.middleware';
import { ERROR_BODY_WRITERS, protocolOfPath } from './error-body';
import { HttpErrorFilter } from './http-error.filter';
import { claimRequest } from './serving-request';
import { httpStatusOf } from './http-status';

/** The answer each code must get over HTTP, written out here rather than read from the table. */
const EXPECTED: Record<ServingCode, { status: number; phrase: string }> = {
  INVALID_ARGUMENT: { status: 400, phrase: 'Bad Request' },
  NOT_FOUND: { status: 404, phrase: 'Not Found' },
  FAILED_PRECONDITION: { status: 400, phrase: 'Bad Request' },
  RESOURCE_EXHAUSTED: { status: 413, phrase: 'Payload Too Large' },
  UNAVAILABLE: { status: 503, phrase: 'Service Unavailable' },
  DEADLINE_EXCEEDED: { status: 504, phrase: 'Gateway Timeout' },
  CANCELLED: { status: 499, phrase: 'Error' },
  UNIMPLEMENTED: { status: 501, phrase: 'Not Implemented' },
  INTERNAL: { status: 500, phrase: 'Internal Server Error' },
  UNAUTHENTICATED: { status: 401, phrase: 'Unauthorized' },
  PERMISSION_DENIED: { status: 403, phrase: 'Forbidden' },
};

/** One path per HTTP protocol, and the body that protocol answers an error with. */
const PROTOCOLS = [
  {
    path: '/predict',
    body: (status: number, phrase: string, message: string) => ({
      statusCode: status,
      error: phrase,
      message,
    }),
  },
  { path: '/v1/models/m/predict', body: (_s: number, _p: string, error: string) => ({ error }) },
  { path: '/v2/models/m/infer', body: (_s: number, _p: string, error: string) => ({ error }) },
];

const MESSAGE = "input 'x': expected 4 values, got 3";

/** Throws the ServingError its body names, on a path of every protocol. */
@Controller()
class ThrowingController {
  @Post(PROTOCOLS.map((p) => p.path.slice(1)))
  fail(@Body() body: { code: ServingCode; reason?: ServingReason }): never {
    throw new ServingError(body.code, MESSAGE, body.reason);
  }
}

describe('HTTP errors: one status table, one body writer per protocol', () => {
  describe(httpStatusOf.name, () => {
    it.each(SERVING_CODES)('should answer %s with its HTTP status', (code) => {
      expect(httpStatusOf({ code })).toBe(EXPECTED[code].status);
    });

    it('should answer RESOURCE_EXHAUSTED 507 for OUT_OF_MEMORY and 413 for TOO_LARGE', () => {
      expect(httpStatusOf({ code: 'RESOURCE_EXHAUSTED', reason: 'OUT_OF_MEMORY' })).toBe(507);
      expect(httpStatusOf(ServingError.tooLarge('too many instances'))).toBe(413);
    });
  });

  describe('body writers', () => {
    it('should pick the protocol by path, for errors raised before any route is chosen', () => {
      expect(protocolOfPath('/predict')).toBe('native');
      expect(protocolOfPath('/models/iris')).toBe('native');
      expect(protocolOfPath('/v1/models/iris:predict')).toBe('tfserving');
      expect(protocolOfPath('/v1')).toBe('tfserving');
      expect(protocolOfPath('/v2/models/iris/infer')).toBe('v2');
      expect(protocolOfPath('/v2')).toBe('v2');
      expect(protocolOfPath('/v22/x')).toBe('native');
    });

    it('should shape each protocol its own way', () => {
      const error = { status: 404, message: "Model 'x' not found" };
      expect(ERROR_BODY_WRITERS.native(error)).toEqual({
        statusCode: 404,
        error: 'Not Found',
        message: "Model 'x' not found",
      });
      expect(ERROR_BODY_WRITERS.tfserving(error)).toEqual({ error: "Model 'x' not found" });
      expect(ERROR_BODY_WRITERS.v2(error)).toEqual({ error: "Model 'x' not found" });
    });
  });

  describe(HttpErrorFilter.name, () => {
    let app: INestApplication;
    const logged = jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);

    beforeAll(async () => {
      const moduleRef = await Test.createTestingModule({
        controllers: [ThrowingController],
        providers: [{ provide: APP_FILTER, useClass: HttpErrorFilter }],
      }).compile();
      app = moduleRef.createNestApplication({ logger: false });
      // What the server's body middleware does for every request it serves.
      app.use((req: Request, _res: unknown, next: () => void) => {
        claimRequest(req);
        next();
      });
      await app.init();
    });
    afterAll(async () => {
      await app.close();
      logged.mockRestore();
    });
    beforeEach(() => logged.mockClear());

    const cases = PROTOCOLS.flatMap((protocol) =>
      SERVING_CODES.filter((code) => code !== 'INTERNAL').map((code) => [protocol.path, code]),
    );
    it.each(cases)('should answer %s with the status and body of %s', async (path, code) => {
      const { status, phrase } = EXPECTED[code as ServingCode];
      const body = PROTOCOLS.find((p) => p.path === path)!.body(status, phrase, MESSAGE);
      const res = await request(app.getHttpServer()).post(path).send({ code });
      expect({ status: res.status, body: res.body as unknown }).toEqual({ status, body });
      expect(logged).not.toHaveBeenCalled();
    });

    it.each(PROTOCOLS.map((p) => p.path))(
      'should answer %s OUT_OF_MEMORY 507 in the same body',
      async (path) => {
        const body = PROTOCOLS.find((p) => p.path === path)!.body(
          507,
          'Insufficient Storage',
          MESSAGE,
        );
        const res = await request(app.getHttpServer())
          .post(path)
          .send({ code: 'RESOURCE_EXHAUSTED', reason: 'OUT_OF_MEMORY' });
        expect({ status: res.status, body: res.body as unknown }).toEqual({ status: 507, body });
      },
    );

    it.each(PROTOCOLS.map((p) => p.path))(
      'should answer %s INTERNAL with a generic 500 and log what happened',
      async (path) => {
        const body = PROTOCOLS.find((p) => p.path === path)!.body(
          500,
          'Internal Server Error',
          'Internal server error',
        );
        const res = await request(app.getHttpServer()).post(path).send({ code: 'INTERNAL' });
        expect({ status: res.status, body: res.body as unknown }).toEqual({ status: 500, body });
        expect(logged).toHaveBeenCalledWith(
          `POST ${path} failed`,
          expect.stringContaining(MESSAGE),
        );
      },
    );
  });

  describe('the request guard', () => {
    it.each(PROTOCOLS)(
      "should answer its own 504 on $path in that protocol's body",
      async ({ path, body }) => {
        const app = express();
        app.use(
          requestGuard(new LifecycleService(), {
            maxUploads: 0,
            bodyReadTimeoutMs: 0,
            timeoutMs: 50,
          }),
        );
        app.get(path, () => undefined); // never answers
        const res = await request(app).get(path);
        const message =
          'Request not answered within 50 ms (REQUEST_TIMEOUT_MS), time in the queue included';
        expect({ status: res.status, body: res.body as unknown }).toEqual({
          status: 504,
          body: body(504, 'Gateway Timeout', message),
        });
      },
    );
  });
});
