import * as tf from '@tensorflow/tfjs-core';
import type { GraphModel } from '@tensorflow/tfjs-converter';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import type { SymbolicTensor } from '@tensorflow/tfjs-layers';
import { DTYPES } from '../../tensor/dtypes';
import { FREE_DIM, ModelSignature, TensorSpec } from '../../tensor/signature';
import { isStringTensor, packStrings, stringElements } from '../../tensor/strings';
import { Tensor, TensorDtype, TypedData } from '../../tensor/tensor';
import { Engine, EngineModel, EngineStats, inputErrorsOf, nanosSince, RunTiming } from '../engine';
import { withTopologyNames } from './layers-names';
import { LoadedTfjsModel, loadTfjsModel, ModelFormat, TfjsModel } from './tfjs-loader';
import { TFJS_PLATFORMS } from './tfjs.descriptor';

/** TF.js dtype of each TensorFlow DataType name found in a graph model's signature. */
export const TFJS_DTYPES: Record<string, string> = Object.fromEntries(
  DTYPES
    // TF.js has no 64-bit or 16-bit tensors: a DT_INT64 placeholder runs as int32, as TF.js reads it.
    .filter((row) => row.tfjs)
    .map((row) => [row.tf, row.dtype]),
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
    const layers = model as LayersModel;
    const inner = (layers as unknown as { model?: LayersModel }).model;
    const named = layers.inputNames.length > 0 ? layers : (inner ?? layers);
    const toSpec =
      (names: string[]) =>
      (t: SymbolicTensor, i: number): TensorSpec => ({
        name: names[i] ?? t.name,
        dtype: t.dtype,
        shape: t.shape.map((d) => d ?? FREE_DIM),
      });
    return {
      inputs: layers.inputs.map(toSpec(named.inputNames)),
      outputs: layers.outputs.map(toSpec(named.outputNames)),
    };
  }
  const graph = model as GraphModel;
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

/**
 * One TF.js model (layers or graph) in this inference thread. Holds no per-request state; every
 * tensor a run creates is disposed before it returns (tf.tidy cannot wrap async code).
 */
class TfjsEngineModel implements EngineModel {
  readonly platform: string;
  // The backend is chosen once per thread, before any model loads.
  readonly backend = tf.getBackend();
  readonly signature: ModelSignature;
  /** Names the model's execute() takes for its outputs, in signature order (fixed at load). */
  private readonly outputNodes: string[];
  private graphNeedsAsync = false;

  constructor(
    private readonly format: ModelFormat,
    private model: TfjsModel | undefined,
    topology: LoadedTfjsModel['modelTopology'],
  ) {
    this.platform = TFJS_PLATFORMS[format];
    const read = readSignature(format, model!);
    // Names from model.json, not from TF.js's process-wide counters (stable across loads).
    this.signature = format === 'layers-model' ? withTopologyNames(read, topology) : read;
    // A layers model runs by its symbolic tensor names; a graph model by its signature keys.
    this.outputNodes =
      format === 'layers-model'
        ? (model as LayersModel).outputs.map((o) => o.name)
        : this.signature.outputs.map((spec) => spec.name);
  }

  /** Runs the batch whole: a fixed batch dimension is chunked above the engines (fixed-batch.ts). */
  async run(inputs: Tensor[], timing?: RunTiming): Promise<Tensor[]> {
    let start = process.hrtime.bigint();
    const tensors = inputs.map((input) =>
      // TF.js string tensors hold each element's bytes as they are: no text decoding, no escape.
      isStringTensor(input)
        ? tf.tensor(stringElements(input), input.shape, 'string')
        : tf.tensor(input.data as Float32Array, input.shape, input.dtype as tf.DataType),
    );
    if (timing) timing.inputNs += nanosSince(start);
    const created: tf.Tensor[] = [...tensors];
    try {
      start = process.hrtime.bigint();
      const outputs = await this.execute(tensors);
      if (timing) timing.inferNs += nanosSince(start);
      created.push(...outputs);
      start = process.hrtime.bigint();
      const read = await Promise.all(
        outputs.map(async (t, i): Promise<Tensor> => {
          const name = this.signature.outputs[i].name;
          // bytes(), not data(): data() decodes string elements as UTF-8 text.
          if (t.dtype === 'string') {
            return packStrings(name, t.shape, (await t.bytes()) as Uint8Array[]);
          }
          return {
            name,
            dtype: t.dtype as TensorDtype,
            shape: t.shape,
            data: (await t.data()) as TypedData,
          };
        }),
      );
      if (timing) timing.outputNs += nanosSince(start);
      return read;
    } finally {
      created.forEach((t) => t.dispose());
    }
  }

  /** What TF.js throws while executing the model is about the inputs (see inputErrorsOf). */
  private execute(inputs: tf.Tensor[]): Promise<tf.Tensor[]> {
    return inputErrorsOf(() => this.executeModel(inputs));
  }

  private async executeModel(inputs: tf.Tensor[]): Promise<tf.Tensor[]> {
    if (this.format === 'layers-model') {
      // execute() runs the graph once in inference mode; predict() adds a batching loop that
      // costs about as much as the whole inference of a small model (measured 75-98 vs 48-52 us).
      const layers = this.model as LayersModel;
      return asList(layers.execute(inputs.length === 1 ? inputs[0] : inputs, this.outputNodes));
    }
    const graph = this.model as GraphModel;
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

  dispose(): void {
    this.model?.dispose();
    this.model = undefined;
  }
}

/** TensorFlow.js models on the backend this thread chose (see tfjsEngine in tfjs.descriptor.ts). */
export class TfjsEngine implements Engine {
  get backend(): string {
    return tf.getBackend();
  }

  async load(dir: string): Promise<EngineModel> {
    const { format, model, modelTopology } = await loadTfjsModel(dir);
    return new TfjsEngineModel(format, model, modelTopology);
  }

  stats(): EngineStats {
    const { numTensors, numBytes } = tf.memory();
    return { tensors: numTensors, bytes: numBytes };
  }
}
