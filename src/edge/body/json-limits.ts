import { BadRequestException, PayloadTooLargeException } from '@nestjs/common';

export interface JsonLimits {
  /** Deepest nesting of arrays/objects. */
  maxDepth: number;
  /** Most values in the document (see countOf below). */
  maxElements: number;
  /** Most keys in any one object (JSON_MAX_KEYS); unbounded when absent. */
  maxKeys?: number;
  /**
   * Most values left once the numeric tensors are taken out of the parsed body (JSON_MAX_VALUES,
   * see packNumericArrays); unbounded when absent.
   */
  maxValues?: number;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const OPEN_ARRAY = 0x5b;
const OPEN_OBJECT = 0x7b;
const CLOSE_ARRAY = 0x5d;
const CLOSE_OBJECT = 0x7d;

/**
 * Checks the raw bytes of a JSON body against depth and element limits BEFORE JSON.parse runs:
 * one pass, no allocation, stops at the first byte over a limit. JSON.parse itself copes with a
 * 10,000-deep array, but everything after it (validation, the tensor codec) walks the value
 * recursively, and a 10-million-number array costs ~80 bytes a number once parsed; refusing
 * early keeps both time and memory bounded by the body size.
 *
 * Elements are counted as containers plus separators (`[1,2,3]` counts 3): within one of the
 * true number of values, and free to compute. Keys are counted per object the same way (its
 * separators): every request field the server reads is a key of a small object, and an object
 * of 400,000 keys costs seconds once the validation layer looks at them. Malformed JSON is left
 * to the parser.
 */
export function checkJsonLimits(body: Uint8Array, limits: JsonLimits): void {
  let depth = 0;
  let elements = 0;
  let inString = false;
  const maxKeys = limits.maxKeys ?? Infinity;
  // Per open container: whether it is an object, and the separators seen in it so far.
  const isObject = new Uint8Array(limits.maxDepth + 1);
  const separators = new Uint32Array(limits.maxDepth + 1);
  for (let i = 0; i < body.length; i++) {
    const byte = body[i];
    if (inString) {
      if (byte === BACKSLASH) i++;
      else if (byte === QUOTE) inString = false;
      continue;
    }
    switch (byte) {
      case QUOTE:
        inString = true;
        break;
      case OPEN_ARRAY:
      case OPEN_OBJECT:
        if (++depth > limits.maxDepth) {
          throw new BadRequestException(
            `JSON body is nested deeper than ${limits.maxDepth} levels (JSON_MAX_DEPTH); expected arrays/objects at most ${limits.maxDepth} deep`,
          );
        }
        isObject[depth] = byte === OPEN_OBJECT ? 1 : 0;
        separators[depth] = 0;
        elements++;
        break;
      case CLOSE_ARRAY:
      case CLOSE_OBJECT:
        depth--;
        break;
      case COMMA:
        elements++;
        if (isObject[depth] === 1 && ++separators[depth] >= maxKeys) {
          throw new BadRequestException(
            `JSON body has an object with more than ${maxKeys} keys (JSON_MAX_KEYS), at byte ${i}; expected objects of at most ${maxKeys} keys (a request names a few fields and the model's inputs)`,
          );
        }
        break;
      default:
        continue;
    }
    if (elements > limits.maxElements) {
      throw new PayloadTooLargeException(
        `JSON body has more than ${limits.maxElements} values (JSON_MAX_ELEMENTS); send fewer instances per request`,
      );
    }
  }
}
