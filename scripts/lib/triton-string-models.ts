import { join } from 'node:path';
import { writeOnnxModel } from './onnx-writer';

/**
 * Triton's string example models as ONNX files, written with onnx-proto (no Python): the models
 * Triton's `simple_string` and `simple_identity` example clients call. Both are batch-major, as
 * Triton's configs declare them with `max_batch_size: 8` (dims exclude the batch dimension).
 */

/** Elements per row of `simple_string`, as Triton's config declares them (dims: [16]). */
export const SIMPLE_STRING_WIDTH = 16;

/**
 * `simple_string`: INPUT0 and INPUT1 [batch,16] strings holding decimal integers; OUTPUT0 their
 * sum and OUTPUT1 their difference, as decimal strings (Cast string->int32, Add/Sub, Cast back).
 */
export function writeSimpleString(dir: string): void {
  const shape = ['batch', SIMPLE_STRING_WIDTH];
  const INT32 = 6; // onnx.TensorProto.DataType.INT32
  const STRING = 8; // onnx.TensorProto.DataType.STRING
  writeOnnxModel(join(dir, 'model.onnx'), {
    name: 'simple_string',
    doc: "Triton's simple_string: OUTPUT0 = INPUT0 + INPUT1, OUTPUT1 = INPUT0 - INPUT1, decimal strings",
    inputs: [
      { name: 'INPUT0', type: 'string', shape },
      { name: 'INPUT1', type: 'string', shape },
    ],
    outputs: [
      { name: 'OUTPUT0', type: 'string', shape },
      { name: 'OUTPUT1', type: 'string', shape },
    ],
    initializers: [],
    nodes: [
      { op: 'Cast', inputs: ['INPUT0'], outputs: ['a'], attributes: { to: INT32 } },
      { op: 'Cast', inputs: ['INPUT1'], outputs: ['b'], attributes: { to: INT32 } },
      { op: 'Add', inputs: ['a', 'b'], outputs: ['sum'] },
      { op: 'Sub', inputs: ['a', 'b'], outputs: ['difference'] },
      { op: 'Cast', inputs: ['sum'], outputs: ['OUTPUT0'], attributes: { to: STRING } },
      { op: 'Cast', inputs: ['difference'], outputs: ['OUTPUT1'], attributes: { to: STRING } },
    ],
  });
}

/** `simple_identity`: INPUT0 [batch,n] strings, returned unchanged as OUTPUT0. */
export function writeSimpleIdentity(dir: string): void {
  writeOnnxModel(join(dir, 'model.onnx'), {
    name: 'simple_identity',
    doc: "Triton's simple_identity: OUTPUT0 = INPUT0, strings of any bytes",
    inputs: [{ name: 'INPUT0', type: 'string', shape: ['batch', 'n'] }],
    outputs: [{ name: 'OUTPUT0', type: 'string', shape: ['batch', 'n'] }],
    initializers: [],
    nodes: [{ op: 'Identity', inputs: ['INPUT0'], outputs: ['OUTPUT0'] }],
  });
}

/** Both models as `<root>/<name>/1/model.onnx`, the layout of a Triton model repository. */
export function writeTritonStringModels(root: string): void {
  writeSimpleString(join(root, 'simple_string', '1'));
  writeSimpleIdentity(join(root, 'simple_identity', '1'));
}

// `npx ts-node scripts/lib/triton-string-models.ts <dir>` writes both into <dir> (docs/models.md).
if (require.main === module) {
  const root = process.argv[2];
  if (!root) throw new Error('usage: ts-node scripts/lib/triton-string-models.ts <repository dir>');
  writeTritonStringModels(root);
  console.log(`wrote simple_string and simple_identity into ${root}`);
}
