import { BadRequestException, PayloadTooLargeException } from '@nestjs/common';
import { checkJsonLimits } from './json-limits';

const check = (json: string, maxDepth = 3, maxElements = 10) =>
  checkJsonLimits(Buffer.from(json), { maxDepth, maxElements });

describe(checkJsonLimits.name, () => {
  it('should accept a body within both limits', () => {
    expect(() => check('{"a":[[1,2],[3,4]]}')).not.toThrow();
  });

  it('should refuse nesting deeper than maxDepth with a 400', () => {
    expect(() => check('{"a":[[[1]]]}')).toThrow(BadRequestException);
    expect(() => check('[[[]]]')).not.toThrow();
  });

  it('should refuse more values than maxElements with a 413', () => {
    expect(() => check(`[${'1,'.repeat(10)}1]`)).toThrow(PayloadTooLargeException);
    expect(() => check(`[${'1,'.repeat(8)}1]`)).not.toThrow();
  });

  it('should refuse an object with more keys than maxKeys, counting each object on its own', () => {
    const keys = (n: number) => Array.from({ length: n }, (_, i) => `"k${i}":${i}`).join(',');
    const limited = (json: string) =>
      checkJsonLimits(Buffer.from(json), { maxDepth: 4, maxElements: 1000, maxKeys: 3 });
    expect(() => limited(`{${keys(3)}}`)).not.toThrow();
    expect(() => limited(`{${keys(4)}}`)).toThrow(/more than 3 keys \(JSON_MAX_KEYS\)/);
    // Array elements and keys of sibling or nested objects are not keys of this one.
    expect(() => limited(`{"a":[1,2,3,4,5],"b":{${keys(3)}},"c":{${keys(3)}}}`)).not.toThrow();
    expect(() => limited(`[{${keys(3)}},{${keys(3)}}]`)).not.toThrow();
    expect(() => limited(`{"a":{${keys(2)}},${keys(3)}}`)).toThrow(BadRequestException);
    expect(() => limited(`{"a":"x,y,z,w",${keys(2)}}`)).not.toThrow();
  });

  it('should ignore brackets and commas inside strings, escaped quotes included', () => {
    expect(() => check(`{"a":"[[[[,,,,,,,,,,,,\\"[[[[","b":1}`)).not.toThrow();
    expect(() => check(`{"a":"\\\\","b":[[[[1]]]]}`)).toThrow(BadRequestException);
  });
});
