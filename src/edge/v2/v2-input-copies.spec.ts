import { transferList } from '../../core/inference/transfer';
import { TensorSpec } from '../../tensor/signature';
import type { EncodedTensor } from '../../tensor/tensor';
import { decodeV2Tensor } from './v2-codec';

/**
 * A V2 binary input on its way from the request body to an inference thread: taken as a view
 * where it can be, copied at most once on the main thread, and never taking a buffer the HTTP
 * layer (or Buffer's shared pool) still holds to another thread.
 */
const spec: TensorSpec = { name: 'x', dtype: 'float32', shape: [-1, 4] };
const header = { shape: [2, 4], datatype: 'FP32' };
const values = [1, 2, 3, 4, 5, 6, 7, 8];

/** A body of `before` header bytes followed by the float32 values, as the body parser keeps it. */
function body(before: number, size = before + values.length * 4): Buffer {
  const buffer = Buffer.from(new ArrayBuffer(size));
  values.forEach((v, i) => buffer.writeFloatLE(v, before + i * 4));
  return buffer;
}

const detached = (buffer: ArrayBufferLike) => buffer.byteLength === 0;

/** Sends the tensors as an inference thread gets them: their transfer list is moved, not cloned. */
function send(tensors: EncodedTensor[]): ArrayBuffer[] {
  const list = transferList(tensors);
  structuredClone(
    tensors.map((t) => t.data),
    { transfer: list },
  );
  return list;
}

describe('V2 binary input copies', () => {
  it('should take aligned bytes as a view, then copy them once instead of detaching the body', () => {
    const bytes = body(8);
    const tensor = decodeV2Tensor(spec, header, bytes.subarray(8), 'inputs[0]');
    expect(tensor.data.buffer).toBe(bytes.buffer);
    expect(Array.from(tensor.data as Float32Array)).toEqual(values);

    const [moved] = send([tensor]);
    expect(moved).not.toBe(bytes.buffer);
    expect(detached(bytes.buffer)).toBe(false);
    expect(bytes.readFloatLE(8)).toBe(1);
  });

  it('should copy unaligned bytes once into a buffer of their own, which then moves as it is', () => {
    const bytes = body(5);
    const tensor = decodeV2Tensor(spec, header, bytes.subarray(5), 'inputs[0]');
    const copy = tensor.data;
    expect(copy.buffer).not.toBe(bytes.buffer);
    expect(copy.byteOffset % 4).toBe(0);
    expect(Array.from(copy as Float32Array)).toEqual(values);

    const [moved] = send([tensor]);
    expect(tensor.data).toBe(copy);
    expect(moved).toBe(copy.buffer);
    expect(detached(copy.buffer)).toBe(true);
    expect(detached(bytes.buffer)).toBe(false);
  });

  it('should never move a body that is exactly the tensor (the raw form): the HTTP layer owns it', () => {
    const bytes = body(0);
    expect(bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength).toBe(true);
    const tensor = decodeV2Tensor(spec, header, bytes, 'inputs[0]');
    expect(tensor.data.buffer).toBe(bytes.buffer);

    send([tensor]);
    expect(detached(bytes.buffer)).toBe(false);
    expect(Array.from(new Float32Array(bytes.buffer))).toEqual(values);
  });

  it("should never move a slab of Buffer's shared pool", () => {
    // Small Buffers share one pooled ArrayBuffer; find one at an aligned offset.
    let bytes = Buffer.from(new Uint8Array(32));
    for (let i = 0; i < 8 && bytes.byteOffset % 4 !== 0; i++) {
      bytes = Buffer.from(new Uint8Array(32));
    }
    expect(bytes.buffer.byteLength).toBeGreaterThan(bytes.length);
    expect(bytes.byteOffset % 4).toBe(0);
    values.forEach((v, i) => bytes.writeFloatLE(v, i * 4));
    const neighbour = Buffer.from('still here');

    const tensor = decodeV2Tensor(spec, header, bytes, 'inputs[0]');
    expect(tensor.data.buffer).toBe(bytes.buffer);
    send([tensor]);
    expect(detached(bytes.buffer)).toBe(false);
    expect(neighbour.toString()).toBe('still here');
  });

  it('should take float16 bytes for a float16 input as raw halves, without decoding them', () => {
    const halves = Buffer.from(new ArrayBuffer(4 + 4));
    halves.writeUInt16LE(0x3c00, 4);
    halves.writeUInt16LE(0xc000, 6);
    const tensor = decodeV2Tensor(
      { name: 'h', dtype: 'float16', shape: [-1] },
      { shape: [2], datatype: 'FP16' },
      halves.subarray(4),
      'inputs[0]',
    );
    expect(tensor.data.buffer).toBe(halves.buffer);
    expect(Array.from(tensor.data as Uint16Array)).toEqual([0x3c00, 0xc000]);
  });

  it('should still refuse non-finite values it takes as a view', () => {
    const bytes = body(8);
    bytes.writeFloatLE(NaN, 8 + 4 * 3);
    expect(() => decodeV2Tensor(spec, header, bytes.subarray(8), 'inputs[0]')).toThrow(
      'inputs[0]: element 3 (flat index): expected a finite number, got NaN',
    );
  });

  it('should move the arrays the codec allocated (JSON, converted datatypes) without a copy', () => {
    const ints = Buffer.from(new ArrayBuffer(8 * 4));
    values.forEach((v, i) => ints.writeInt32LE(v, i * 4));
    const tensor = decodeV2Tensor(spec, { shape: [2, 4], datatype: 'INT32' }, ints, 'inputs[0]');
    const converted = tensor.data;
    expect(converted.buffer).not.toBe(ints.buffer);

    const [moved] = send([tensor]);
    expect(moved).toBe(converted.buffer);
    expect(detached(ints.buffer)).toBe(false);
  });
});
