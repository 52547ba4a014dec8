import { NestExpressApplication } from '@nestjs/platform-express';
import { cpSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import request from 'supertest';
import { copyShipped, makeRepository, removeRepository } from './utils/fixtures';
import { closeApp, createTestApp } from './utils/test-app';

/**
 * The README's hot-reload walkthrough, replayed as written (a copy of the shipped models with a
 * short poll interval), and the readiness rule it states: a model added later that fails to
 * load is reported (/models, TF Serving status, metrics) but does not make the server unready.
 */
describe('Hot reload as the README describes it (e2e)', () => {
  let root: string;
  let app: NestExpressApplication;
  const http = () => request(app.getHttpServer());

  const until = async <T>(what: string, check: () => Promise<T | undefined>): Promise<T> => {
    const deadline = Date.now() + 15_000;
    for (;;) {
      const value = await check();
      if (value !== undefined) return value;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };

  beforeAll(async () => {
    root = await makeRepository({
      'iris/1': copyShipped('iris/1'),
      'iris/2': copyShipped('iris/2'),
      'linear/1': copyShipped('linear/1'),
    });
    app = await createTestApp({ MODEL_DIR: root, MODEL_POLL_SECONDS: '0.1' });
  });
  afterAll(async () => {
    await closeApp(app);
    removeRepository(root);
  });

  it('should serve a new version dropped in place, and the superseded one should leave the status list', async () => {
    const available = (version: string) => ({
      version,
      state: 'AVAILABLE',
      status: { error_code: 'OK', error_message: '' },
    });
    expect((await http().get('/v1/models/iris').expect(200)).body).toEqual({
      model_version_status: [available('2')],
    });
    // cp -r models/iris/2 models/iris/.incoming-3 && mv models/iris/.incoming-3 models/iris/3
    cpSync(join(root, 'iris/2'), join(root, 'iris/.incoming-3'), { recursive: true });
    renameSync(join(root, 'iris/.incoming-3'), join(root, 'iris/3'));
    const seen = new Set<string>();
    const final = await until('version 3 alone', async () => {
      const body = (await http().get('/v1/models/iris').expect(200)).body as {
        model_version_status: { version: string; state: string }[];
      };
      body.model_version_status.forEach((v) => seen.add(`${v.version} ${v.state}`));
      return body.model_version_status.length === 1 && body.model_version_status[0].version === '3'
        ? body
        : undefined;
    });
    expect(final).toEqual({ model_version_status: [available('3')] });
    // Version 2 is unloaded and forgotten: never reported as END.
    expect([...seen]).not.toContain('2 END');
  });

  it('should report a newly added model that fails to load, and stay ready', async () => {
    mkdirSync(join(root, 'broken/1'), { recursive: true });
    writeFileSync(join(root, 'broken/1/model.json'), '{"modelTopology": ');
    const status = await until('broken/1 to fail', async () => {
      const res = await http().get('/v1/models/broken');
      return res.status === 200 && res.body.model_version_status[0].state === 'END'
        ? res.body
        : undefined;
    });
    expect(status.model_version_status[0]).toMatchObject({
      version: '1',
      state: 'END',
      status: {
        error_code: 'UNKNOWN',
        error_message: expect.stringContaining('model.json is not valid JSON'),
      },
    });
    const list = (await http().get('/models').expect(200)).body;
    expect(list.models.map((m: { name: string }) => m.name)).toEqual(['iris', 'linear']);
    expect(list.failed).toEqual([
      {
        name: 'broken',
        version: 1,
        error: expect.stringContaining('model.json is not valid JSON'),
      },
    ]);
    const metrics = (await http().get('/metrics').expect(200)).text;
    expect(metrics).toMatch(/^models_loaded\{state="END"\} 1$/m);
    // Readiness is about this server serving what it served, not about a broken newcomer.
    await http().get('/health/ready').expect(200);
    await http().get('/v2/health/ready').expect(200);
    await http().get('/v2/models/broken/ready').expect(503);
    await http()
      .post('/predict')
      .send({ model: 'linear', instances: [[1]] })
      .expect(200);
  });
});
