// Jest runs each test file in its own vm context, whose typed-array constructors differ from the
// ones a native addon creates its arrays with. onnxruntime-common checks `data instanceof
// Float32Array` on every output a session returns, so under plain Jest every run fails with
// "A float32 tensor's data must be type of function Float32Array()". Tests that call ONNX
// Runtime in-process use this environment, which hands the context Node's own constructors.
// (The server never hits this: its inference threads are real worker threads, not vm contexts.)
const { TestEnvironment } = require('jest-environment-node');

const TYPED_ARRAYS = [
  'ArrayBuffer',
  'Float32Array',
  'Float64Array',
  'Int8Array',
  'Int16Array',
  'Int32Array',
  'BigInt64Array',
  'Uint8Array',
  'Uint16Array',
  'Uint32Array',
  'BigUint64Array',
];

class OrtEnvironment extends TestEnvironment {
  constructor(config, context) {
    super(config, context);
    for (const name of TYPED_ARRAYS) this.global[name] = globalThis[name];
  }
}

module.exports = OrtEnvironment;
