import { isUtf8 } from 'node:buffer';
import { ServingError } from '../errors/serving-error';
import { owned } from './storage';
import type { Tensor } from './tensor';

/**
 * String tensors (dtype 'string': V2 BYTES, TensorFlow's DT_STRING, ONNX's string). Elements are
 * bytes, not text: any bytes, NUL and bytes that are not UTF-8 included. A string tensor travels
 * as two typed arrays, so it crosses into the inference threads as numbers do (transferred, not
 * cloned element by element): `data` holds every element's bytes one after another (Uint8Array)
 * and `offsets` (count + 1 entries, from 0) says where each starts and ends.
 */

export const STRING_DTYPE = 'string' as const;

export const isStringTensor = (tensor: Pick<Tensor, 'dtype'>): boolean =>
  tensor.dtype === STRING_DTYPE;

/** A string tensor of `elements` (copied into one buffer of its own, free to transfer). */
export function packStrings(
  name: string,
  shape: readonly number[],
  elements: readonly Uint8Array[],
): Tensor & { dtype: typeof STRING_DTYPE; offsets: Uint32Array } {
  const offsets = owned(new Uint32Array(elements.length + 1));
  let total = 0;
  elements.forEach((element, i) => {
    total += element.length;
    offsets[i + 1] = total;
  });
  const data = owned(new Uint8Array(total));
  elements.forEach((element, i) => data.set(element, offsets[i]));
  return { name, dtype: STRING_DTYPE, shape: [...shape], data, offsets };
}

/** Element `index` of a string tensor: a view of its bytes. */
export function stringAt(tensor: Tensor, index: number): Uint8Array {
  const offsets = tensor.offsets!;
  const start = offsets[index] - offsets[0];
  const end = offsets[index + 1] - offsets[0];
  return (tensor.data as Uint8Array).subarray(start, end);
}

/** Every element of a string tensor, as views of its bytes. */
export const stringElements = (tensor: Tensor): Uint8Array[] =>
  Array.from({ length: tensor.offsets!.length - 1 }, (_, i) => stringAt(tensor, i));

/**
 * ONNX Runtime's node binding (1.30) takes and gives string tensors as JS strings, converting to
 * and from UTF-8 itself. Measured: on the way in an element ends at its first NUL ("a\0b" arrives
 * as "a": the binding hands C strings to the runtime), and a byte that is not UTF-8 cannot be
 * written in a JS string at all; on the way out NUL comes back intact and bytes that are not UTF-8
 * become U+FFFD. So NUL and each byte that is not part of valid UTF-8 (always 0x80-0xFF) travel
 * into the runtime as one private-use code point, U+EF00 + byte (NUL as U+EF00, 0xFF as U+EFFF;
 * MirBSD's OPTU-8 uses U+EF80-U+EFFF the same way), and every code point of U+EF00-U+EFFF in an
 * output is turned back into its byte. A model's string ops therefore see valid UTF-8 without
 * NUL exactly as sent, NUL and invalid bytes as the three bytes of their code point (EE BC 80,
 * EE BF BF); an identity model returns every element byte-exact. The one ambiguity, an element
 * that already holds a code point of that block, is refused at the edge (checkStringElement).
 */
const ESCAPE_BASE = 0xef00;
const ESCAPED = /[\uEF00-\uEFFF]/;

/**
 * The 400 for an element that would not survive the model's runtime byte-exact: one holding a
 * code point of the escape block, U+EF00-U+EFFF (UTF-8 EE BC 80 to EE BF BF). `where` names it.
 */
export function checkStringElement(bytes: Uint8Array, where: () => string): void {
  for (
    let i = bytes.indexOf(0xee);
    i >= 0 && i + 2 < bytes.length;
    i = bytes.indexOf(0xee, i + 1)
  ) {
    const second = bytes[i + 1];
    const third = bytes[i + 2];
    if (second >= 0xbc && second <= 0xbf && third >= 0x80 && third <= 0xbf) {
      const codePoint = 0xe000 | ((second & 0x3f) << 6) | (third & 0x3f);
      throw ServingError.invalid(
        `${where()}: holds U+${codePoint.toString(16).toUpperCase()}, one of the private-use code points U+EF00-U+EFFF this server uses to carry NUL and bytes that are not UTF-8 through ONNX Runtime; such an element cannot arrive byte-exact`,
      );
    }
  }
}

/** Length of the well-formed UTF-8 sequence at `i` (Unicode's Table 3-7), or 0. */
function sequenceAt(bytes: Uint8Array, i: number, end: number): number {
  const b0 = bytes[i];
  if (b0 < 0x80) return 1;
  const next = (k: number, lo = 0x80, hi = 0xbf) =>
    i + k < end && bytes[i + k] >= lo && bytes[i + k] <= hi;
  if (b0 >= 0xc2 && b0 <= 0xdf) return next(1) ? 2 : 0;
  if (b0 >= 0xe0 && b0 <= 0xef) {
    const lo = b0 === 0xe0 ? 0xa0 : 0x80;
    const hi = b0 === 0xed ? 0x9f : 0xbf;
    return next(1, lo, hi) && next(2) ? 3 : 0;
  }
  if (b0 >= 0xf0 && b0 <= 0xf4) {
    const lo = b0 === 0xf0 ? 0x90 : 0x80;
    const hi = b0 === 0xf4 ? 0x8f : 0xbf;
    return next(1, lo, hi) && next(2) && next(3) ? 4 : 0;
  }
  return 0;
}

/** An element as the JS string ONNX Runtime takes: UTF-8 decoded, NUL and invalid bytes escaped. */
export function toRuntimeString(bytes: Uint8Array): string {
  return runtimeString(
    Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength),
    0,
    bytes.length,
  );
}

/** toRuntimeString of buffer[start, end), without a Buffer per element. */
function runtimeString(buffer: Buffer, start: number, end: number): string {
  const text = buffer.toString('utf8', start, end);
  // Node's decoder turns each invalid sequence into U+FFFD: without one (and without NUL) the
  // bytes were valid UTF-8, which is nearly always. Otherwise find which bytes need escaping.
  if (!text.includes('\uFFFD') && !text.includes('\u0000')) return text;
  let escaped = '';
  let from = start;
  for (let i = start; i < end;) {
    const length = buffer[i] === 0 ? 0 : sequenceAt(buffer, i, end);
    if (length > 0) {
      i += length;
      continue;
    }
    escaped += buffer.toString('utf8', from, i) + String.fromCharCode(ESCAPE_BASE + buffer[i]);
    from = ++i;
  }
  return escaped + buffer.toString('utf8', from, end);
}

/** A JS string from ONNX Runtime back into the element's bytes (escaped bytes restored). */
export function fromRuntimeString(text: string): Buffer {
  const encoded = Buffer.from(text, 'utf8');
  if (!ESCAPED.test(text)) return encoded;
  // U+EF00-U+EFFF encode as EE BC-BF 80-BF, and EE is only ever a lead byte: each such triple
  // becomes its one byte, in place.
  let length = 0;
  for (let i = 0; i < encoded.length; i++) {
    const second = encoded[i + 1];
    if (encoded[i] === 0xee && second >= 0xbc && second <= 0xbf) {
      encoded[length++] = ((second & 0x03) << 6) | (encoded[i + 2] & 0x3f);
      i += 2;
    } else {
      encoded[length++] = encoded[i];
    }
  }
  return encoded.subarray(0, length);
}

/** A string tensor as the `string[]` ONNX Runtime's node binding takes. */
export function toRuntimeStrings(tensor: Tensor): string[] {
  const data = tensor.data as Uint8Array;
  const buffer = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const offsets = tensor.offsets!;
  const base = offsets[0];
  return Array.from({ length: offsets.length - 1 }, (_, i) =>
    runtimeString(buffer, offsets[i] - base, offsets[i + 1] - base),
  );
}

/** ONNX Runtime's `string[]` output as a string tensor. */
export function fromRuntimeStrings(
  name: string,
  shape: readonly number[],
  texts: readonly string[],
): Tensor {
  if (texts.some((text) => ESCAPED.test(text))) {
    return packStrings(name, shape, texts.map(fromRuntimeString));
  }
  // Nothing to unescape: each text encoded once, straight into the tensor's buffer.
  const offsets = owned(new Uint32Array(texts.length + 1));
  let total = 0;
  texts.forEach((text, i) => (offsets[i + 1] = total += Buffer.byteLength(text, 'utf8')));
  const data = owned(new Uint8Array(total));
  const buffer = Buffer.from(data.buffer);
  texts.forEach((text, i) => buffer.write(text, offsets[i], 'utf8'));
  return { name, dtype: STRING_DTYPE, shape: [...shape], data, offsets };
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * One element from JSON: a string is its UTF-8 bytes; `{"b64": "..."}` (TF Serving's form for
 * binary values) its decoded bytes. A string with a lone surrogate (JSON's "\ud800") has no
 * UTF-8 form: refused rather than turned into U+FFFD.
 */
export function jsonStringElement(value: unknown, where: () => string): Buffer | undefined {
  if (typeof value === 'string') {
    if (LONE_SURROGATE.test(value)) {
      throw ServingError.invalid(
        `${where()}: the string holds a lone UTF-16 surrogate, which has no UTF-8 form; send binary elements as {"b64": "<base64>"} or as binary data`,
      );
    }
    return Buffer.from(value, 'utf8');
  }
  if (isB64Value(value)) {
    const { b64 } = value;
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(b64) || b64.length % 4 !== 0) {
      throw ServingError.invalid(`${where()}: "b64" is not valid base64`);
    }
    return Buffer.from(b64, 'base64');
  }
  return undefined;
}

/** TF Serving's binary value in JSON: an object whose only key is `b64`, a string. */
export const isB64Value = (value: unknown): value is { b64: string } =>
  typeof value === 'object' &&
  value !== null &&
  !Array.isArray(value) &&
  Object.keys(value).length === 1 &&
  typeof (value as { b64?: unknown }).b64 === 'string';

/** Whether an element's bytes are UTF-8 text (a JSON string can then hold them exactly). */
export const isUtf8Text = (bytes: Uint8Array): boolean =>
  isUtf8(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
