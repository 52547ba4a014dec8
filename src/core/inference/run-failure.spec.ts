import { EngineInputError } from '../../engines/engine';
import { ServingError } from '../../errors/serving-error';
import { classifyRunFailure } from './run-failure';

interface Wasm {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object) => { exports: { f: () => void } };
}
const wasm = (globalThis as unknown as { WebAssembly: Wasm }).WebAssembly;

/** A real wasm trap: a module whose exported f() executes `unreachable`. */
function trap(): unknown {
  // prettier-ignore
  const bytes = Uint8Array.from([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version 1
    0x01, 0x04, 0x01, 0x60, 0x00, 0x00, // types: () -> ()
    0x03, 0x02, 0x01, 0x00, // one function of type 0
    0x07, 0x05, 0x01, 0x01, 0x66, 0x00, 0x00, // export it as "f"
    0x0a, 0x05, 0x01, 0x03, 0x00, 0x00, 0x0b, // body: unreachable, end
  ]);
  try {
    new wasm.Instance(new wasm.Module(bytes)).exports.f();
  } catch (error) {
    return error;
  }
  throw new Error('the wasm trap did not trap');
}

const MODEL = "'m' version 1";

describe(classifyRunFailure.name, () => {
  it('should make an error the engine calls the input fault a 400, with the reason and the input name', () => {
    const error = new EngineInputError(new Error('indices element out of data bounds, idx=50'));
    expect(classifyRunFailure(error, MODEL, ['index'])).toEqual({
      fatal: false,
      error: {
        code: 'INVALID_ARGUMENT',
        message:
          "model 'm' version 1 cannot run on input 'index': indices element out of data bounds, idx=50",
      },
    });
    expect(classifyRunFailure(error, MODEL, ['a', 'b']).error.message).toContain(
      "on inputs 'a', 'b':",
    );
  });

  it("should make any other error a fault of the engine's own code: internal, not fatal", () => {
    const bug = new TypeError("Cannot read properties of undefined (reading 'dims')");
    expect(classifyRunFailure(bug, MODEL, ['x'])).toEqual({
      fatal: false,
      error: {
        code: 'INTERNAL',
        message:
          "model 'm' version 1: engine failure: Cannot read properties of undefined (reading 'dims')",
      },
    });
  });

  it('should keep a ServingError as data that crosses threads, and not call it fatal', () => {
    const coded = ServingError.unavailable('not loaded');
    const failure = classifyRunFailure(coded, MODEL, ['x']);
    expect(failure).toEqual({
      fatal: false,
      error: { code: 'UNAVAILABLE', message: 'not loaded' },
    });
    expect(structuredClone(failure.error)).toEqual(failure.error);
  });

  it('should call a wasm trap fatal: 500 for a trap, 507 when memory ran out', () => {
    const unreachable = classifyRunFailure(trap(), MODEL, ['x']);
    expect(unreachable.fatal).toBe(true);
    expect(unreachable.error.code).toBe('INTERNAL');
    expect(unreachable.error.message).toMatch(
      /^model 'm' version 1: engine failure: .*unreachable/,
    );
    const bounds = Object.assign(trap() as Error, { message: 'memory access out of bounds' });
    expect(classifyRunFailure(bounds, MODEL, ['x'])).toMatchObject({
      fatal: true,
      error: { code: 'RESOURCE_EXHAUSTED', reason: 'OUT_OF_MEMORY' },
    });
  });

  it('should call a trap fatal even when the engine says the runtime raised it on the inputs', () => {
    expect(classifyRunFailure(new EngineInputError(trap()), MODEL, ['x'])).toMatchObject({
      fatal: true,
      error: { code: 'INTERNAL' },
    });
    const allocation = new EngineInputError(new Error('Failed to allocate memory for buffer'));
    expect(classifyRunFailure(allocation, MODEL, ['x'])).toMatchObject({
      fatal: true,
      error: { code: 'RESOURCE_EXHAUSTED', reason: 'OUT_OF_MEMORY' },
    });
  });

  it.each([
    ['V8', new RangeError('Array buffer allocation failed')],
    ['the wasm heap guard', new RangeError('wasm heap cannot allocate 4294967296 bytes')],
    ['ONNX Runtime', new Error('Failed to allocate memory for requested buffer of size 8')],
    ['C++', new Error('std::bad_alloc')],
  ])('should call an allocation failure of %s fatal and the input too large', (_, error) => {
    const failure = classifyRunFailure(error, MODEL, ['x']);
    expect(failure.fatal).toBe(true);
    expect(failure.error.code).toBe('RESOURCE_EXHAUSTED');
    expect(failure.error.message).toContain(
      "model 'm' version 1: the input needs more memory than the inference thread has (",
    );
  });

  it('should call any other RangeError fatal: the runtime stopped halfway through a run', () => {
    const failure = classifyRunFailure(
      new RangeError('Maximum call stack size exceeded'),
      MODEL,
      [],
    );
    expect(failure).toMatchObject({ fatal: true, error: { code: 'INTERNAL' } });
  });
});
