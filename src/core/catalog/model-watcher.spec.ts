import { ModelWatcher } from './model-watcher';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe(ModelWatcher.name, () => {
  it('should poll repeatedly, one pass at a time, and wait for the pass under way on stop', async () => {
    let running = 0;
    let overlaps = 0;
    let passes = 0;
    let finished = 0;
    const watcher = new ModelWatcher(2, async () => {
      passes++;
      running++;
      if (running > 1) overlaps++;
      await sleep(20); // a pass longer than the interval, like a model load
      running--;
      finished++;
    });
    watcher.start();
    const deadline = Date.now() + 5000;
    while (passes < 3 && Date.now() < deadline) await sleep(5);
    await watcher.stop();

    expect(passes).toBeGreaterThanOrEqual(3);
    expect(overlaps).toBe(0);
    expect(finished).toBe(passes); // stop() returned only after the last pass finished
    await sleep(30);
    expect(passes).toBe(finished); // and no pass starts after stop()
  });

  it('should keep polling after a pass fails', async () => {
    let passes = 0;
    const watcher = new ModelWatcher(2, async () => {
      passes++;
      throw new Error('repository unreadable');
    });
    watcher.start();
    const deadline = Date.now() + 5000;
    while (passes < 3 && Date.now() < deadline) await sleep(5);
    await watcher.stop();
    expect(passes).toBeGreaterThanOrEqual(3);
  });
});
