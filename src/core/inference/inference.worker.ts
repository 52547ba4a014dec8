/**
 * The body of one inference thread. It holds its own copy of every served model version (loaded
 * and warmed here, once per thread) and runs batches the main thread sends. Messages are handled
 * one at a time, in order: a thread runs one thing at a time anyway, and a load, a run and an
 * unload of the same version must never interleave.
 */
import { join } from 'node:path';
import { parentPort, workerData } from 'node:worker_threads';
import type { Engine, EngineDescriptor, EngineModel, RunTiming } from '../../engines/engine';
import { engineClaiming, ENGINES } from '../../engines/registry';
import { ServingError, type ServingErrorData } from '../../errors/serving-error';
import type { Tensor } from '../../tensor/tensor';
import { runFixedBatch } from './fixed-batch';
import {
  LoadReport,
  RunReport,
  ThreadHello,
  ThreadOptions,
  ThreadReply,
  ThreadRequest,
  ThreadStats,
} from './thread-protocol';
import { classifyRunFailure, isFatal } from './run-failure';
import { lowerThreadPriority, nameThread } from './thread-priority';
import { transferList, wholeBuffer } from './transfer';
import { warmUp } from './warm-up';

const options = workerData as ThreadOptions;
const port = parentPort!;

/** The engines this thread has created, by id: at start, or at the first model that needs one. */
const engines = new Map<string, Engine>();
const models = new Map<string, EngineModel>();
/** Why this thread's runtime can no longer be trusted; set once, never cleared. */
let poisoned: string | undefined;

/** An engine error as data for the reply; a fatal one has poisoned the thread for good. */
class EngineFailure extends Error {
  constructor(
    readonly data: ServingErrorData,
    readonly fatal: boolean,
  ) {
    super(data.message);
  }
}

async function engineFor(descriptor: EngineDescriptor): Promise<Engine> {
  let engine = engines.get(descriptor.id);
  if (!engine) {
    engine = await descriptor.create(options.engines[descriptor.id]);
    engines.set(descriptor.id, engine);
  }
  return engine;
}

/** Loads and warms a version; an error names the model file and keeps the engine's own message. */
async function load(key: string, dir: string): Promise<LoadReport> {
  const descriptor = await engineClaiming(dir);
  try {
    return await loadWith(descriptor, key, dir);
  } catch (error) {
    const message = `${join(dir, descriptor.file)}: ${(error as Error).message}`;
    // A trap or failed allocation while loading or warming poisons the thread as a run does.
    if (!isFatal(error)) throw new Error(message);
    poisoned = message;
    throw new EngineFailure(ServingError.internal(message).toData(), true);
  }
}

async function loadWith(
  descriptor: EngineDescriptor,
  key: string,
  dir: string,
): Promise<LoadReport> {
  const started = performance.now();
  const model = await (await engineFor(descriptor)).load(dir);
  const loadMs = performance.now() - started;
  try {
    const { batchMajor } = await warmUp(model);
    models.get(key)?.dispose(); // a replacement thread may be sent a version twice
    models.set(key, model);
    const report: LoadReport = {
      platform: model.platform,
      backend: model.backend,
      signature: model.signature,
      batchMajor,
      loadMs,
      warmupMs: performance.now() - started - loadMs,
    };
    return report;
  } catch (error) {
    model.dispose();
    throw error;
  }
}

/** `'iris' version 2` from the key `iris/2`. */
function modelLabel(key: string): string {
  const slash = key.lastIndexOf('/');
  return `'${key.slice(0, slash)}' version ${key.slice(slash + 1)}`;
}

async function run(key: string, inputs: Tensor[]): Promise<RunReport> {
  const model = models.get(key);
  if (!model) throw ServingError.unavailable(`${key} is not loaded in this thread`);
  const started = performance.now();
  const compute: RunTiming = { inputNs: 0, inferNs: 0, outputNs: 0 };
  try {
    const outputs = await runFixedBatch(model, inputs, `model ${modelLabel(key)}`, compute);
    return { outputs, seconds: (performance.now() - started) / 1000, compute };
  } catch (error) {
    const names = model.signature.inputs.map((spec) => spec.name);
    const failure = classifyRunFailure(error, modelLabel(key), names);
    if (failure.fatal) poisoned = failure.error.message;
    throw new EngineFailure(failure.error, failure.fatal);
  }
}

/** Frees what can still be freed; a corrupt runtime may throw doing it, which changes nothing. */
function disposeAll(): void {
  for (const model of models.values()) {
    try {
      model.dispose();
    } catch {
      // the thread ends right after this
    }
  }
  models.clear();
}

/** After a trap the engine's own bookkeeping may throw too; the reply must still go out. */
function safeStats(): ThreadStats {
  try {
    return stats();
  } catch {
    return { tensors: 0, bytes: 0 };
  }
}

function stats(): ThreadStats {
  const total: Required<ThreadStats> = { tensors: 0, bytes: 0, byEngine: {} };
  for (const [id, engine] of engines) {
    const { tensors, bytes } = engine.stats();
    total.tensors += tensors;
    total.bytes += bytes;
    total.byEngine[id] = { tensors, bytes };
  }
  return total;
}

async function handle(request: ThreadRequest): Promise<unknown> {
  if (poisoned !== undefined && request.op !== 'close') {
    throw ServingError.unavailable(`this inference thread is retired: ${poisoned}`);
  }
  switch (request.op) {
    case 'load':
      return load(request.key, request.dir);
    case 'run':
      return run(request.key, request.inputs);
    case 'unload':
      models.get(request.key)?.dispose();
      return models.delete(request.key);
    case 'close':
      disposeAll();
      return true;
  }
}

/** Any other error as data: an Error class does not survive postMessage. */
function toData(error: unknown): ServingErrorData {
  if (error instanceof ServingError) return error.toData();
  return ServingError.internal((error as Error)?.message ?? String(error)).toData();
}

// Nothing runs before the backend is up: messages that arrive earlier wait in this chain.
let queue: Promise<unknown>;
port.on('message', (request: ThreadRequest) => {
  queue = queue.then(async () => {
    let reply: ThreadReply;
    let transfer: ArrayBuffer[] = [];
    try {
      const result = await handle(request);
      reply = { id: request.id, ok: true, result, stats: stats() };
      if (request.op === 'run') transfer = transferList((result as RunReport).outputs, wholeBuffer);
    } catch (error) {
      const fatal = error instanceof EngineFailure && error.fatal;
      const data = error instanceof EngineFailure ? error.data : toData(error);
      reply = { id: request.id, ok: false, error: data, fatal, stats: safeStats() };
    }
    port.postMessage(reply, transfer);
  });
});

async function start(): Promise<void> {
  lowerThreadPriority();
  nameThread('inference');
  for (const descriptor of ENGINES.filter((engine) => engine.startsWithThread)) {
    await engineFor(descriptor);
  }
  const backend = [...engines.values()].find((engine) => engine.backend)?.backend ?? '';
  const hello: ThreadHello = { hello: true, backend };
  port.postMessage(hello);
}

queue = start().catch((error: Error) => {
  const hello: ThreadHello = { hello: false, error: error.message };
  port.postMessage(hello);
});
