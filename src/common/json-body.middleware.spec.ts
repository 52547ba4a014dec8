import { BadRequestException, PayloadTooLargeException } from '@nestjs/common';
import { parseJsonObject } from './json-body.middleware';

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
