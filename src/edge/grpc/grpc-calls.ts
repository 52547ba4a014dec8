import { Injectable, Logger } from '@nestjs/common';
import {
  Metadata,
  status as GrpcStatus,
  type handleBidiStreamingCall,
  type handleUnaryCall,
  type ServerDuplexStream,
  type ServerUnaryCall,
  type ServiceError,
} from '@grpc/grpc-js';
import type { Logger as PinoLogger } from 'pino';
import { AppConfig } from '../../config/app-config';
import { LifecycleService } from '../../core/lifecycle/lifecycle.service';
import { ServingError, type ServingErrorData } from '../../errors/serving-error';
import { logGrpcCall } from '../../observability/grpc-log';
import { REQUEST_ID_HEADER, requestIdFrom, rootLogger } from '../../observability/http-logger';
import { MetricsService } from '../../observability/metrics.service';
import { RequestInfo, runWithInfo } from '../../observability/request-context';
import { RETRY_AFTER_SECONDS } from '../admission/request-guard.middleware';
import { grpcStatusOf, toServingError } from './grpc-status';

/** A served error, or anything thrown, as the client gets it. */
export type CallError = ServingErrorData & { expected: boolean };

/**
 * A reset that comes within this share of the time a call had left when it reached its handler
 * is counted as its deadline, not as a cancel: see Served.endedBy.
 */
const DEADLINE_SLACK = 0.1;

/** One unit of work (a unary call, or one message of a stream) while it is served. */
class Served {
  readonly info: RequestInfo = { startedAt: process.hrtime.bigint() };
  readonly abort = new AbortController();
  /** The error the server answered with by itself (deadline), once it has. */
  answered?: CallError;
  /** Why the call ended before its answer (the client cancelled it, or its deadline passed). */
  endedAs?: 'CANCELLED' | 'DEADLINE_EXCEEDED';
  /** Gives the MAX_INFLIGHT slot back, once taken. */
  release: () => void = () => undefined;
  timer?: NodeJS.Timeout;
  /** Counted already: its answer went out, or it ended without one. */
  finished = false;

  /** The client's deadline as grpc-js dates it, in ms since the epoch (Infinity: none). */
  readonly deadline: number;
  /** How close to the deadline a reset still counts as the deadline (see endedBy). */
  private readonly slackMs: number;

  constructor(
    deadline: Date | number,
    private readonly onFinish: (code: string) => void,
  ) {
    this.info.abort = this.abort;
    this.deadline = deadline instanceof Date ? deadline.getTime() : deadline;
    this.slackMs = Math.max(0, this.deadline - Date.now()) * DEADLINE_SLACK;
  }

  /**
   * Why the client reset the call at `now`. A client resets its call the moment its own deadline
   * passes, and the reset looks the same as a cancel. grpc-js dates the server's copy of the
   * deadline from the relative grpc-timeout header when the call reached it, so the client's
   * deadline comes first, by the time the call took to get here: tens of milliseconds on a
   * busy host, when a reset at the server's deadline would be counted CANCELLED. A reset in the
   * last tenth of the time the call had left when its handler started is taken as the deadline.
   */
  endedBy(now: number): 'CANCELLED' | 'DEADLINE_EXCEEDED' {
    const late = Number.isFinite(this.deadline) && now >= this.deadline - this.slackMs;
    return late ? 'DEADLINE_EXCEEDED' : 'CANCELLED';
  }

  /** Counts the answer (once): gives the slot back, records and logs it. */
  finish(code: string): void {
    if (this.finished) return;
    this.finished = true;
    clearTimeout(this.timer);
    this.release();
    this.onFinish(this.endedAs ?? code);
  }
}

const STATUS_NAME = new Map<number, string>(
  Object.entries(GrpcStatus)
    .filter(([, value]) => typeof value === 'number')
    .map(([name, value]) => [value as number, name]),
);

/** `/inference.GRPCInferenceService/ModelInfer` -> `inference.GRPCInferenceService/ModelInfer`. */
const methodOf = (path: string) => path.replace(/^\//, '');

/**
 * What every gRPC call goes through, as every HTTP request goes through the request guard and
 * AdmissionGuard, with the same bookkeeping (LifecycleService) so one MAX_INFLIGHT covers both
 * listeners:
 * - it counts in flight, then takes a MAX_INFLIGHT slot or is shed with RESOURCE_EXHAUSTED;
 * - REQUEST_TIMEOUT_MS, or the client's deadline if sooner, answers DEADLINE_EXCEEDED and drops
 *   its queued inference; a cancelled call drops it too;
 * - it runs in its own request context, so ModelService.infer labels it with its model and finds
 *   its abort signal;
 * - the answer is counted (grpc_requests_total by method, model, version, code) and logged.
 * Errors are mapped once (grpc-status.ts); anything unexpected is INTERNAL and logged.
 */
@Injectable()
export class GrpcCalls {
  private readonly logger = new Logger('gRPC');
  private readonly requestLog: PinoLogger;
  /** Ends each open ModelStreamInfer-like stream once its pending messages are answered. */
  private readonly streams = new Set<() => void>();

  constructor(
    private readonly config: AppConfig,
    private readonly lifecycle: LifecycleService,
    private readonly metrics: MetricsService,
  ) {
    this.requestLog = rootLogger(config);
  }

  /** Shutdown: every open stream ends (OK) once the messages it already sent are answered. */
  endStreams(): void {
    this.streams.forEach((end) => end());
  }

  /** A unary handler: `handle` answers the request; what it throws becomes the call's status. */
  unary<Req, Res>(
    handle: (request: Req, call: ServerUnaryCall<Req, Res>) => Promise<Res> | Res,
  ): handleUnaryCall<Req, Res> {
    return (call, callback) => {
      const served = this.start(call.getPath(), call.metadata, call.getDeadline());
      call.once('cancelled', () => this.cancel(served));
      const reply = (error: CallError | undefined, response?: Res) => {
        if (served.answered && error !== served.answered) return;
        if (error) {
          served.finish(STATUS_NAME.get(grpcStatusOf(error)) ?? 'UNKNOWN');
          callback(this.serviceError(error));
        } else {
          served.finish('OK');
          callback(null, response);
        }
      };
      served.answered = this.admit(served, (error) => reply(error));
      if (served.answered) return reply(served.answered);
      runWithInfo(served.info, () => Promise.resolve().then(() => handle(call.request, call))).then(
        (response) => reply(undefined, response),
        (error: unknown) => reply(this.callError(error, call.getPath())),
      );
    };
  }

  /**
   * A bidirectional stream of independent requests: each is admitted, timed and logged as a
   * unary call would be, and answered (in the order they came) with `handle`'s response, or with
   * `onError`'s: an error ends only its own request, never the stream.
   */
  bidi<Req, Res>(
    handle: (request: Req) => Promise<Res>,
    onError: (error: CallError, request: Req) => Res,
  ): handleBidiStreamingCall<Req, Res> {
    return (stream: ServerDuplexStream<Req, Res>) => {
      const leave = this.lifecycle.enter(false);
      const open = new Set<Served>();
      let previous: Promise<unknown> = Promise.resolve();
      let pending = 0;
      let ended = false;
      const endWhenDone = () => {
        if (!ended || pending > 0) return;
        this.streams.delete(drain);
        if (!stream.cancelled) stream.end();
        leave();
      };
      const drain = () => {
        ended = true;
        endWhenDone();
      };
      this.streams.add(drain);
      stream.once('cancelled', () => {
        this.streams.delete(drain);
        open.forEach((served) => this.cancel(served));
        leave();
      });
      stream.on('data', (request: Req) => {
        // Once ended by the drain, what a client still sends is not taken.
        if (ended) return;
        pending++;
        const served = this.start(stream.getPath(), stream.metadata, stream.getDeadline(), false);
        open.add(served);
        const outcome = new Promise<{ response: Res; code: string }>((resolve) => {
          const fail = (error: CallError) =>
            resolve({
              response: onError(error, request),
              code: STATUS_NAME.get(grpcStatusOf(error)) ?? 'UNKNOWN',
            });
          const shed = this.admit(served, fail);
          if (shed) return fail(shed);
          runWithInfo(served.info, () => Promise.resolve().then(() => handle(request))).then(
            (response) => resolve({ response, code: 'OK' }),
            (error: unknown) => fail(served.answered ?? this.callError(error, stream.getPath())),
          );
        });
        // Answers go out in the order the requests came, each as soon as those before it are out.
        previous = Promise.all([previous, outcome]).then(([, { response, code }]) => {
          open.delete(served);
          served.finish(code);
          pending--;
          if (!stream.cancelled) stream.write(response);
          endWhenDone();
        });
      });
      stream.once('end', drain);
    };
  }

  /**
   * Starts the clock, the request context and the in-flight count of one unit of work.
   * `counted` false: a stream message, whose stream is already counted in flight.
   */
  private start(path: string, metadata: Metadata, deadline: Date | number, counted = true): Served {
    const leave = counted ? this.lifecycle.enter(false) : () => undefined;
    const reqId = requestIdFrom(metadata.get(REQUEST_ID_HEADER)[0]);
    const method = methodOf(path);
    const served: Served = new Served(deadline, (code) => {
      leave();
      this.metrics.observeGrpcCall(method, code, served.info);
      logGrpcCall(this.requestLog, { reqId, method, code, info: served.info });
    });
    return served;
  }

  /**
   * Takes a MAX_INFLIGHT slot, or returns the RESOURCE_EXHAUSTED the call is shed with; arms the
   * deadline (REQUEST_TIMEOUT_MS or the client's, the sooner), which aborts the inference and
   * answers through `onTimeout`.
   */
  private admit(served: Served, onTimeout: (error: CallError) => void): CallError | undefined {
    const max = this.config.MAX_INFLIGHT;
    if (max > 0 && this.lifecycle.admitted >= max) {
      return {
        code: 'RESOURCE_EXHAUSTED',
        message: `Server busy: ${max} requests already in flight (MAX_INFLIGHT); retry after ${RETRY_AFTER_SECONDS} s`,
        expected: true,
      };
    }
    served.release = this.lifecycle.admit();
    const timeoutMs = this.config.REQUEST_TIMEOUT_MS;
    const { deadline } = served;
    const clientMs = Number.isFinite(deadline) ? Math.max(0, deadline - Date.now()) : Infinity;
    const ours = timeoutMs > 0 && timeoutMs <= clientMs;
    const waitMs = ours ? timeoutMs : clientMs;
    if (!Number.isFinite(waitMs)) return undefined;
    const message = ours
      ? `Request not answered within ${timeoutMs} ms (REQUEST_TIMEOUT_MS), time in the queue included`
      : `Request not answered within the client's deadline (${Math.round(clientMs)} ms), time in the queue included`;
    served.timer = setTimeout(() => {
      const error: CallError = { code: 'DEADLINE_EXCEEDED', message, expected: true };
      served.answered = error;
      served.abort.abort(new ServingError('DEADLINE_EXCEEDED', message));
      onTimeout(error);
    }, waitMs);
    return undefined;
  }

  /** The call ended before its answer: its client cancelled, or grpc-js ended it at its deadline. */
  private cancel(served: Served): void {
    // grpc-js emits 'cancelled' whenever a call's stream closes, answered or not: an answered
    // call has nothing left to drop, and the abort reason (an Error, its stack captured) cost
    // about 2% of the main thread under ModelInfer load.
    if (served.finished || served.abort.signal.aborted) return;
    served.endedAs = served.endedBy(Date.now());
    // Counted when the handler settles (at once for a queued inference, which the abort drops),
    // so the call keeps the model label ModelService.infer gives it.
    served.abort.abort(
      served.endedAs === 'DEADLINE_EXCEEDED'
        ? new ServingError('DEADLINE_EXCEEDED', "The client's deadline passed")
        : new ServingError('CANCELLED', 'The client cancelled the call'),
    );
  }

  private callError(error: unknown, path: string): CallError {
    const served = toServingError(error);
    if (!served.expected) {
      this.logger.error(`${path} failed`, (error as Error)?.stack ?? String(error));
    }
    return served;
  }

  private serviceError(error: CallError): Partial<ServiceError> {
    const metadata = new Metadata();
    if (error.code === 'RESOURCE_EXHAUSTED' && /MAX_INFLIGHT/.test(error.message)) {
      metadata.set('retry-after', String(RETRY_AFTER_SECONDS));
    }
    return { code: grpcStatusOf(error), details: error.message, metadata };
  }
}
