import { ServingError } from '../../errors/serving-error';
import { THREAD_STATES, ThreadLifecycle, ThreadState } from './thread-state';

/** A lifecycle walked through `path` from starting. */
function walked(path: ThreadState[]): ThreadLifecycle {
  const lifecycle = new ThreadLifecycle('inference thread 3');
  path.forEach((state) => lifecycle.to(state));
  return lifecycle;
}

const LEGAL: [ThreadState, ThreadState][] = [
  ['starting', 'loading'],
  ['starting', 'closing'],
  ['starting', 'exited'],
  ['loading', 'idle'],
  ['loading', 'closing'],
  ['loading', 'exited'],
  ['idle', 'busy'],
  ['idle', 'closing'],
  ['idle', 'exited'],
  ['busy', 'idle'],
  ['busy', 'closing'],
  ['busy', 'exited'],
  ['closing', 'exited'],
];

/** The shortest way from starting to each state. */
const PATH_TO: Record<ThreadState, ThreadState[]> = {
  starting: [],
  loading: ['loading'],
  idle: ['loading', 'idle'],
  busy: ['loading', 'idle', 'busy'],
  closing: ['closing'],
  exited: ['exited'],
};

describe(ThreadLifecycle.name, () => {
  it('should start in starting, neither serving nor served', () => {
    const lifecycle = walked([]);
    expect(lifecycle.state).toBe('starting');
    expect(lifecycle.serving).toBe(false);
    expect(lifecycle.served).toBe(false);
    expect(lifecycle.alive).toBe(true);
  });

  const pairs = THREAD_STATES.flatMap((from) => THREAD_STATES.map((to) => [from, to] as const));
  it.each(pairs)('should move from %s to %s only when the table allows it', (from, to) => {
    const lifecycle = walked(PATH_TO[from]);
    const legal = LEGAL.some(([a, b]) => a === from && b === to);
    if (legal) {
      lifecycle.to(to);
      expect(lifecycle.state).toBe(to);
    } else {
      expect(() => lifecycle.to(to)).toThrow(
        new ServingError(
          'INTERNAL',
          `inference thread 3: illegal state change ${from} -> ${to} (a bug in the inference pool)`,
        ),
      );
      expect(lifecycle.state).toBe(from);
    }
  });

  it('should serve only when idle or busy, and take work only until it closes', () => {
    const serving = THREAD_STATES.filter((state) => walked(PATH_TO[state]).serving);
    expect(serving).toEqual(['idle', 'busy']);
    const alive = THREAD_STATES.filter((state) => walked(PATH_TO[state]).alive);
    expect(alive).toEqual(['starting', 'loading', 'idle', 'busy']);
  });

  it('should remember that it served once it reached idle, through closing and exit', () => {
    const failedBoot = walked(['loading', 'closing', 'exited']);
    expect(failedBoot.served).toBe(false);
    const died = walked(['loading', 'idle', 'busy', 'exited']);
    expect(died.served).toBe(true);
  });
});
