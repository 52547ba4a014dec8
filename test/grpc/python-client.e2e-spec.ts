import type { NestExpressApplication } from '@nestjs/platform-express';
import { execFile, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import request from 'supertest';
import { PROTOS_DIR } from '../../src/edge/grpc/protos';
import { freePort } from '../utils/grpc';
import { closeApp, createTestApp } from '../utils/test-app';

const PYTHON = '/usr/bin/python3';
/** Debian's python3-grpcio and python3-grpc-tools (.ci/run installs them; CI must run this). */
const hasGrpcio = spawnSync(PYTHON, ['-c', 'import grpc, grpc_tools']).status === 0;
const describeIfPython = hasGrpcio || process.env.CI ? describe : describe.skip;

interface ModelStat {
  name: string;
  version: string;
  inference_count: number;
  execution_count: number;
  inference_stats: Record<'success' | 'fail', { count: number }>;
  batch_stats: { batch_size: number }[];
}

/** The RPCs of Triton's service this server answers UNIMPLEMENTED. */
const TRITON_ONLY = [
  'ModelConfig',
  'RepositoryIndex',
  'RepositoryModelLoad',
  'RepositoryModelUnload',
  'SystemSharedMemoryStatus',
  'SystemSharedMemoryRegister',
  'SystemSharedMemoryUnregister',
  'CudaSharedMemoryStatus',
  'CudaSharedMemoryRegister',
  'CudaSharedMemoryUnregister',
  'TraceSetting',
  'LogSettings',
];

describeIfPython('A Python gRPC client generated from the vendored protos (e2e)', () => {
  let app: NestExpressApplication;
  let port: number;

  beforeAll(async () => {
    port = await freePort();
    app = await createTestApp({ GRPC_PORT: String(port) });
  });
  afterAll(() => closeApp(app));

  it('should call every RPC of the service: ModelInfer and ModelStreamInfer answered as over HTTP, the RPCs it lacks UNIMPLEMENTED', async () => {
    const stdout = await new Promise<string>((resolve, reject) =>
      execFile(
        PYTHON,
        [join(__dirname, 'python-client.py'), `127.0.0.1:${port}`, join(PROTOS_DIR, 'triton')],
        { timeout: 60_000 },
        (error, out, err) => (error ? reject(new Error(`${error.message}\n${err}`)) : resolve(out)),
      ),
    );
    const got = JSON.parse(stdout);
    const stats = await request(app.getHttpServer()).get('/v2/models/iris/stats').expect(200);
    const http = await request(app.getHttpServer())
      .post('/v2/models/iris/infer')
      .send({
        inputs: [
          {
            name: 'features',
            shape: [2, 4],
            datatype: 'FP32',
            data: [5.1, 3.5, 1.4, 0.2, 6.7, 3.1, 5.6, 2.4],
          },
        ],
      })
      .expect(200);
    const unknown = await request(app.getHttpServer()).get('/v2/models/nope').expect(404);
    expect(got).toEqual({
      ready: true,
      platform: 'tensorflowjs_layers',
      id: 'py',
      output: ['probabilities', 'FP32', [2, 3]],
      values: http.body.outputs[0].data,
      error: ['NOT_FOUND', unknown.body.error],
      stream: [
        ['s1', ''],
        ['bad', "outputs: unknown output 'probs'; the model's outputs are probabilities"],
        ['s2', ''],
      ],
      others: {
        ServerLive: 'OK',
        ModelReady: 'OK',
        ServerMetadata: 'OK',
        ModelStatistics: 'OK',
        ...Object.fromEntries(TRITON_ONLY.map((method) => [method, 'UNIMPLEMENTED'])),
      },
      stats: (stats.body as { model_stats: ModelStat[] }).model_stats.map((s) => [
        s.name,
        s.version,
        s.inference_count,
        s.execution_count,
        s.inference_stats.success.count,
        s.inference_stats.fail.count,
        s.batch_stats.map((b) => b.batch_size),
      ]),
    });
    // Its inferences of iris, all on version 2: 2 rows, then the stream's 1 + 1 (the bad one is
    // refused before admission).
    expect(got.stats.find((s: unknown[]) => s[1] === '2').slice(2, 6)).toEqual([4, 3, 3, 0]);
  }, 90_000);
});
