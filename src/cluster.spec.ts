import { loadConfig } from './config/app-config';
import { hotReloadLine, workerCount } from './cluster';

describe(workerCount.name, () => {
  it('should start as many workers as asked up to the cores', () => {
    expect(workerCount(2, 2)).toEqual({ count: 2 });
    expect(workerCount(3, 8)).toEqual({ count: 3 });
  });

  it('should cap at the cores and say why', () => {
    const { count, warning } = workerCount(64, 2);
    expect(count).toBe(2);
    expect(warning).toMatch(
      /^WORKERS=64 is more than the 2 cores of this machine; starting 2 workers\. Inference is CPU-bound/,
    );
  });
});

describe(hotReloadLine.name, () => {
  it('should say whether hot reload is on, and how often the repository is scanned', () => {
    expect(hotReloadLine(loadConfig({ MODEL_DIR: '/m', MODEL_POLL_SECONDS: '2.5' }))).toBe(
      'Hot reload on: /m is scanned every 2.5 s (MODEL_POLL_SECONDS)',
    );
    expect(hotReloadLine(loadConfig({ MODEL_DIR: '/m' }))).toMatch(/^Hot reload off: /);
  });
});
