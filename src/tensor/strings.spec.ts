import { ServingError } from '../errors/serving-error';
import {
  checkStringElement,
  fromRuntimeString,
  jsonStringElement,
  packStrings,
  stringElements,
  toRuntimeString,
} from './strings';

const bytes = (...values: number[]) => Uint8Array.from(values);
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

/** A deterministic byte soup: NUL, ASCII, valid multi-byte sequences and stray high bytes. */
function randomElements(count: number, seed = 7): Uint8Array[] {
  let state = seed;
  const next = () => (state = (state * 1103515245 + 12345) >>> 0) >>> 8;
  const pieces = [
    [0],
    [0x41],
    [0xc3, 0xa9],
    [0xf0, 0x9f, 0x98, 0x80],
    [0xff],
    [0x80],
    [0xc3],
    [0xed, 0xa0, 0x80],
    [0xe2, 0x82],
  ];
  return Array.from({ length: count }, () =>
    Uint8Array.from(
      Array.from({ length: next() % 12 }, () => pieces[next() % pieces.length]).flat(),
    ),
  );
}

describe('string tensors', () => {
  it('should pack elements into one byte buffer and offsets, and give them back', () => {
    const elements = [bytes(0x61, 0, 0x62), bytes(), bytes(0xff)];
    const tensor = packStrings('s', [3], elements);
    expect(Array.from(tensor.offsets)).toEqual([0, 3, 3, 4]);
    expect(stringElements(tensor).map(hex)).toEqual(['610062', '', 'ff']);
  });

  it('should pass valid UTF-8 without NUL to ONNX Runtime as the same text', () => {
    expect(toRuntimeString(Buffer.from('héllo 😀'))).toBe('héllo 😀');
  });

  it('should carry NUL and bytes that are not UTF-8 as U+EF00 + byte, and restore them', () => {
    const text = toRuntimeString(bytes(0x61, 0, 0xff, 0xc3, 0xa9, 0x80));
    expect(text).toBe('a\uEF00\uEFFFé\uEF80');
    expect(hex(fromRuntimeString(text))).toBe('6100ffc3a980');
  });

  it('should round-trip any bytes without an escape code point through the runtime strings', () => {
    for (const element of randomElements(1000)) {
      const text = toRuntimeString(element);
      expect(text.includes('\u0000')).toBe(false);
      expect(hex(fromRuntimeString(text))).toBe(hex(element));
    }
  });

  it('should refuse an element that already holds a code point of U+EF00-U+EFFF, naming it', () => {
    const at = () => 'inputs[0] element 3';
    expect(() => checkStringElement(Buffer.from('ok \uEF00'), at)).toThrow(
      /^inputs\[0\] element 3: holds U\+EF00, one of the private-use code points U\+EF00-U\+EFFF/,
    );
    expect(() => checkStringElement(Buffer.from('\uEFFF'), at)).toThrow(/holds U\+EFFF/);
    expect(() => checkStringElement(Buffer.from('\uEEFF \uF000 é'), at)).not.toThrow();
    expect(() => checkStringElement(bytes(0xee, 0xbc), at)).not.toThrow();
  });

  it('should read JSON strings as UTF-8, {"b64"} as bytes, and refuse lone surrogates', () => {
    const at = () => 'instances[0]';
    expect(hex(jsonStringElement('é\u0000', at)!)).toBe('c3a900');
    expect(hex(jsonStringElement({ b64: '/wBh' }, at)!)).toBe('ff0061');
    expect(jsonStringElement(3, at)).toBeUndefined();
    expect(() => jsonStringElement('a\ud800', at)).toThrow(ServingError);
    expect(() => jsonStringElement({ b64: 'not base64!' }, at)).toThrow(
      /"b64" is not valid base64/,
    );
  });
});
