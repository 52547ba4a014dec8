/**
 * Little-endian bytes of small non-negative integers in a V2 datatype, written by hand (FP16
 * included) so that the tests do not lean on the server's own codec.
 */
export function bytesOf(datatype: string, values: number[]): Buffer {
  const size: Record<string, number> = {
    BOOL: 1,
    UINT8: 1,
    INT8: 1,
    UINT16: 2,
    INT16: 2,
    FP16: 2,
    UINT32: 4,
    INT32: 4,
    FP32: 4,
    UINT64: 8,
    INT64: 8,
    FP64: 8,
  };
  const out = Buffer.alloc(values.length * size[datatype]);
  values.forEach((v, i) => {
    const at = i * size[datatype];
    if (datatype === 'BOOL' || datatype === 'UINT8') out.writeUInt8(v, at);
    else if (datatype === 'INT8') out.writeInt8(v, at);
    else if (datatype === 'UINT16') out.writeUInt16LE(v, at);
    else if (datatype === 'INT16') out.writeInt16LE(v, at);
    else if (datatype === 'UINT32') out.writeUInt32LE(v, at);
    else if (datatype === 'INT32') out.writeInt32LE(v, at);
    else if (datatype === 'UINT64') out.writeBigUInt64LE(BigInt(v), at);
    else if (datatype === 'INT64') out.writeBigInt64LE(BigInt(v), at);
    else if (datatype === 'FP32') out.writeFloatLE(v, at);
    else if (datatype === 'FP64') out.writeDoubleLE(v, at);
    // FP16 by hand for small integers (0 is all zero bits): exponent 15 + e, 10-bit fraction.
    else if (v !== 0) {
      const e = Math.floor(Math.log2(v));
      out.writeUInt16LE(((e + 15) << 10) | Math.round((v / 2 ** e - 1) * 1024), at);
    }
  });
  return out;
}

/** BYTES elements framed as Triton's binary extension does: 4-byte little-endian length, bytes. */
export const framed = (elements: Buffer[]): Buffer =>
  Buffer.concat(
    elements.flatMap((e) => {
      const length = Buffer.alloc(4);
      length.writeUInt32LE(e.length);
      return [length, e];
    }),
  );

/** The elements of framed BYTES data. */
export function unframe(bytes: Buffer): Buffer[] {
  const elements: Buffer[] = [];
  for (let offset = 0; offset < bytes.length;) {
    const length = bytes.readUInt32LE(offset);
    elements.push(bytes.subarray(offset + 4, offset + 4 + length));
    offset += 4 + length;
  }
  return elements;
}
