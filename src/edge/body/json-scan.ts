import { PackedBlock, unpackBlock } from '../../tensor/packed-array';
import type { JsonLimits } from './json-limits';

/** What scanPackedJson gives: the value with null where each block sat, and the blocks. */
export interface ScannedTree {
  value: Record<string, unknown>;
  blocks: { path: (string | number)[]; block: PackedBlock }[];
}

/**
 * Values (containers and leaves) the scan builds outside the blocks before it leaves the body
 * to the general path: a request is a few fields around its tensors, so a body with more is
 * not what this scan is for, and the general path's own rules decide about it.
 */
export const SCAN_MAX_VALUES = 4096;

const TAB = 0x09;
const LF = 0x0a;
const CR = 0x0d;
const SPACE = 0x20;
const QUOTE = 0x22;
const PLUS = 0x2b;
const COMMA = 0x2c;
const MINUS = 0x2d;
const DOT = 0x2e;
const ZERO = 0x30;
const NINE = 0x39;
const COLON = 0x3a;
const OPEN_ARRAY = 0x5b;
const BACKSLASH = 0x5c;
const CLOSE_ARRAY = 0x5d;
const LOWER_E = 0x65;
const UPPER_E = 0x45;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;

/** Thrown inside the scan for anything it leaves to the general path; never escapes it. */
const GIVE_UP = new Error('left to JSON.parse');

/** Strings longer than this are read natively (longString): field names and labels are shorter. */
const LONG_STRING = 64;

/** Exact powers of ten: a double holds 10^0 to 10^22 exactly. */
const POW10 = Float64Array.from({ length: 23 }, (_, i) => 10 ** i);

/** A rectangular array of numbers not yet taken out: its data is scratch[start, start + size). */
class Run {
  constructor(
    readonly shape: number[],
    readonly start: number,
  ) {}
}

const isDigit = (c: number) => c >= ZERO && c <= NINE;

/**
 * One pass over the bytes of a JSON body that does what checkJsonLimits, JSON.parse and
 * packNumericArrays do together for the bodies that matter (a few fields around arrays of
 * numbers), without building the arrays: the numbers go straight into the blocks'
 * Float64Arrays. The general path costs its thread a byte scan, a string of the whole body, a
 * JS array per row and a walk over them all, most of it garbage a moment later (together ~2 ms
 * for a 64x64x3 image, ~1.5 MB of garbage); this costs a fraction of it and allocates the blocks.
 *
 * Gives the same value (numbers are JSON.parse's: digits that fit a double exactly are divided
 * by an exact power of ten, one rounding, as V8 does; any other number is read by Number()) and
 * the same blocks as packNumericArrays(JSON.parse(body), min). Returns undefined, leaving the
 * body to the general path and its messages, for anything else: malformed JSON, a body over a
 * limit (counted as checkJsonLimits counts), a top-level value that is not an object, a byte
 * order mark, a `__proto__` or duplicated key, or more than `maxValues` values outside blocks.
 */
export function scanPackedJson(
  bytes: Buffer,
  limits: JsonLimits | undefined,
  min: number,
  maxValues = SCAN_MAX_VALUES,
): ScannedTree | undefined {
  const scan = new Scan(bytes, limits, min, Math.min(maxValues, SCAN_MAX_VALUES));
  try {
    return scan.body();
  } catch (error) {
    if (error === GIVE_UP) return undefined;
    throw error;
  }
}

/** Largest scratch kept between scans (8 MB): bodies up to ~2 MB reuse it. */
const KEPT_SCRATCH = 1 << 20;
let kept: Float64Array | undefined;

/**
 * Room for every number of a body (each takes at least two bytes: a digit and a separator). The
 * blocks are copied out of it, so one scratch serves every scan on a thread (scans never
 * overlap: they are synchronous) instead of an allocation per body as large as half of it.
 */
function scratchFor(bytes: number): Float64Array {
  const size = Math.ceil(bytes / 2) + 1;
  if (size > KEPT_SCRATCH) return new Float64Array(size);
  if (!kept || kept.length < size) kept = new Float64Array(Math.min(KEPT_SCRATCH, size * 2));
  return kept;
}

class Scan {
  private i = 0;
  private scratch: Float64Array;
  private top = 0;
  private depth = 0;
  private elements = 0;
  private values = 0;
  private readonly path: (string | number)[] = [];
  private readonly blocks: ScannedTree['blocks'] = [];
  private readonly maxDepth: number;
  private readonly maxElements: number;
  private readonly maxKeys: number;

  constructor(
    private readonly b: Buffer,
    limits: JsonLimits | undefined,
    private readonly min: number,
    private readonly maxValues: number,
  ) {
    this.maxDepth = limits?.maxDepth ?? Infinity;
    this.maxElements = limits?.maxElements ?? Infinity;
    this.maxKeys = limits?.maxKeys ?? Infinity;
    this.scratch = scratchFor(b.length);
  }

  body(): ScannedTree {
    this.space();
    if (this.b[this.i] !== OPEN_OBJECT) throw GIVE_UP;
    const value = this.object();
    this.space();
    if (this.i !== this.b.length) throw GIVE_UP;
    return { value, blocks: this.blocks };
  }

  private space(): void {
    const b = this.b;
    let i = this.i;
    for (let c = b[i]; c === SPACE || c === LF || c === CR || c === TAB; c = b[++i]);
    this.i = i;
  }

  private count(): void {
    if (++this.values > this.maxValues) throw GIVE_UP;
  }

  /** A container opens: checkJsonLimits counts it as an element and a level. */
  private open(): void {
    if (++this.depth > this.maxDepth || ++this.elements > this.maxElements) throw GIVE_UP;
    this.i++;
  }

  /** A separator: one more element, and one more key in an object. */
  private separator(keys: number): void {
    if (++this.elements > this.maxElements || keys >= this.maxKeys) throw GIVE_UP;
    this.i++;
  }

  private value(): unknown {
    const c = this.b[this.i];
    if (c === OPEN_ARRAY) {
      const array = this.array();
      return array instanceof Run ? this.takeOut(array, this.path.length) : array;
    }
    if (c === OPEN_OBJECT) return this.object();
    this.count();
    if (c === QUOTE) return this.string();
    if (c === MINUS || isDigit(c)) return this.number();
    return this.literal();
  }

  private object(): Record<string, unknown> {
    this.count();
    this.open();
    const record: Record<string, unknown> = {};
    this.space();
    if (this.b[this.i] === CLOSE_OBJECT) return this.close(record);
    for (let keys = 0; ;) {
      if (this.b[this.i] !== QUOTE) throw GIVE_UP;
      const key = this.string();
      if (key === '__proto__' || Object.prototype.hasOwnProperty.call(record, key)) throw GIVE_UP;
      this.space();
      if (this.b[this.i] !== COLON) throw GIVE_UP;
      this.i++;
      this.space();
      this.path.push(key);
      record[key] = this.value();
      this.path.pop();
      this.space();
      const c = this.b[this.i];
      if (c === CLOSE_OBJECT) return this.close(record);
      if (c !== COMMA) throw GIVE_UP;
      this.separator(++keys);
      this.space();
    }
  }

  /** The closing bracket of the container being read. */
  private close<T>(container: T): T {
    this.i++;
    this.depth--;
    return container;
  }

  /**
   * An array: a Run while it is rectangular and all numbers (its numbers appended to scratch),
   * else an ordinary array whose rectangular parts were taken out as blocks or rebuilt.
   */
  private array(): Run | unknown[] {
    this.open();
    this.space();
    const c = this.b[this.i];
    if (c === CLOSE_ARRAY) {
      this.count();
      return this.close([]);
    }
    if (c === MINUS || isDigit(c)) return this.numbers(this.top);
    if (c === OPEN_ARRAY) return this.rows(this.top);
    return this.mixed(this.top, []);
  }

  /**
   * `[n, n, ...]`: a Run of one dimension, unless something else than a number follows. Most of
   * a body's bytes are read here: the loop keeps its state in locals and inlines the common
   * number (digits that fit a double, a small power of ten).
   */
  private numbers(start: number): Run | unknown[] {
    const { b, scratch, maxElements } = this;
    let i = this.i;
    let top = this.top;
    let elements = this.elements;
    for (;;) {
      const from = i;
      let c = b[i];
      const negative = c === MINUS;
      if (negative) c = b[++i];
      let digits = 0;
      let scale = 0;
      if (c === ZERO) {
        c = b[++i];
      } else if (c >= ZERO && c <= NINE) {
        do {
          digits = digits * 10 + (c - ZERO);
          c = b[++i];
        } while (c >= ZERO && c <= NINE);
      } else {
        throw GIVE_UP;
      }
      if (c === DOT) {
        c = b[++i];
        if (!(c >= ZERO && c <= NINE)) throw GIVE_UP;
        do {
          digits = digits * 10 + (c - ZERO);
          scale--;
          c = b[++i];
        } while (c >= ZERO && c <= NINE);
      }
      let value: number;
      if (c !== LOWER_E && c !== UPPER_E && digits <= Number.MAX_SAFE_INTEGER && scale >= -22) {
        // One correctly rounded division of exact operands: the nearest double, as strtod gives.
        value = scale < 0 ? digits / POW10[-scale] : digits;
        if (negative) value = -value;
      } else {
        this.i = from;
        value = this.number();
        i = this.i;
        c = b[i];
      }
      if (top === scratch.length) throw GIVE_UP;
      scratch[top++] = value;
      while (c === SPACE || c === LF || c === CR || c === TAB) c = b[++i];
      if (c === CLOSE_ARRAY) {
        this.i = i;
        this.top = top;
        this.elements = elements;
        return this.close(new Run([top - start], start));
      }
      if (c !== COMMA || ++elements > maxElements) throw GIVE_UP;
      c = b[++i];
      while (c === SPACE || c === LF || c === CR || c === TAB) c = b[++i];
      if (c !== MINUS && !(c >= ZERO && c <= NINE)) {
        this.i = i;
        this.elements = elements;
        const read = Array.from(scratch.subarray(start, top));
        this.top = start;
        read.forEach(() => this.count());
        return this.mixed(start, read);
      }
    }
  }

  /** `[[...], [...], ...]`: a Run while every row is a Run of the first one's shape. */
  private rows(start: number): Run | unknown[] {
    const b = this.b;
    const rows: (Run | unknown[])[] = [];
    for (;;) {
      this.path.push(rows.length);
      const row = this.array();
      this.path.pop();
      rows.push(row);
      const first = rows[0];
      const same =
        row instanceof Run &&
        first instanceof Run &&
        row.shape.length === first.shape.length &&
        row.shape.every((n, d) => n === first.shape[d]);
      this.space();
      const c = b[this.i];
      if (c === CLOSE_ARRAY) {
        if (same) return this.close(new Run([rows.length, ...(first as Run).shape], start));
        this.count();
        return this.close(this.settle(rows, start));
      }
      if (c !== COMMA) throw GIVE_UP;
      this.separator(0);
      this.space();
      if (!same || b[this.i] !== OPEN_ARRAY) return this.mixed(start, this.settle(rows, start));
    }
  }

  /** Rows of an array that is not one Run: each Run taken out (or rebuilt) where it sits. */
  private settle(rows: (Run | unknown[])[], start: number): unknown[] {
    const depth = this.path.length;
    const settled = rows.map((row, index) => {
      if (!(row instanceof Run)) return row;
      this.path.push(index);
      const value = this.takeOut(row, depth + 1);
      this.path.pop();
      return value;
    });
    this.top = start;
    return settled;
  }

  /** The rest of an array that is not one Run, from the element at hand: values of any kind. */
  private mixed(start: number, array: unknown[]): unknown[] {
    const b = this.b;
    this.count();
    for (;;) {
      this.path.push(array.length);
      array.push(this.value());
      this.path.pop();
      this.top = start;
      this.space();
      const c = b[this.i];
      if (c === CLOSE_ARRAY) return this.close(array);
      if (c !== COMMA) throw GIVE_UP;
      this.separator(0);
      this.space();
    }
  }

  /** A Run where it sits (path[0, depth)): a block when large enough, else ordinary arrays. */
  private takeOut(run: Run, depth: number): unknown {
    const size = run.shape.reduce((a, n) => a * n, 1);
    const data = this.scratch.subarray(run.start, run.start + size);
    this.top = run.start;
    if (size >= this.min) {
      this.count();
      this.blocks.push({
        path: this.path.slice(0, depth),
        block: { shape: run.shape, data: data.slice() },
      });
      return null;
    }
    // Its arrays and numbers, as packNumericArrays counts them: 1 + a + ab + abc for [a, b, c].
    let nodes = 1;
    run.shape.reduce((product, n) => ((nodes += product * n), product * n), 1);
    if ((this.values += nodes) > this.maxValues) throw GIVE_UP;
    return unpackBlock({ shape: run.shape, data });
  }

  private push(value: number): void {
    if (this.top === this.scratch.length) throw GIVE_UP;
    this.scratch[this.top++] = value;
  }

  /** A JSON number: digits and a power of ten when both are exact, else Number() of its text. */
  private number(): number {
    const b = this.b;
    const from = this.i;
    let i = from;
    const negative = b[i] === MINUS;
    if (negative) i++;
    let c = b[i];
    let digits = 0;
    let scale = 0;
    if (c === ZERO) {
      c = b[++i];
    } else if (isDigit(c)) {
      do {
        digits = digits * 10 + (c - ZERO);
        c = b[++i];
      } while (isDigit(c));
    } else {
      throw GIVE_UP;
    }
    if (c === DOT) {
      c = b[++i];
      if (!isDigit(c)) throw GIVE_UP;
      do {
        digits = digits * 10 + (c - ZERO);
        scale--;
        c = b[++i];
      } while (isDigit(c));
    }
    if (c === LOWER_E || c === UPPER_E) {
      c = b[++i];
      const down = c === MINUS;
      if (down || c === PLUS) c = b[++i];
      if (!isDigit(c)) throw GIVE_UP;
      let exponent = 0;
      do {
        if (exponent < 1e6) exponent = exponent * 10 + (c - ZERO);
        c = b[++i];
      } while (isDigit(c));
      scale += down ? -exponent : exponent;
    }
    // Whatever follows ("01", "1.5.", "1x") is the caller's to refuse: only , ] } or space may.
    this.i = i;
    if (digits <= Number.MAX_SAFE_INTEGER && scale >= -22 && scale <= 22) {
      // One correctly rounded operation on exact operands: the nearest double, as strtod gives.
      const value = scale < 0 ? digits / POW10[-scale] : digits * POW10[scale];
      return negative ? -value : value;
    }
    return Number(this.b.toString('latin1', from, i));
  }

  /** A string: plain ASCII read as it is, anything with escapes or other bytes by JSON.parse. */
  private string(): string {
    const b = this.b;
    const from = this.i + 1;
    let i = from;
    let plain = true;
    for (let c = b[i]; c !== QUOTE; c = b[++i]) {
      if (c === undefined) throw GIVE_UP;
      if (i - from === LONG_STRING) return this.longString(from);
      if (c === BACKSLASH) {
        plain = false;
        i++;
      } else if (c < SPACE || c >= 0x7f) {
        plain = false;
      }
    }
    this.i = i + 1;
    if (plain) return b.toString('latin1', from, i);
    return this.parseString(from, i);
  }

  /**
   * A long string (an image's base64, say): its end found by indexOf, its text by JSON.parse,
   * both native, rather than a loop over its bytes here.
   */
  private longString(from: number): string {
    const b = this.b;
    let end = b.indexOf(QUOTE, from);
    for (;;) {
      if (end < 0) throw GIVE_UP;
      let backslashes = 0;
      while (b[end - 1 - backslashes] === BACKSLASH) backslashes++;
      if (backslashes % 2 === 0) break;
      end = b.indexOf(QUOTE, end + 1);
    }
    this.i = end + 1;
    return this.parseString(from, end);
  }

  /** JSON.parse's reading of the string between the quotes at from - 1 and to. */
  private parseString(from: number, to: number): string {
    try {
      return JSON.parse(this.b.toString('utf8', from - 1, to + 1)) as string;
    } catch {
      throw GIVE_UP;
    }
  }

  private literal(): boolean | null {
    for (const [word, value] of LITERALS) {
      if (this.b.toString('latin1', this.i, this.i + word.length) === word) {
        this.i += word.length;
        return value;
      }
    }
    throw GIVE_UP;
  }
}

const LITERALS: [string, boolean | null][] = [
  ['true', true],
  ['false', false],
  ['null', null],
];
