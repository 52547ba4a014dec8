import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { DTYPES } from '../../tensor/dtypes';
import { FREE_DIM, ModelSignature, TensorSpec } from '../../tensor/signature';
import { fromRuntimeStrings, isStringTensor, toRuntimeStrings } from '../../tensor/strings';
import { Tensor, TensorDtype, TypedData } from '../../tensor/tensor';
import { Engine, EngineModel, EngineStats, inputErrorsOf, nanosSince, RunTiming } from '../engine';
import { ONNX_PLATFORM, onnxEngine, OnnxEngineOptions } from './onnx.descriptor';

/** The only provider the npm package ships without a download (GPU ones are optional installs). */
const EXECUTION_PROVIDER = 'cpu';

/** ONNX element types this server carries end to end: those it feeds and strings, by ONNX Runtime's names. */
export const ONNX_DTYPES: ReadonlySet<string> = new Set<string>(
  DTYPES.filter((row) => row.fed || row.kind === 'bytes').map((row) => row.onnx),
);

/**
 * A symbolic dimension (`batch`, `p2o.DynamicDimension.0`, `N`) is free; ONNX Runtime reports
 * an unknown one as -1 or as a string, never as 0 for a real tensor.
 */
const toDim = (dim: number | string): number =>
  typeof dim === 'number' && dim >= 0 ? dim : FREE_DIM;

function toSpec(meta: ort.InferenceSession.ValueMetadata, role: string): TensorSpec {
  if (!meta.isTensor) {
    // skl2onnx classifiers add a ZipMap output (a sequence of maps) unless told not to.
    throw new Error(
      `${role} '${meta.name}' is not a tensor (a sequence or map); only tensor inputs and outputs can be served (for skl2onnx classifiers export with options={'zipmap': False})`,
    );
  }
  if (!ONNX_DTYPES.has(meta.type)) {
    throw new Error(
      `${role} '${meta.name}' has element type ${meta.type}; supported: ${[...ONNX_DTYPES].join(', ')}`,
    );
  }
  return { name: meta.name, dtype: meta.type, shape: meta.shape.map(toDim) };
}

/** ONNX Runtime's message without its "Load model from <file> failed:", which repeats the path. */
function withoutPath(message: string, file: string): string {
  return message.replace(`Load model from ${file} failed:`, '').trim();
}

/**
 * The neutral tensor as ONNX Runtime's: same element type names, the same typed array (no copy);
 * strings as the JS strings its binding takes (strings.ts says how bytes that are not UTF-8 pass).
 */
function toOrt(tensor: Tensor): ort.Tensor {
  if (isStringTensor(tensor))
    return new ort.Tensor('string', toRuntimeStrings(tensor), tensor.shape);
  return new ort.Tensor(
    tensor.dtype as ort.Tensor.Type,
    tensor.data as ort.Tensor.DataType,
    tensor.shape,
  );
}

/**
 * ONNX Runtime's output as the neutral tensor. float16 comes back as raw halves (Uint16Array) or,
 * where the runtime has Float16Array, as that: either way the neutral form is the raw bits.
 */
function fromOrt(name: string, value: ort.Tensor): Tensor {
  if (value.type === 'string') return fromRuntimeStrings(name, value.dims, value.data as string[]);
  const data = value.data as unknown as ArrayBufferView;
  const raw =
    value.type === 'float16' && !(data instanceof Uint16Array)
      ? new Uint16Array(data.buffer, data.byteOffset, data.byteLength / 2)
      : (data as TypedData);
  return { name, dtype: value.type as TensorDtype, shape: [...value.dims], data: raw };
}

/** One ONNX model in this inference thread: one ONNX Runtime session, no per-request state. */
class OnnxEngineModel implements EngineModel {
  readonly platform = ONNX_PLATFORM;
  readonly backend = `onnxruntime-${EXECUTION_PROVIDER}`;
  readonly signature: ModelSignature;
  private readonly outputNames: string[];

  constructor(
    private session: ort.InferenceSession | undefined,
    readonly bytes: number,
    private readonly onDispose: (model: OnnxEngineModel) => void,
  ) {
    const { inputMetadata, outputMetadata } = session!;
    this.signature = {
      inputs: inputMetadata.map((meta) => toSpec(meta, 'input')),
      outputs: outputMetadata.map((meta) => toSpec(meta, 'output')),
    };
    this.outputNames = this.signature.outputs.map((spec) => spec.name);
  }

  async run(inputs: Tensor[], timing?: RunTiming): Promise<Tensor[]> {
    const session = this.session;
    if (!session) throw new Error('ONNX model was disposed');
    let start = process.hrtime.bigint();
    const feeds = Object.fromEntries(inputs.map((t) => [t.name, toOrt(t)]));
    if (timing) timing.inputNs += nanosSince(start);
    start = process.hrtime.bigint();
    // The node binding's run is one synchronous native call (it blocks this thread for the
    // whole inference), which is why engines live in the inference threads only.
    const results = await inputErrorsOf(() => session.run(feeds, this.outputNames));
    if (timing) timing.inferNs += nanosSince(start);
    start = process.hrtime.bigint();
    const outputs = this.outputNames.map((name) => fromOrt(name, results[name]));
    if (timing) timing.outputNs += nanosSince(start);
    return outputs;
  }

  dispose(): void {
    const session = this.session;
    this.session = undefined;
    if (!session) return;
    this.onDispose(this);
    void session.release().catch(() => undefined);
  }
}

/** ONNX models run by ONNX Runtime's CPU provider, one session per version. */
export class OnnxEngine implements Engine {
  private readonly live = new Set<OnnxEngineModel>();

  constructor(private readonly options: OnnxEngineOptions) {}

  async load(dir: string): Promise<EngineModel> {
    const file = join(dir, onnxEngine.file);
    const { size } = await stat(file);
    let session: ort.InferenceSession;
    try {
      session = await ort.InferenceSession.create(file, {
        executionProviders: [EXECUTION_PROVIDER],
        intraOpNumThreads: this.options.intraOpThreads,
        // Parallelism across requests comes from the inference threads; across branches of one
        // graph it would only add threads competing for the same cores.
        interOpNumThreads: 1,
        executionMode: 'sequential',
        graphOptimizationLevel: 'all',
        // Errors come back to the caller with context (and to the client as a status); ONNX
        // Runtime's own stderr lines would only break the JSON log stream.
        logSeverityLevel: 4,
      });
    } catch (error) {
      // ONNX Runtime's own words (protobuf parsing failed, "Could not find an implementation
      // for X(version)", ...) say what is wrong; the thread's message names the file, once.
      throw new Error(
        `ONNX Runtime cannot load it: ${withoutPath((error as Error).message, file)}`,
      );
    }
    try {
      const model = new OnnxEngineModel(session, size, (m) => this.live.delete(m));
      this.live.add(model);
      return model;
    } catch (error) {
      await session.release();
      throw error;
    }
  }

  /**
   * ONNX Runtime does not report its memory; the sessions alive and their model files' bytes
   * (weights dominate both the file and what a session holds) are what a leak would grow.
   */
  stats(): EngineStats {
    let bytes = 0;
    for (const model of this.live) bytes += model.bytes;
    return { tensors: this.live.size, bytes };
  }
}
