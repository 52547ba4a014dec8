import { BadRequestException } from '@nestjs/common';
import * as tf from '@tensorflow/tfjs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ModelLocation } from './model-repository';
import { loadTfjsModel, ModelFormat, TfjsModel } from './model-loader';
import {
  FREE_DIM,
  formatShape,
  InputDtype,
  ModelSignature,
  TensorSpec,
  TF_DATA_TYPES,
} from './signature';
import { allocate, EncodedTensor } from './tensor-codec';
import { Tensor, TensorDtype, TensorMap, TypedData } from './tensor';

/** Optional `metadata.json` beside model.json. */
export interface ModelMetadata {
  description?: string;
  labels?: string[];
  [key: string]: unknown;
}

/** Lifecycle states, named as TF Serving names them. */
export type ModelState = 'START' | 'LOADING' | 'AVAILABLE' | 'UNLOADING' | 'END';

/** TF.js dtype of each TensorFlow DataType name found in a graph model's signature. */
const TFJS_DTYPES: Record<string, string> = Object.fromEntries(
  Object.entries(TF_DATA_TYPES).map(([tfjs, tf]) => [tf, tfjs]),
);

/** An entry of a graph model's `signature` in model.json, as tensorflowjs_converter writes it. */
interface SignatureEntry {
  name?: string;
  dtype?: string;
  tensorShape?: { dim?: { size?: string | number }[] };
}
type SignatureJson = {
  inputs?: Record<string, SignatureEntry>;
  outputs?: Record<string, SignatureEntry>;
};

function graphSpec(
  name: string,
  info: SignatureEntry | undefined,
  fallback?: { dtype?: string; shape?: number[] },
): TensorSpec {
  const dims = info?.tensorShape?.dim?.map((d) => Number(d.size ?? FREE_DIM));
  return {
    name,
    dtype: TFJS_DTYPES[info?.dtype ?? ''] ?? fallback?.dtype ?? 'float32',
    shape: dims ?? fallback?.shape?.map((d: number | null) => d ?? FREE_DIM) ?? [],
  };
}

/** Reads names, dtypes and shapes from the model itself; unknown output shapes are filled by warm-up. */
function readSignature(format: ModelFormat, model: TfjsModel): ModelSignature {
  if (format === 'layers-model') {
    // Layer names, not symbolic tensor names: TF.js suffixes those (`features_1`) when another
    // model in the process used the same name. A Sequential keeps its names on its inner model.
    const layers = model as tf.LayersModel;
    const inner = (layers as unknown as { model?: tf.LayersModel }).model;
    const named = layers.inputNames.length > 0 ? layers : (inner ?? layers);
    const toSpec =
      (names: string[]) =>
      (t: tf.SymbolicTensor, i: number): TensorSpec => ({
        name: names[i] ?? t.name,
        dtype: t.dtype,
        shape: t.shape.map((d) => d ?? FREE_DIM),
      });
    return {
      inputs: layers.inputs.map(toSpec(named.inputNames)),
      outputs: layers.outputs.map(toSpec(named.outputNames)),
    };
  }
  const graph = model as tf.GraphModel;
  const signature = graph.modelSignature as SignatureJson | undefined;
  const inputs = graph.inputNodes.map((name, i) =>
    graphSpec(name, signature?.inputs?.[name], graph.inputs[i]),
  );
  const outputs = graph.outputNodes.map((name, i) =>
    graphSpec(name, signature?.outputs?.[name], graph.outputs[i]),
  );
  return { inputs, outputs };
}

const asList = (out: tf.Tensor | tf.Tensor[]): tf.Tensor[] => (Array.isArray(out) ? out : [out]);

async function readMetadata(dir: string): Promise<ModelMetadata> {
  const text = await readFile(join(dir, 'metadata.json'), 'utf8').catch(
    (error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return undefined;
      throw error;
    },
  );
  if (text === undefined) return {};
  const metadata = JSON.parse(text) as ModelMetadata;
  if (
    metadata.labels !== undefined &&
    !(Array.isArray(metadata.labels) && metadata.labels.every((l) => typeof l === 'string'))
  ) {
    throw new Error('metadata.json: "labels" must be an array of strings');
  }
  return metadata;
}

/**
 * One version of one model: the small contract `load()`, `ready`, `predict()`, `dispose()`.
 * Holds no per-request state, so one instance serves any number of concurrent requests.
 */
export class ServedModel {
  readonly name: string;
  readonly version: number;
  readonly dir: string;
  state: ModelState = 'START';
  format: ModelFormat;
  signature: ModelSignature;
  metadata: ModelMetadata = {};
  loadTimeMs: number;
  warmupTimeMs: number;
  private model?: TfjsModel;
  /** A fixed batch dimension (e.g. [1,192,192,3]) makes larger batches run in chunks of that size. */
  private fixedBatch?: number;
  private graphNeedsAsync = false;
  /** Names the model's execute() takes for its outputs, in signature order (fixed at load). */
  private outputNodes: string[];

  constructor(location: ModelLocation) {
    this.name = location.name;
    this.version = location.version;
    this.dir = location.dir;
  }

  get ready(): boolean {
    return this.state === 'AVAILABLE';
  }

  get labels(): string[] | undefined {
    return this.metadata.labels;
  }

  /** Reads the model from disk and warms it up. The only place that touches model files. */
  async load(): Promise<void> {
    this.state = 'LOADING';
    const started = performance.now();
    const loaded = await loadTfjsModel(this.dir);
    this.model = loaded.model;
    this.format = loaded.format;
    this.signature = readSignature(loaded.format, loaded.model);
    // A layers model runs by its symbolic tensor names; a graph model by its signature keys.
    this.outputNodes =
      loaded.format === 'layers-model'
        ? (loaded.model as tf.LayersModel).outputs.map((o) => o.name)
        : this.signature.outputs.map((spec) => spec.name);
    this.metadata = await readMetadata(this.dir);
    this.fixedBatch =
      this.signature.inputs[0]?.shape[0] > 0 ? this.signature.inputs[0].shape[0] : undefined;
    this.loadTimeMs = performance.now() - started;
    const warmStarted = performance.now();
    await this.warmUp();
    this.warmupTimeMs = performance.now() - warmStarted;
    this.checkLabels();
    this.state = 'AVAILABLE';
  }

  /** One inference on zeros shaped like the signature: compiles kernels and reveals output shapes. */
  private async warmUp(): Promise<void> {
    const batch = this.fixedBatch ?? 1;
    const zeros = this.signature.inputs.map((spec): EncodedTensor => {
      const shape = spec.shape.map((d, i) => (i === 0 ? batch : d === FREE_DIM ? 1 : d));
      const dtype: InputDtype =
        spec.dtype === 'int32' || spec.dtype === 'bool' ? spec.dtype : 'float32';
      return {
        name: spec.name,
        dtype,
        shape,
        data: allocate(
          dtype,
          shape.reduce((a, b) => a * b, 1),
        ),
      };
    });
    const shapes = await this.runTensors(zeros, async (outputs) => outputs.map((t) => t.shape));
    this.signature.outputs.forEach((spec, i) => {
      if (spec.shape.length === 0 && shapes[i].length > 0) {
        spec.shape = shapes[i].map((d, axis) => (axis === 0 ? FREE_DIM : d));
      }
    });
  }

  private checkLabels(): void {
    const labels = this.labels;
    if (!labels) return;
    const output = this.signature.outputs[0];
    const classes = output.shape.at(-1);
    if (
      this.signature.outputs.length !== 1 ||
      output.shape.length !== 2 ||
      classes !== labels.length
    ) {
      throw new Error(
        `metadata.json lists ${labels.length} labels but the model's outputs are ${this.signature.outputs.map((o) => `'${o.name}' ${formatShape(o.shape)}`).join(', ')}; labels need a single [-1,${labels.length}] output`,
      );
    }
  }

  /**
   * Runs a batch and returns every output as a typed array with its shape (batch first). All
   * tensors created here are disposed before returning: tf.tidy cannot wrap async code.
   */
  async predict(inputs: EncodedTensor[]): Promise<TensorMap> {
    const read = await this.runTensors(inputs, (outputs) =>
      Promise.all(outputs.map(async (t) => ({ shape: t.shape, data: await t.data() }))),
    );
    return Object.fromEntries(
      this.signature.outputs.map((spec, i): [string, Tensor] => [
        spec.name,
        {
          name: spec.name,
          dtype: spec.dtype as TensorDtype,
          shape: read[i].shape,
          data: read[i].data as TypedData,
        },
      ]),
    );
  }

  private async runTensors<T>(
    inputs: EncodedTensor[],
    read: (outputs: tf.Tensor[]) => Promise<T>,
  ): Promise<T> {
    if (!this.model) throw new Error(`model ${this.name}/${this.version} is not loaded`);
    const batch = inputs[0].shape[0];
    const chunk = this.fixedBatch ?? batch;
    if (batch % chunk !== 0) {
      throw new BadRequestException(
        `model '${this.name}' has a fixed batch size of ${chunk}; send a multiple of ${chunk} instances (got ${batch})`,
      );
    }
    // A layers model (and chunking) pairs the inputs row by row. TF.js does not check that they
    // have as many rows: on wasm the shorter input is read past its end and garbage comes back.
    const rows = inputs.map((input) => input.shape[0]);
    if ((this.format === 'layers-model' || chunk !== batch) && rows.some((n) => n !== batch)) {
      throw new BadRequestException(
        `model '${this.name}' pairs its inputs row by row; every input needs the same 0-th dimension, got ${inputs.map((input, i) => `${input.name}: ${rows[i]}`).join(', ')}`,
      );
    }
    // A TF.js model's signature only holds TF.js dtypes, so the codec built one of those.
    const tensors = inputs.map((input) =>
      tf.tensor(input.data as Float32Array, input.shape, input.dtype as tf.DataType),
    );
    const created: tf.Tensor[] = [...tensors];
    try {
      let outputs: tf.Tensor[];
      if (chunk === batch) {
        outputs = await this.execute(tensors);
      } else {
        const parts: tf.Tensor[][] = [];
        for (let start = 0; start < batch; start += chunk) {
          const slices = tensors.map((t) => t.slice(start, chunk));
          created.push(...slices);
          parts.push(await this.execute(slices));
          created.push(...parts.at(-1)!);
        }
        outputs = parts[0].map((_, i) => tf.concat(parts.map((part) => part[i])));
      }
      created.push(...outputs);
      return await read(outputs);
    } finally {
      created.forEach((t) => t.dispose());
    }
  }

  private async execute(inputs: tf.Tensor[]): Promise<tf.Tensor[]> {
    if (this.format === 'layers-model') {
      // execute() runs the graph once in inference mode; predict() adds a batching loop that
      // costs about as much as the whole inference of a small model (measured 75-98 vs 48-52 us).
      const layers = this.model as tf.LayersModel;
      return asList(layers.execute(inputs.length === 1 ? inputs[0] : inputs, this.outputNodes));
    }
    const graph = this.model as tf.GraphModel;
    const feed = Object.fromEntries(this.signature.inputs.map((spec, i) => [spec.name, inputs[i]]));
    // Graphs with control flow (while loops, dynamic shapes) only run asynchronously; find out once.
    if (!this.graphNeedsAsync) {
      try {
        return asList(graph.execute(feed, this.outputNodes));
      } catch (error) {
        if (!/executeAsync/.test((error as Error).message)) throw error;
        this.graphNeedsAsync = true;
      }
    }
    return asList(await graph.executeAsync(feed, this.outputNodes));
  }

  /** Frees the model's weights. The caller makes sure no request still uses it. */
  dispose(): void {
    this.state = 'UNLOADING';
    this.model?.dispose();
    this.model = undefined;
    this.state = 'END';
  }
}
