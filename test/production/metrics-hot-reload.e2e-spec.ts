import { NestExpressApplication } from '@nestjs/platform-express';
import { mkdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import {
  copyShipped,
  corruptModelJson,
  makeRepository,
  ModelWriter,
  removeRepository,
} from '../utils/fixtures';
import { closeApp, createTestApp } from '../utils/test-app';
import { metricValue, waitFor } from './utils/http';

/**
 * Metrics across hot reload (MODEL_POLL_SECONDS): a retired version leaves no series behind, and a
 * version that fails to load is reported as failed, never as a load that took 0 seconds.
 */
describe('GET /metrics across hot reload (e2e, real models on a temporary repository)', () => {
  let app: NestExpressApplication;
  let root: string;
  let base: string;

  const scrape = async () => (await fetch(`${base}/metrics`)).text();
  /** Every sample line of a model version, whatever its family. */
  const seriesOf = (text: string, model: string, version: string) =>
    text
      .split('\n')
      .filter(
        (line) =>
          !line.startsWith('#') &&
          line.includes(`model="${model}"`) &&
          line.includes(`version="${version}"`),
      );
  const servedVersions = async (model: string) => {
    const res = await fetch(`${base}/v2/models/${model}`);
    return res.status === 200 ? ((await res.json()) as { versions: string[] }).versions : [];
  };
  const statesOf = async (model: string) => {
    const res = await fetch(`${base}/v1/models/${model}`);
    const body = (await res.json()) as {
      model_version_status?: { version: string; state: string }[];
    };
    return (body.model_version_status ?? []).map((v) => `${v.version}:${v.state}`);
  };
  /** Renamed in whole, so a poll never sees half a folder. */
  const dropVersion = async (model: string, version: number, write: ModelWriter) => {
    const staging = join(root, model, `.incoming-${version}`);
    await write(staging);
    renameSync(staging, join(root, model, String(version)));
  };
  /** y = 2x + 1 on every protocol the series are labelled by: /predict, TF Serving, V2. */
  const predictAll = async () => {
    const post = (path: string, body: object) =>
      fetch(`${base}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    for (const res of [
      await post('/predict', { model: 'linear', instances: [[1], [2]] }),
      await post('/v1/models/linear:predict', { instances: [[1]] }),
      await post('/v2/models/linear/infer', {
        inputs: [{ name: 'x', shape: [1, 1], datatype: 'FP32', data: [1] }],
      }),
    ]) {
      expect(res.status).toBe(200);
    }
  };

  beforeAll(async () => {
    // iris stays: hot reload skips a repository with no model at all, keeping what it served.
    root = await makeRepository({
      'linear/1': copyShipped('linear/1'),
      'iris/2': copyShipped('iris/2'),
    });
    app = await createTestApp({ MODEL_DIR: root, MODEL_POLL_SECONDS: '0.1' });
    await app.listen(0, '127.0.0.1');
    base = (await app.getUrl()).replace('[::1]', '127.0.0.1');
  });
  afterAll(async () => {
    await closeApp(app);
    removeRepository(root);
  });

  it('should remove every series of a version once a hot swap has retired it', async () => {
    await predictAll();
    const serving = await scrape();
    for (const family of [
      'http_requests_total',
      'http_request_duration_seconds_count',
      'model_inference_total',
      'model_inference_duration_seconds_count',
      'model_inference_instances_count',
      'model_queue_wait_seconds_count',
      'model_batch_rows_count',
      'model_load_duration_seconds',
    ]) {
      expect([family, metricValue(serving, family, { model: 'linear', version: '1' })]).toEqual([
        family,
        expect.any(Number),
      ]);
    }

    await dropVersion('linear', 2, copyShipped('linear/1'));
    // The latest policy retires version 1 once version 2 serves.
    await waitFor(async () => JSON.stringify(await servedVersions('linear')) === '["2"]');
    await waitFor(async () => JSON.stringify(await statesOf('linear')) === '["2:AVAILABLE"]');
    await predictAll();
    const swapped = await scrape();
    expect(seriesOf(swapped, 'linear', '1')).toEqual([]);
    expect(metricValue(swapped, 'model_inference_total', { model: 'linear', version: '2' })).toBe(
      3,
    );

    // A model whose folder is removed (an empty one would keep what it serves) goes too.
    rmSync(join(root, 'linear'), { recursive: true });
    await waitFor(async () => (await statesOf('linear')).length === 0);
    expect(seriesOf(await scrape(), 'linear', '2')).toEqual([]);
  }, 90_000);

  it('should report a version that fails to load as failed, with no load time', async () => {
    mkdirSync(join(root, 'linear'));
    await dropVersion('linear', 3, copyShipped('linear/1'));
    await waitFor(async () => JSON.stringify(await servedVersions('linear')) === '["3"]');
    await dropVersion('linear', 4, corruptModelJson);
    await waitFor(async () => (await statesOf('linear')).includes('4:END'));

    const failed = await scrape();
    expect(
      metricValue(failed, 'model_load_duration_seconds', { model: 'linear', version: '4' }),
    ).toBe(undefined);
    expect(metricValue(failed, 'model_load_failed', { model: 'linear', version: '4' })).toBe(1);
    // The version that keeps serving is reported as loaded, and not as failed.
    expect(
      metricValue(failed, 'model_load_duration_seconds', { model: 'linear', version: '3' }),
    ).toBeGreaterThan(0);
    expect(metricValue(failed, 'model_load_failed', { model: 'linear', version: '3' })).toBe(
      undefined,
    );

    // Once the broken folder is gone, so is its failure.
    rmSync(join(root, 'linear', '4'), { recursive: true });
    await waitFor(async () => JSON.stringify(await statesOf('linear')) === '["3:AVAILABLE"]');
    expect(seriesOf(await scrape(), 'linear', '4')).toEqual([]);
  }, 90_000);
});
