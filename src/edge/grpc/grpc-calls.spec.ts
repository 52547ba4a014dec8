import { EventEmitter } from 'node:events';
import { Metadata, type ServerUnaryCall } from '@grpc/grpc-js';
import { loadConfig } from '../../config/app-config';
import { LifecycleService } from '../../core/lifecycle/lifecycle.service';
import type { MetricsService } from '../../observability/metrics.service';
import { currentRequestSignal } from '../../core/request-scope';
import { GrpcCalls } from './grpc-calls';

/**
 * How a call that ends before its answer is counted. grpc-js cannot tell a client's cancel from
 * the reset a client sends when its own deadline passes; the clock is faked, so each case is
 * exact whatever the machine's load.
 */
describe(GrpcCalls.name, () => {
  const NOW = Date.UTC(2026, 0, 1);
  let observed: string[];
  let calls: GrpcCalls;

  beforeEach(() => {
    jest.useFakeTimers({ now: NOW });
    observed = [];
    const metrics = {
      observeGrpcCall: (_method: string, code: string) => observed.push(code),
    } as unknown as MetricsService;
    const config = loadConfig({ REQUEST_TIMEOUT_MS: '0', LOG_LEVEL: 'silent' });
    calls = new GrpcCalls(config, new LifecycleService(), metrics);
  });
  afterEach(() => jest.useRealTimers());

  /** Starts a call with `deadline` whose inference waits until its abort; returns its reset. */
  function startCall(deadline: number) {
    const call = Object.assign(new EventEmitter(), {
      request: {},
      metadata: new Metadata(),
      getPath: () => '/inference.GRPCInferenceService/ModelInfer',
      getDeadline: () => deadline,
    }) as unknown as ServerUnaryCall<object, object>;
    const answers: (string | number)[] = [];
    const handler = calls.unary<object, object>(
      () =>
        new Promise((_resolve, reject) => {
          const signal = currentRequestSignal()!;
          signal.addEventListener('abort', () => reject(signal.reason));
        }),
    );
    handler(call, (error) => answers.push(error?.code ?? 'OK'));
    return { reset: () => call.emit('cancelled'), answers };
  }

  /** Starts a call with `deadline`, resets it `afterMs` later, and returns what it answered. */
  async function resetAfter(deadline: number, afterMs: number) {
    const { reset, answers } = startCall(deadline);
    await jest.advanceTimersByTimeAsync(afterMs);
    reset();
    await jest.advanceTimersByTimeAsync(0);
    return answers;
  }

  // The third: the client's own deadline passed before the server's copy of it (dated from when
  // the call reached the server), so its reset comes a little early by the server's clock.
  it.each([
    ['a reset long before the deadline', 'CANCELLED', NOW + 1000, 500],
    ['a reset without a deadline', 'CANCELLED', Infinity, 60_000],
    ["a reset in the last tenth of the call's time", 'DEADLINE_EXCEEDED', NOW + 1000, 910],
  ])('should count %s as %s', async (_case, code, deadline, afterMs) => {
    await resetAfter(deadline, afterMs);
    expect(observed).toEqual([code]);
  });

  it('should answer DEADLINE_EXCEEDED by itself at the deadline, counted once', async () => {
    const answers = await resetAfter(NOW + 1000, 1000);
    expect(answers).toEqual([4]); // status.DEADLINE_EXCEEDED
    expect(observed).toEqual(['DEADLINE_EXCEEDED']);
  });
});
