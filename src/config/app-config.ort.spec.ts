import { ConfigError, loadConfig } from './app-config';
import { ortIntraOpThreads } from './ort-threads';

describe(ortIntraOpThreads.name, () => {
  it('should share the cores among the inference threads by default, at least 1 each', () => {
    const config = loadConfig({ INFERENCE_THREADS: '1' });
    expect(config.ORT_INTRA_OP_THREADS).toBe(0);
    expect(ortIntraOpThreads(config, 8)).toBe(8);
    expect(ortIntraOpThreads(loadConfig({ INFERENCE_THREADS: '4' }), 8)).toBe(2);
    expect(ortIntraOpThreads(loadConfig({ INFERENCE_THREADS: '4' }), 2)).toBe(1);
    expect(ortIntraOpThreads(loadConfig({ INFERENCE_THREADS: '3' }), 8)).toBe(2);
  });
  it('should take ORT_INTRA_OP_THREADS as given when set', () => {
    expect(ortIntraOpThreads(loadConfig({ ORT_INTRA_OP_THREADS: '3' }), 2)).toBe(3);
  });

  it.each(['-1', '1.5', 'many', '1000'])('should refuse ORT_INTRA_OP_THREADS=%s', (value) => {
    const attempt = () => loadConfig({ ORT_INTRA_OP_THREADS: value });
    expect(attempt).toThrow(ConfigError);
    expect(attempt).toThrow(/ORT_INTRA_OP_THREADS must/);
  });
});
