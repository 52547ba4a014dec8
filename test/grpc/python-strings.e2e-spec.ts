import type { NestExpressApplication } from '@nestjs/platform-express';
import { execFile, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { writeSimpleIdentity, writeSimpleString } from '../../scripts/lib/triton-string-models';
import { PROTOS_DIR } from '../../src/edge/grpc/protos';
import { makeRepository, removeRepository } from '../utils/fixtures';
import { freePort } from '../utils/grpc';
import { closeApp, createTestApp } from '../utils/test-app';

const PYTHON = '/usr/bin/python3';
/** Debian's python3-grpcio and python3-grpc-tools (.ci/run installs them; CI must run this). */
const hasGrpcio = spawnSync(PYTHON, ['-c', 'import grpc, grpc_tools']).status === 0;
const describeIfPython = hasGrpcio || process.env.CI ? describe : describe.skip;

describeIfPython("Triton's string example client over gRPC, in Python (e2e)", () => {
  let app: NestExpressApplication;
  let root: string;
  let port: number;

  beforeAll(async () => {
    root = await makeRepository({
      'simple_string/1': writeSimpleString,
      'simple_identity/1': writeSimpleIdentity,
    });
    port = await freePort();
    app = await createTestApp({ MODEL_DIR: root, GRPC_PORT: String(port) });
  }, 60_000);
  afterAll(async () => {
    await closeApp(app);
    removeRepository(root);
  });

  it('should sum serialized BYTES tensors and return any bytes through simple_identity', async () => {
    const stdout = await new Promise<string>((resolve, reject) =>
      execFile(
        PYTHON,
        [join(__dirname, 'python-strings.py'), `127.0.0.1:${port}`, join(PROTOS_DIR, 'triton')],
        { timeout: 60_000 },
        (error, out, err) => (error ? reject(new Error(`${error.message}\n${err}`)) : resolve(out)),
      ),
    );
    const got = JSON.parse(stdout) as Record<string, unknown[]>;
    const sixteen = Array.from({ length: 16 }, (_, i) => i);
    expect(got.outputs).toEqual([
      ['OUTPUT0', 'BYTES', [1, 16]],
      ['OUTPUT1', 'BYTES', [1, 16]],
    ]);
    expect(got.sum).toEqual(sixteen.map((x) => x + 1));
    expect(got.difference).toEqual(sixteen.map((x) => x - 1));
    expect(got.identity).toEqual(got.sent);
    expect(got.sent).toEqual(['610062', 'fffe0080', '', '68c3a96c6c6f']);
  }, 90_000);
});
