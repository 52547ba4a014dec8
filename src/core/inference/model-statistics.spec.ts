import type { ServedModel } from '../catalog/served-model';
import type { InferenceEvent, InferenceObserver } from './inference-observer';
import { ModelStatistics } from './model-statistics';

const compute = { inputNs: 10, inferNs: 200, outputNs: 30 };

function request(ok: boolean, instances = 1, model = 'iris', version = 2): InferenceEvent {
  return ok
    ? { model, version, instances, seconds: 0.001, ok, ns: 1000, queueNs: 100, compute }
    : { model, version, instances, seconds: 0, ok, ns: 500 };
}

describe(ModelStatistics.name, () => {
  let models: Pick<ServedModel, 'name' | 'version' | 'state'>[];
  let observed: string[];
  let statistics: ModelStatistics;

  beforeEach(() => {
    models = [
      { name: 'iris', version: 2, state: 'AVAILABLE' },
      { name: 'iris', version: 1, state: 'AVAILABLE' },
      { name: 'digits', version: 1, state: 'LOADING' },
    ];
    observed = [];
    const observer: InferenceObserver = {
      observeInference: (e) => observed.push(`inference ${e.ok}`),
      observeBatch: (e) => observed.push(`batch ${e.rows}`),
    };
    statistics = new ModelStatistics({ all: () => models as ServedModel[] }, observer);
  });

  it('should list every loaded version by name then version, with zeros before any traffic', () => {
    const all = statistics.all();
    expect(all.map((s) => [s.name, s.version])).toEqual([
      ['iris', 1],
      ['iris', 2],
    ]);
    expect(all[0]).toEqual({
      name: 'iris',
      version: 1,
      last_inference: 0,
      inference_count: 0,
      execution_count: 0,
      inference_stats: Object.fromEntries(
        [
          'success',
          'fail',
          'queue',
          'compute_input',
          'compute_infer',
          'compute_output',
          'cache_hit',
          'cache_miss',
        ].map((field) => [field, { count: 0, ns: 0 }]),
      ),
      batch_stats: [],
    });
  });

  it('should count rows, requests, executions and batch sizes as Triton does, and tell the observer', () => {
    const before = Date.now();
    statistics.observeBatch({ model: 'iris', version: 2, rows: 3, waits: [0, 0] });
    statistics.observeExecution({ model: 'iris', version: 2, rows: 3, compute });
    statistics.observeInference(request(true, 2));
    statistics.observeInference(request(true, 1));
    statistics.observeExecution({ model: 'iris', version: 2, rows: 1, compute });
    statistics.observeInference(request(true, 1));
    statistics.observeInference(request(false, 4));
    const [, iris2] = statistics.all();
    expect(iris2).toMatchObject({
      inference_count: 4,
      execution_count: 2,
      inference_stats: {
        success: { count: 3, ns: 3000 },
        fail: { count: 1, ns: 500 },
        queue: { count: 3, ns: 300 },
        compute_input: { count: 3, ns: 30 },
        compute_infer: { count: 3, ns: 600 },
        compute_output: { count: 3, ns: 90 },
      },
      batch_stats: [
        {
          batch_size: 1,
          compute_input: { count: 1, ns: 10 },
          compute_infer: { count: 1, ns: 200 },
          compute_output: { count: 1, ns: 30 },
        },
        {
          batch_size: 3,
          compute_input: { count: 1, ns: 10 },
          compute_infer: { count: 1, ns: 200 },
          compute_output: { count: 1, ns: 30 },
        },
      ],
    });
    expect(iris2.last_inference).toBeGreaterThanOrEqual(before);
    expect(observed).toEqual([
      'batch 3',
      'inference true',
      'inference true',
      'inference true',
      'inference false',
    ]);
  });

  it('should hand out copies: a snapshot does not move with later traffic', () => {
    const [snapshot] = statistics.snapshot([{ name: 'iris', version: 2 }]);
    statistics.observeInference(request(true));
    expect(snapshot.inference_stats.success.count).toBe(0);
    expect(statistics.snapshot([{ name: 'iris', version: 2 }])[0].inference_count).toBe(1);
  });

  it('should forget a version once it leaves the registry, and start from zero if it comes back', () => {
    statistics.observeInference(request(true, 1, 'iris', 1));
    statistics.observeExecution({ model: 'iris', version: 1, rows: 1, compute });
    models = models.filter((m) => m.version !== 1);
    expect(statistics.all().map((s) => `${s.name}/${s.version}`)).toEqual(['iris/2']);
    models.push({ name: 'iris', version: 1, state: 'AVAILABLE' });
    const [iris1] = statistics.all();
    expect([iris1.inference_count, iris1.execution_count, iris1.batch_stats]).toEqual([0, 0, []]);
  });
});
