import { BadRequestException, HttpException, PayloadTooLargeException } from '@nestjs/common';
import type { Worker } from 'node:worker_threads';
import { packedOf } from '../../tensor/packed-array';
import { parseJsonBody } from './json-parse';
import { JsonLimits } from './json-limits';
import { JsonParsePool } from './json-parse-pool';

const limits: JsonLimits = { maxDepth: 8, maxElements: 5_000_000 };
const image = (size: number) =>
  Array.from({ length: size }, (_, y) =>
    Array.from({ length: size }, (_, x) => [(x * y) / 7, x - y, 0.5]),
  );
const bytes = (value: unknown) => Buffer.from(JSON.stringify(value));

/** What the main thread's own parse gives or throws. */
function parsedHere(body: Buffer, at: JsonLimits = limits) {
  try {
    return { value: parseJsonBody(body, at) };
  } catch (error) {
    return { error: error as HttpException };
  }
}

describe(JsonParsePool.name, () => {
  let pool: JsonParsePool;
  beforeAll(() => (pool = new JsonParsePool(1)));
  afterAll(() => pool.close());

  it('should parse here, never waiting, while its thread is still starting', async () => {
    const starting = new JsonParsePool(1);
    try {
      const value = await starting.parse(bytes({ instances: [image(16)] }), limits);
      expect(packedOf(value.instances)).toMatchObject({ shape: [1, 16, 16, 3] });
      expect(value).toEqual({ instances: [image(16)] });
      expect(starting.parsedOffThread).toBe(0);
      await starting.whenStarted();
      await starting.parse(bytes({ instances: [image(16)] }), limits);
      expect(starting.parsedOffThread).toBe(1);
    } finally {
      await starting.close();
    }
  });

  it('should parse on its thread, not this one, and hand back numeric arrays packed', async () => {
    const body = bytes({ model: 'cnn', instances: [image(64)], note: 'x' });
    await pool.whenStarted();
    const parse = jest.spyOn(JSON, 'parse');
    let value: Record<string, unknown>;
    try {
      value = await pool.parse(body, limits);
      expect(parse).not.toHaveBeenCalled();
    } finally {
      parse.mockRestore();
    }
    expect(packedOf(value.instances)).toMatchObject({ shape: [1, 64, 64, 3] });
    expect(JSON.stringify(value)).toBe(body.toString());
  });

  it('should leave this thread free to run other callbacks while a large body is parsed', async () => {
    const body = bytes({ instances: [image(600)] });
    await pool.whenStarted();
    const events: string[] = [];
    let done = false;
    const turn = () =>
      setImmediate(() => {
        if (done) return;
        events.push('turn');
        turn();
      });
    turn();
    await pool.parse(body, limits).then(() => {
      done = true;
      events.push('parsed');
    });
    // A parse on this thread would hold the loop until it ends: no turn could come first.
    expect(events[0]).toBe('turn');
    expect(events.at(-1)).toBe('parsed');
  });

  it.each([
    ['malformed JSON', Buffer.from('{"instances": [1, 2,'), limits],
    ['a body nested too deep', Buffer.from('{"a": [[[[[[[[[1]]]]]]]]]}'), limits],
    [
      'too many values',
      bytes({ a: Array.from({ length: 50 }, () => 1) }),
      { maxDepth: 8, maxElements: 10 },
    ],
    [
      'too many values besides the tensors',
      bytes({ rows: Array.from({ length: 50 }, (_, i) => ({ x: i })), image: image(32) }),
      { ...limits, maxValues: 100 },
    ],
    ['a __proto__ key', Buffer.from(`{"__proto__": {"polluted": 1}}`), limits],
    ['an array body', Buffer.from('[1, 2, 3]'), limits],
    ['a NaN literal', Buffer.from('{"a": [NaN]}'), limits],
  ])('should refuse %s with the same status and message as a parse here', async (_, body, at) => {
    await pool.whenStarted();
    const here = parsedHere(body, at);
    const there = (await pool.parse(body, at).catch((error: unknown) => error)) as HttpException;
    expect(here.error).toBeInstanceOf(HttpException);
    expect(there.constructor).toBe(here.error!.constructor);
    expect([there.getStatus(), there.message]).toEqual([
      here.error!.getStatus(),
      here.error!.message,
    ]);
    expect([BadRequestException, PayloadTooLargeException]).toContain(there.constructor);
  });

  it('should parse here the bodies a dead thread held, and start a new thread for the next', async () => {
    await pool.whenStarted();
    const threads = (pool as unknown as { threads: { worker: Worker }[] }).threads;
    const body = bytes({ instances: [image(300)] });
    const held = pool.parse(body, limits);
    await threads[0].worker.terminate();
    const before = pool.parsedOffThread;
    const value = await held;
    expect(pool.parsedOffThread).toBe(before); // parsed here
    expect(JSON.stringify(value)).toBe(body.toString());
    await pool.whenStarted();
    await expect(pool.parse(bytes({ a: [1, 2] }), limits)).resolves.toEqual({ a: [1, 2] });
    expect(pool.parsedOffThread).toBe(before + 1);
  });
});
