import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { writeOnnxModel } from './onnx-writer';
import { writeSimpleIdentity, writeSimpleString } from './triton-string-models';

/**
 * A Triton-style model repository of tiny ONNX models: `<name>/config.pbtxt` beside the version
 * folders `<name>/<version>/model.onnx`, as Triton's docs/examples/model_repository lays it out.
 * Tests build it at test time; `npx ts-node scripts/lib/triton-repository.ts <dir>` writes it
 * for trying Triton's clients by hand.
 */

/** One model of the repository: its config.pbtxt (undefined: none, auto-complete) and its version folders. */
export interface TritonModel {
  config?: string;
  /** Writes one version folder (`<name>/<version>/`). */
  write: (versionDir: string) => void;
  versions?: number[];
}

/**
 * Triton's `simple` example: INPUT0 and INPUT1 int32 [16] (after a batch dimension of up to 8),
 * OUTPUT0 = INPUT0 + INPUT1, OUTPUT1 = INPUT0 - INPUT1. Its clients (simple_http_infer_client.py
 * and friends) run against it unchanged.
 */
export const SIMPLE_CONFIG = `name: "simple"
platform: "onnxruntime_onnx"
max_batch_size: 8
input [
  {
    name: "INPUT0"
    data_type: TYPE_INT32
    dims: [ 16 ]
  },
  {
    name: "INPUT1"
    data_type: TYPE_INT32
    dims: [ 16 ]
  }
]
output [
  {
    name: "OUTPUT0"
    data_type: TYPE_INT32
    dims: [ 16 ]
  },
  {
    name: "OUTPUT1"
    data_type: TYPE_INT32
    dims: [ 16 ]
  }
]
`;

/**
 * The graph of `simple`: batch-major, a free first dimension. `width` a name makes the second
 * dimension free too (a config's dims then narrow it).
 */
export function writeSimpleOnnx(versionDir: string, width: number | string = 16): void {
  const int32 = (name: string) => ({ name, type: 'int32' as const, shape: ['batch', width] });
  writeOnnxModel(join(versionDir, 'model.onnx'), {
    name: 'simple',
    doc: "Triton's simple example: OUTPUT0 = INPUT0 + INPUT1, OUTPUT1 = INPUT0 - INPUT1",
    inputs: [int32('INPUT0'), int32('INPUT1')],
    outputs: [int32('OUTPUT0'), int32('OUTPUT1')],
    initializers: [],
    nodes: [
      { op: 'Add', inputs: ['INPUT0', 'INPUT1'], outputs: ['OUTPUT0'] },
      { op: 'Sub', inputs: ['INPUT0', 'INPUT1'], outputs: ['OUTPUT1'] },
    ],
  });
}

/**
 * A model whose tensors are [2,2] inside while clients see rows of 4 (Triton's `reshape`):
 * y = 2x, element by element, so the answer shows the elements kept their order.
 */
export const RESHAPE_CONFIG = `name: "reshape"
platform: "onnxruntime_onnx"
max_batch_size: 4
input [
  {
    name: "x"
    data_type: TYPE_FP32
    dims: [ 4 ]
    reshape: { shape: [ 2, 2 ] }
  }
]
output [
  {
    name: "y"
    data_type: TYPE_FP32
    dims: [ 4 ]
    reshape: { shape: [ 2, 2 ] }
  }
]
`;

export function writeReshapeOnnx(versionDir: string): void {
  const float = (name: string) => ({ name, type: 'float32' as const, shape: ['batch', 2, 2] });
  writeOnnxModel(join(versionDir, 'model.onnx'), {
    name: 'reshape',
    doc: 'y = 2x on [batch,2,2]; its config.pbtxt shows clients rows of 4',
    inputs: [float('x')],
    outputs: [float('y')],
    initializers: [{ name: 'two', dims: [], data: new Float32Array([2]) }],
    nodes: [{ op: 'Mul', inputs: ['x', 'two'], outputs: ['y'] }],
  });
}

/** No batch dimension (max_batch_size 0): dims are the full shape, [2,3] in and out. */
export const NO_BATCH_CONFIG = `name: "nobatch"
platform: "onnxruntime_onnx"
max_batch_size: 0
input [
  {
    name: "x"
    data_type: TYPE_FP32
    dims: [ 2, 3 ]
  }
]
output [
  {
    name: "y"
    data_type: TYPE_FP32
    dims: [ 2, 3 ]
  }
]
`;

/** y = x + 1 on a fixed [2,3]. */
export function writeNoBatchOnnx(versionDir: string): void {
  const float = (name: string) => ({ name, type: 'float32' as const, shape: [2, 3] });
  writeOnnxModel(join(versionDir, 'model.onnx'), {
    name: 'nobatch',
    doc: 'y = x + 1 on a fixed [2,3], no batch dimension',
    inputs: [float('x')],
    outputs: [float('y')],
    initializers: [{ name: 'one', dims: [], data: new Float32Array([1]) }],
    nodes: [{ op: 'Add', inputs: ['x', 'one'], outputs: ['y'] }],
  });
}

/**
 * Triton's `simple_string` (docs/examples/model_repository), with ONNX Runtime in place of its
 * TensorFlow graph: INPUT0 and INPUT1 strings of decimal integers, their sum and difference back.
 */
export const SIMPLE_STRING_CONFIG = `name: "simple_string"
platform: "onnxruntime_onnx"
max_batch_size: 8
version_policy: { latest { num_versions: 1 }}
input [
  {
    name: "INPUT0"
    data_type: TYPE_STRING
    dims: [ 16 ]
  },
  {
    name: "INPUT1"
    data_type: TYPE_STRING
    dims: [ 16 ]
  }
]
output [
  {
    name: "OUTPUT0"
    data_type: TYPE_STRING
    dims: [ 16 ]
  },
  {
    name: "OUTPUT1"
    data_type: TYPE_STRING
    dims: [ 16 ]
  }
]
dynamic_batching { }
`;

/** Triton's `simple_identity`: any bytes in, the same bytes out. */
export const SIMPLE_IDENTITY_CONFIG = `name: "simple_identity"
platform: "onnxruntime_onnx"
max_batch_size: 8
input [
  {
    name: "INPUT0"
    data_type: TYPE_STRING
    dims: [ -1 ]
  }
]
output [
  {
    name: "OUTPUT0"
    data_type: TYPE_STRING
    dims: [ -1 ]
  }
]
`;

/** The models of the repository, by folder name. */
export const TRITON_MODELS: Record<string, TritonModel> = {
  simple: { config: SIMPLE_CONFIG, write: writeSimpleOnnx },
  simple_string: { config: SIMPLE_STRING_CONFIG, write: writeSimpleString },
  simple_identity: { config: SIMPLE_IDENTITY_CONFIG, write: writeSimpleIdentity },
  reshape: { config: RESHAPE_CONFIG, write: writeReshapeOnnx },
  nobatch: { config: NO_BATCH_CONFIG, write: writeNoBatchOnnx },
  // `simple` without a config.pbtxt: what auto-complete fills in.
  simple_autocomplete: { write: writeSimpleOnnx },
};

/** Writes one model folder: its config.pbtxt (when it has one) and its version folders. */
export function writeTritonModel(root: string, name: string, model: TritonModel): void {
  const dir = join(root, name);
  mkdirSync(dir, { recursive: true });
  if (model.config !== undefined) writeFileSync(join(dir, 'config.pbtxt'), model.config);
  for (const version of model.versions ?? [1]) model.write(join(dir, String(version)));
}

/** Writes the models (all of TRITON_MODELS by default) into `root`, a Triton-style repository. */
export function writeTritonRepository(
  root: string,
  models: Record<string, TritonModel> = TRITON_MODELS,
): void {
  for (const [name, model] of Object.entries(models)) writeTritonModel(root, name, model);
}

if (require.main === module) {
  const root = resolve(process.argv[2] ?? 'triton-models');
  writeTritonRepository(root);
  console.log(
    `Wrote a Triton-style repository of ${Object.keys(TRITON_MODELS).length} models to ${root}`,
  );
}
