import { SIMPLE_CONFIG } from '../../../scripts/lib/triton-repository';
import type { TensorSpec } from '../../tensor/signature';
import {
  ConfigDefaults,
  effectiveConfig,
  LoadedModelFacts,
  ModelConfigError,
} from './effective-config';
import type { ModelConfig } from './model-config';
import { parseConfigText } from './read-model-config';

const FILE = '/models/simple/config.pbtxt';
const defaults: ConfigDefaults = {
  maxBatchSize: 32,
  queueDelayMs: 2,
  threads: 2,
  versionPolicy: 'latest',
};
const int32 = (name: string, shape = [-1, 16]): TensorSpec => ({ name, dtype: 'int32', shape });

/** Triton's simple: two int32 [-1,16] inputs, two outputs, batch-major. */
const simple: LoadedModelFacts = {
  name: 'simple',
  platform: 'onnxruntime_onnx',
  signature: {
    inputs: [int32('INPUT0'), int32('INPUT1')],
    outputs: [int32('OUTPUT0'), int32('OUTPUT1')],
  },
  batchMajor: true,
  batchingAllowed: true,
};

const withConfig = (config: Partial<ModelConfig>, facts = simple) =>
  effectiveConfig(facts, defaults, { config: config as ModelConfig, file: FILE });

/** The message a configuration fails the load with. */
function failure(config: Partial<ModelConfig>, facts = simple): string {
  try {
    withConfig(config, facts);
  } catch (error) {
    expect(error).toBeInstanceOf(ModelConfigError);
    return (error as Error).message;
  }
  throw new Error('the configuration was accepted');
}

const tensor = (name: string, dims: number[]) => ({ name, data_type: 'TYPE_INT32', dims });

describe(effectiveConfig.name, () => {
  it("should accept Triton's simple config as written, complete it, and show clients its dims after a free batch dimension", () => {
    const effective = withConfig(parseConfigText(SIMPLE_CONFIG, FILE));
    expect(effective.config).toEqual({
      name: 'simple',
      platform: 'onnxruntime_onnx',
      backend: 'onnxruntime',
      version_policy: { latest: { num_versions: 1 } },
      max_batch_size: 8,
      input: [tensor('INPUT0', [16]), tensor('INPUT1', [16])],
      output: [tensor('OUTPUT0', [16]), tensor('OUTPUT1', [16])],
      instance_group: [{ count: 2, kind: 'KIND_CPU' }],
      dynamic_batching: { max_queue_delay_microseconds: 2000 },
    });
    expect(effective.signature).toEqual(simple.signature);
    expect(effective.batchable).toBe(true);
    expect(effective.shapes).toMatchObject({ fullShapes: false, maxRows: 8, file: FILE });
  });

  it('should auto-complete a model without a config from the model itself, changing nothing about it', () => {
    const effective = effectiveConfig(simple, { ...defaults, versionPolicy: 'all' });
    expect(effective.config).toEqual({
      name: 'simple',
      platform: 'onnxruntime_onnx',
      backend: 'onnxruntime',
      version_policy: { all: {} },
      max_batch_size: 32,
      input: [tensor('INPUT0', [16]), tensor('INPUT1', [16])],
      output: [tensor('OUTPUT0', [16]), tensor('OUTPUT1', [16])],
      instance_group: [{ count: 2, kind: 'KIND_CPU' }],
      dynamic_batching: { max_queue_delay_microseconds: 2000 },
    });
    expect(effective.shapes).toBeUndefined();
    expect(effective.signature).toBe(simple.signature);
  });

  it('should auto-complete max_batch_size 0 and the full shape for a model whose requests are not merged', () => {
    const fixed = {
      ...simple,
      signature: { inputs: [int32('x', [1, 4])], outputs: [int32('y', [1, 4])] },
      batchMajor: false,
    };
    const notMerged = { ...simple, batchingAllowed: false }; // metadata.json "batching": false
    expect(effectiveConfig(fixed, defaults).config).toMatchObject({
      max_batch_size: 0,
      input: [{ name: 'x', dims: [1, 4] }],
      output: [{ name: 'y', dims: [1, 4] }],
    });
    expect(effectiveConfig(fixed, defaults).config.dynamic_batching).toBeUndefined();
    const completed = effectiveConfig(notMerged, defaults);
    expect(completed.config).toMatchObject({
      max_batch_size: 0,
      input: [{ dims: [-1, 16] }, { dims: [-1, 16] }],
    });
    expect(completed.config.dynamic_batching).toBeUndefined();
    expect(completed.batchable).toBe(false);
  });

  it('should fill what a config leaves out: tensors it does not list, data types, dims, the count of a group', () => {
    const effective = withConfig({
      input: [{ name: 'INPUT1' } as never],
      instance_group: [{ count: 1 }, { kind: 'KIND_AUTO' }],
      dynamic_batching: { preferred_batch_size: [4] },
      version_policy: { latest: {} } as never,
      model_warmup: [{ name: 'kept, not acted on' }],
    });
    expect(effective.config).toMatchObject({
      max_batch_size: 32,
      input: [tensor('INPUT1', [16]), tensor('INPUT0', [16])],
      instance_group: [
        { count: 1, kind: 'KIND_CPU' },
        { count: 2, kind: 'KIND_CPU' },
      ],
      dynamic_batching: { preferred_batch_size: [4], max_queue_delay_microseconds: 2000 },
      version_policy: { latest: { num_versions: 1 } },
      model_warmup: [{ name: 'kept, not acted on' }],
    });
  });

  it('should limit the rows of a request only by a max_batch_size the config gives', () => {
    expect(withConfig({ max_batch_size: 8 }).shapes?.maxRows).toBe(8);
    const completed = withConfig({ input: [tensor('INPUT0', [16])] });
    expect(completed.config.max_batch_size).toBe(32);
    expect(completed.shapes?.maxRows).toBeUndefined();
  });

  it('should narrow a free dimension to the number a config gives, for clients to match', () => {
    const free = {
      ...simple,
      signature: { inputs: [int32('x', [-1, -1])], outputs: [int32('y', [-1, -1])] },
    };
    const effective = withConfig(
      { max_batch_size: 4, input: [tensor('x', [3])], output: [tensor('y', [-1])] },
      free,
    );
    expect(effective.signature).toEqual({
      inputs: [int32('x', [-1, 3])],
      outputs: [int32('y', [-1, -1])],
    });
  });

  it('should take reshape: clients see dims, the model its own shape, and the element counts must agree', () => {
    const facts = {
      ...simple,
      signature: {
        inputs: [{ name: 'x', dtype: 'float32', shape: [-1, 2, 2] }],
        outputs: [{ name: 'y', dtype: 'float32', shape: [-1, 2, 2] }],
      },
    };
    const entry = (name: string) => ({
      name,
      data_type: 'TYPE_FP32',
      dims: [4],
      reshape: { shape: [2, 2] },
    });
    const effective = withConfig(
      { max_batch_size: 4, input: [entry('x')], output: [entry('y')] },
      facts,
    );
    expect(effective.signature).toEqual({
      inputs: [{ name: 'x', dtype: 'float32', shape: [-1, 4] }],
      outputs: [{ name: 'y', dtype: 'float32', shape: [-1, 4] }],
    });
    expect(effective.shapes?.inputs.get('x')).toEqual({ client: [-1, 4], model: [-1, 2, 2] });
    expect(effective.shapes?.outputs.get('y')).toEqual({ client: [-1, 4], model: [-1, 2, 2] });
    expect(
      failure(
        {
          max_batch_size: 4,
          input: [{ name: 'x', data_type: 'TYPE_FP32', dims: [5], reshape: { shape: [2, 2] } }],
        },
        facts,
      ),
    ).toBe(
      `${FILE}: field 'input[0].reshape.shape': [2,2] cannot hold the elements of dims [5]: both need the same number of elements (at most one -1 each)`,
    );
    expect(
      failure(
        {
          max_batch_size: 4,
          input: [{ name: 'x', data_type: 'TYPE_FP32', dims: [4], reshape: { shape: [4, 1] } }],
        },
        facts,
      ),
    ).toBe(
      `${FILE}: field 'input[0].reshape.shape': [4,1] does not match: the model's input 'x' is [-1,2,2], [2,2] after the batch dimension (max_batch_size 4)`,
    );
  });

  it.each<[string, Partial<ModelConfig>, string]>([
    [
      'a name that is not the folder',
      { name: 'other' },
      "field 'name': 'other' differs from the model's folder name 'simple'",
    ],
    [
      'another platform',
      { platform: 'tensorflow_graphdef' },
      "field 'platform': 'tensorflow_graphdef' is not this model's platform: its model file is served as 'onnxruntime_onnx'",
    ],
    [
      'another backend',
      { backend: 'pytorch' },
      "field 'backend': 'pytorch' is not this model's backend: its model file is run by 'onnxruntime'",
    ],
    [
      'an input the model lacks',
      { input: [tensor('INPUT9', [16])] },
      "field 'input[0].name': 'INPUT9' is not an input of the model; its inputs are 'INPUT0' [-1,16], 'INPUT1' [-1,16]",
    ],
    [
      'an output listed twice',
      { output: [tensor('OUTPUT0', [16]), tensor('OUTPUT0', [16])] },
      "field 'output[1].name': 'OUTPUT0' is listed twice",
    ],
    [
      'another data type',
      { max_batch_size: 8, input: [{ name: 'INPUT0', data_type: 'TYPE_FP32', dims: [16] }] },
      "field 'input[0].data_type': TYPE_FP32 differs from the model's input 'INPUT0', which is TYPE_INT32 (int32)",
    ],
    [
      'other dims',
      { max_batch_size: 8, output: [tensor('OUTPUT1', [8])] },
      "field 'output[0].dims': [8] does not match: the model's output 'OUTPUT1' is [-1,16], [16] after the batch dimension (max_batch_size 8)",
    ],
    [
      'dims counting the batch dimension',
      { max_batch_size: 8, input: [tensor('INPUT0', [-1, 16])] },
      "field 'input[0].dims': [-1,16] does not match: the model's input 'INPUT0' is [-1,16], [16] after the batch dimension (max_batch_size 8)",
    ],
    [
      'dims without it at max_batch_size 0',
      { max_batch_size: 0, input: [tensor('INPUT0', [16])] },
      "field 'input[0].dims': [16] does not match: the model's input 'INPUT0' is [-1,16] (max_batch_size 0: dims are the full shape)",
    ],
    [
      'a negative max_batch_size',
      { max_batch_size: -1 },
      "field 'max_batch_size': -1 is negative; give 0 (no batch dimension) or the most rows per batch",
    ],
    [
      'dynamic batching without a batch dimension',
      { max_batch_size: 0, dynamic_batching: {} },
      "field 'dynamic_batching': needs max_batch_size > 0: a model without a batch dimension runs request by request",
    ],
    [
      'a GPU instance group',
      { instance_group: [{ kind: 'KIND_GPU' }] },
      "field 'instance_group[0].kind': KIND_GPU: this server runs models on CPU threads only; use KIND_CPU",
    ],
    [
      'no threads',
      { instance_group: [{ count: 0 }] },
      "field 'instance_group[0].count': 0; give at least 1 (inference threads holding the model)",
    ],
    [
      'no versions',
      { version_policy: { specific: { versions: [] } } },
      "field 'version_policy.specific.versions': empty; list the versions to serve",
    ],
  ])('should refuse %s, naming the file and the field', (_, config, message) => {
    expect(failure(config)).toBe(`${FILE}: ${message}`);
  });

  it('should refuse a batch dimension the model does not have, or whose rows do not follow it', () => {
    const fixed = {
      ...simple,
      signature: { inputs: [int32('x', [1, 4])], outputs: [int32('y', [1, 4])] },
    };
    expect(failure({ max_batch_size: 8 }, fixed)).toBe(
      `${FILE}: field 'max_batch_size': 8 means dims exclude a batch dimension, but the model's input 'x' is [1,4], without a free first dimension; set max_batch_size: 0 and give the full shape in dims`,
    );
    expect(failure({ max_batch_size: 8 }, { ...simple, batchMajor: false })).toBe(
      `${FILE}: field 'max_batch_size': 8 means requests' rows may be batched, but the model's outputs do not follow its batch dimension (a batch of 2 rows does not give 2 rows); set max_batch_size: 0`,
    );
  });
});
