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

  const settle = () => jest.advanceTimersByTimeAsync(0);

  it('should count a reset long before the deadline as CANCELLED', async () => {
    const { reset } = startCall(NOW + 1000);
    await jest.advanceTimersByTimeAsync(500);
    reset();
    await settle();
    expect(observed).toEqual(['CANCELLED']);
  });

  it('should count a reset without a deadline as CANCELLED', async () => {
    const { reset } = startCall(Infinity);
    await jest.advanceTimersByTimeAsync(60_000);
    reset();
    await settle();
    expect(observed).toEqual(['CANCELLED']);
  });

  it("should count a reset in the last tenth of the call's time as its deadline", async () => {
    // The client's own deadline passed before the server's copy of it (dated from when the call
    // reached the server): its reset comes a little early by the server's clock.
    const { reset } = startCall(NOW + 1000);
    await jest.advanceTimersByTimeAsync(910);
    reset();
    await settle();
    expect(observed).toEqual(['DEADLINE_EXCEEDED']);
  });

  it('should answer DEADLINE_EXCEEDED by itself at the deadline, counted once', async () => {
    const { reset, answers } = startCall(NOW + 1000);
    await jest.advanceTimersByTimeAsync(1000);
    reset();
    await settle();
    expect(answers).toEqual([4]); // status.DEADLINE_EXCEEDED
    expect(observed).toEqual(['DEADLINE_EXCEEDED']);
  });
});
