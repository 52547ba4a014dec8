import { BadRequestException, PayloadTooLargeException } from '@nestjs/common';
import { packedOf } from '../../tensor/packed-array';
import { parseJsonBody, parseJsonObject } from './json-parse';

const parse = (text: string, what?: string) =>
  parseJsonObject(Buffer.from(text), { maxDepth: 4, maxElements: 20 }, what);

describe(parseJsonObject.name, () => {
  it('should parse an object, a leading BOM aside', () => {
    expect(parse('\uFEFF{"a": [1, 2]}')).toEqual({ a: [1, 2] });
  });

  it('should check the limits on the raw bytes before parsing', () => {
    expect(() => parse('{"a": [[[[1]]]]}')).toThrow(BadRequestException);
    expect(() => parse(`{"a": [${'1,'.repeat(30)}1]}`)).toThrow(PayloadTooLargeException);
  });

  it('should say where a body ends too early, and name the part (body or header)', () => {
    expect(() => parse('{"a": [1', 'header')).toThrow(
      /^Malformed JSON header: .*\(the header ends at byte 8 before the JSON is complete\)\. Expected a JSON object$/,
    );
  });

  it('should hint at NaN and Infinity only when the body holds one outside a string', () => {
    expect(() => parse('{"a": [NaN]}')).toThrow(/NaN and Infinity are not valid JSON numbers/);
    expect(() => parse('{"a": -Infinity}')).toThrow(/NaN and Infinity are not valid JSON numbers/);
    expect(() => parse('{"a": 1 2}')).not.toThrow(/NaN/);
  });

  it.each([
    ['null', 'null'],
    ['[]', 'an array'],
    ['3', 'a number'],
    ['"s"', 'a string'],
  ])('should refuse %s as not an object', (text, what) => {
    expect(() => parse(text)).toThrow(`The request body must be a JSON object, got ${what}`);
  });
});

describe(parseJsonBody.name, () => {
  const limits = { maxDepth: 8, maxElements: 10_000, maxValues: 100 };
  const body = (value: unknown) => Buffer.from(JSON.stringify(value));

  it('should give the tensors as packed arrays and count only what is left against maxValues', () => {
    const parsed = parseJsonBody(body({ instances: [Array(5000).fill(0.5)] }), limits);
    expect(packedOf(parsed.instances)).toBeDefined();
    expect(parsed).toEqual({ instances: [Array(5000).fill(0.5)] });
  });

  it('should refuse with 413 naming JSON_MAX_VALUES when more values than that are left', () => {
    const keys = Object.fromEntries(Array.from({ length: 60 }, (_, i) => [`k${i}`, [i]]));
    const parse = () => parseJsonBody(body({ instances: [keys] }), limits, 'header');
    expect(parse).toThrow(PayloadTooLargeException);
    expect(parse).toThrow(
      'The JSON header holds more than 100 values besides its numeric arrays (JSON_MAX_VALUES); send tensors as arrays of numbers, fewer entries, or V2 binary data',
    );
  });

  it('should refuse a __proto__ key with 400 (a copy to another thread could not keep it)', () => {
    const parse = () => parseJsonBody(Buffer.from('{"__proto__": {"x": 1}}'), limits);
    expect(parse).toThrow(BadRequestException);
    expect(parse).toThrow('The JSON body has a "__proto__" key; no request field has that name');
  });
});
