import { DecodeSlots } from './decode-slots';
import { InferenceError } from '../errors/inference-error';

/** A task that runs until its resolve() is called, recording when it started. */
function gate(log: string[], name: string) {
  let open!: () => void;
  const done = new Promise<void>((resolve) => (open = resolve));
  return {
    task: () => {
      log.push(name);
      return done.then(() => name);
    },
    open: () => open(),
  };
}

const flush = () => new Promise((resolve) => setImmediate(resolve));

describe(DecodeSlots.name, () => {
  it('should run at most `size` tasks at once and start the next when one ends', async () => {
    const slots = new DecodeSlots(2);
    const log: string[] = [];
    const owner = {};
    const gates = ['a', 'b', 'c'].map((name) => gate(log, name));
    const runs = gates.map((g) => slots.run(owner, undefined, g.task));
    await flush();
    expect(log).toEqual(['a', 'b']);
    expect(slots.queued).toBe(1);
    gates[0].open();
    await flush();
    expect(log).toEqual(['a', 'b', 'c']);
    gates.slice(1).forEach((g) => g.open());
    await expect(Promise.all(runs)).resolves.toEqual(['a', 'b', 'c']);
  });

  it("should take owners in turn: another request's one task runs before the rest of a long batch", async () => {
    const slots = new DecodeSlots(1);
    const log: string[] = [];
    const batch = {};
    const single = {};
    const batchGates = ['b1', 'b2', 'b3', 'b4'].map((name) => gate(log, name));
    batchGates.forEach((g) => void slots.run(batch, undefined, g.task));
    const one = gate(log, 's1');
    void slots.run(single, undefined, one.task);
    await flush();
    batchGates[0].open();
    await flush();
    expect(log).toEqual(['b1', 's1']);
    one.open();
    await flush();
    expect(log).toEqual(['b1', 's1', 'b2']);
    batchGates.slice(1).forEach((g) => g.open());
  });

  it('should drop the waiting tasks of an aborted signal without running them, with its reason', async () => {
    const slots = new DecodeSlots(1);
    const log: string[] = [];
    const first = gate(log, 'first');
    const abort = new AbortController();
    const running = slots.run({}, abort.signal, first.task);
    const waiting = slots.run({}, abort.signal, gate(log, 'second').task);
    await flush();
    const deadline = new InferenceError('DEADLINE_EXCEEDED', 'too late');
    abort.abort(deadline);
    await expect(waiting).rejects.toBe(deadline);
    expect(slots.queued).toBe(0);
    first.open();
    await expect(running).resolves.toBe('first');
    expect(log).toEqual(['first']);
    // The slot came back: a later task runs.
    await expect(slots.run({}, undefined, async () => 'later')).resolves.toBe('later');
  });

  it('should say the client left when the signal aborts without one of our errors', async () => {
    const slots = new DecodeSlots(1);
    const abort = new AbortController();
    abort.abort();
    await expect(slots.run({}, abort.signal, async () => 'never')).rejects.toMatchObject({
      code: 'CANCELLED',
    });
  });
});
