import type { NestExpressApplication } from '@nestjs/platform-express';
import { Test } from '@nestjs/testing';
import { InferenceEvent, InferenceObserver } from '../../src/core/inference/inference-observer';
import { ModelService } from '../../src/core/model.service';
import { ServingError } from '../../src/errors/serving-error';
import { listenOnLoopback } from '../production/utils/http';
import { copyShipped, makeRepository, removeRepository } from '../utils/fixtures';
import { closeApp, createTestApp } from '../utils/test-app';
import { BareHostModule, hostModule, SETOSA } from './host.module';

interface Answer {
  status: number;
  allow: string | null;
  body: unknown;
}

async function send(url: string, path: string, init: RequestInit = {}): Promise<Answer> {
  const res = await fetch(`${url}${path}`, init);
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: compared as text
  }
  return { status: res.status, allow: res.headers.get('allow'), body };
}

const json = (body: string): RequestInit => ({
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body,
});

/**
 * A host Nest app of its own (its controller, Nest's defaults: body parser on, no global pipe or
 * filter) importing ModelServingModule.forRoot, against the same controller in Nest alone and
 * against the standalone server: the module changes nothing on the host's routes, and its own
 * routes answer as the standalone server's do.
 */
describe('A host app importing ModelServingModule.forRoot (e2e)', () => {
  let root: string;
  let host: NestExpressApplication | undefined;
  let bare: NestExpressApplication | undefined;
  let standalone: NestExpressApplication | undefined;
  let hostUrl: string;
  let bareUrl: string;
  let standaloneUrl: string;
  const observed: InferenceEvent[] = [];

  beforeAll(async () => {
    root = await makeRepository({
      'iris/2': copyShipped('iris/2'),
      'linear/1': copyShipped('linear/1'),
    });
    const moduleRef = await Test.createTestingModule({
      imports: [
        hostModule({ modelDir: root, inferenceThreads: 1, bodyLimit: '2kb', logLevel: 'warn' }),
      ],
    })
      // The host's test replaces a provider of the module, as it would one of its own.
      .overrideProvider(InferenceObserver)
      .useValue({
        observeInference: (event: InferenceEvent) => observed.push(event),
        observeBatch: () => undefined,
      })
      .compile();
    host = moduleRef.createNestApplication<NestExpressApplication>();
    hostUrl = await listenOnLoopback(host);
    const bareRef = await Test.createTestingModule({ imports: [BareHostModule] }).compile();
    bare = bareRef.createNestApplication<NestExpressApplication>();
    bareUrl = await listenOnLoopback(bare);
    standalone = await createTestApp({
      MODEL_DIR: root,
      INFERENCE_THREADS: '1',
      BODY_LIMIT: '2kb',
    });
    standaloneUrl = await listenOnLoopback(standalone);
  }, 120_000);
  afterAll(async () => {
    await Promise.all([closeApp(host), closeApp(bare), closeApp(standalone)]);
    removeRepository(root);
  });

  it("should leave the host's own routes to Nest's defaults: no validation, its own error bodies, Nest's body parser", async () => {
    const requests: [string, RequestInit?][] = [
      // Not whitelisted by the module's validation: the host has none.
      ['/host/notes', json(JSON.stringify({ text: 'hi', extra: 1 }))],
      // Over the module's BODY_LIMIT, under Nest's own 100 kB.
      ['/host/notes', json(JSON.stringify({ text: 'x'.repeat(5000) }))],
      ['/host/notes', json('{"text": ')],
      ['/host/refuse'],
      ['/host/crash'],
      ['/host/nowhere'],
    ];
    for (const [path, init] of requests) {
      expect(await send(hostUrl, path, init)).toEqual(await send(bareUrl, path, init));
    }
    expect(await send(hostUrl, '/host/notes', requests[0][1])).toMatchObject({
      status: 201,
      body: { saved: { text: 'hi', extra: 1 } },
    });
    expect((await send(hostUrl, '/host/notes', requests[2][1])).status).toBe(400);
    expect(await send(hostUrl, '/host/refuse')).toMatchObject({
      status: 400,
      body: { code: 'HOST_RULE', detail: 'the host refuses' },
    });
    expect((await send(hostUrl, '/host/crash')).body).toEqual({
      statusCode: 500,
      message: 'Internal server error',
    });
  });

  it("should answer the module's routes as the standalone server does, errors before routing included", async () => {
    const requests: [string, RequestInit?][] = [
      ['/predict', json(JSON.stringify({ model: 'iris', instances: [SETOSA] }))],
      ['/predict', json('{"model": "iris", ')],
      ['/predict', json(JSON.stringify({ model: 'iris', instances: [SETOSA], extra: 1 }))],
      ['/predict', json(JSON.stringify({ model: 'iris', instances: Array(300).fill(SETOSA) }))],
      ['/predict', json(JSON.stringify({ model: 'nope', instances: [[1]] }))],
      ['/predict'],
      ['/models'],
      ['/models/nope'],
      ['/v1/models/nope'],
      ['/v1/models/iris:predict', json(JSON.stringify({ instances: [SETOSA] }))],
      ['/v2/models/iris/infer', json('[1, 2')],
      [
        '/v2/models/linear/infer',
        json(
          JSON.stringify({
            id: 'same-id',
            inputs: [{ name: 'x', shape: [1, 1], datatype: 'FP32', data: [2] }],
          }),
        ),
      ],
      ['/health/ready'],
    ];
    const statuses: number[] = [];
    for (const [path, init] of requests) {
      const answer = await send(hostUrl, path, init);
      expect([path, answer]).toEqual([path, await send(standaloneUrl, path, init)]);
      statuses.push(answer.status);
    }
    // Answers and refusals both: 413 over the module's BODY_LIMIT, 405 with Allow for GET /predict.
    expect(statuses).toEqual([200, 400, 400, 413, 404, 405, 200, 404, 404, 200, 400, 200, 200]);
  });

  it("should run a model from the host's own provider through ModelService, answering what POST /predict answers", async () => {
    observed.length = 0;
    const own = await send(hostUrl, '/host/flower');
    const predict = await send(
      hostUrl,
      '/predict',
      json(JSON.stringify({ model: 'iris', instances: [SETOSA] })),
    );
    expect(own.status).toBe(200);
    expect(own.body).toEqual(predict.body);
    expect(own.body).toMatchObject({
      model: 'iris',
      version: 2,
      predictions: [{ label: 'setosa' }],
    });
    // Both went through the overridden observer.
    expect(observed).toEqual([
      expect.objectContaining({ model: 'iris', version: 2, instances: 1, ok: true }),
      expect.objectContaining({ model: 'iris', version: 2, instances: 1, ok: true }),
    ]);
  });

  it('should take a version in ModelService.predict, and refuse one that is not a version with a ServingError', async () => {
    const models = host!.get(ModelService);
    await expect(models.predict('iris', [SETOSA], { version: 2 })).resolves.toMatchObject({
      version: 2,
      predictions: [{ label: 'setosa' }],
    });
    const refusal = models.predict('iris', [SETOSA], { version: '2e0' });
    await expect(refusal).rejects.toBeInstanceOf(ServingError);
    await expect(refusal).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: expect.stringMatching(/^Version '2e0' is not a version/),
    });
  });
});
