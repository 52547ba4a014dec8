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

  it('should ignore brackets and commas inside strings, escaped quotes included', () => {
    expect(() => check(`{"a":"[[[[,,,,,,,,,,,,\\"[[[[","b":1}`)).not.toThrow();
    expect(() => check(`{"a":"\\\\","b":[[[[1]]]]}`)).toThrow(BadRequestException);
  });
});
