import * as tf from '@tensorflow/tfjs';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { graphOps, saveGraphModel, saveLayersModel } from '../../scripts/lib/model-writer';
import { quietTfjs } from '../../src/engines/tfjs/tfjs-backend';
import { SHIPPED_MODELS } from '../utils/test-app';

// TF.js's cpu backend writes these fixtures on purpose: no "install tfjs-node" banner.
quietTfjs();

/**
 * Models that let the conformance tests replay the references' own examples: TF Serving's
 * half_plus_three (version 123), its three-input row example (minus the string input), and the
 * V2 spec's two-input `mymodel` (UINT32 [2,2] + BOOL [3] -> FP32 [3,2]). Written at test time
 * with the writers `npm run train` uses, so they are real TF.js models on disk.
 */

const scalar = (name: string, value: number) => ({ name, tensor: tf.scalar(value) });

/** y = 0.5 * x + 3 on a [-1] float input, as a graph model (TF Serving's half_plus_three). */
export async function writeHalfPlusThree(dir: string): Promise<void> {
  const weights = [scalar('half', 0.5), scalar('three', 3)];
  await saveGraphModel(dir, {
    nodes: [
      graphOps.placeholder('x', 'float32', [-1]),
      ...weights.map(graphOps.weight),
      graphOps.op('times_half', 'Mul', ['x', 'half']),
      graphOps.op('plus_three', 'AddV2', ['times_half', 'three']),
      graphOps.op('y', 'Identity', ['plus_three']),
    ],
    weights,
    inputs: { x: { node: 'x', dtype: 'float32', shape: [-1] } },
    outputs: { y: { node: 'y', dtype: 'float32', shape: [-1] } },
  });
}

/** Two named inputs, two named outputs (layers): signal [5] -> signal_sum, sensor [2,2] -> sensor_sum. */
export async function writeSensors(dir: string): Promise<void> {
  const signal = tf.input({ name: 'signal', shape: [5] });
  const sensor = tf.input({ name: 'sensor', shape: [2, 2] });
  const sum = (name: string) =>
    tf.layers.dense({ name, units: 1, useBias: false, kernelInitializer: 'ones' });
  const flat = tf.layers.flatten({ name: 'sensor_flat' }).apply(sensor) as tf.SymbolicTensor;
  const model = tf.model({
    name: 'sensors',
    inputs: [signal, sensor],
    outputs: [
      sum('signal_sum').apply(signal) as tf.SymbolicTensor,
      sum('sensor_sum').apply(flat) as tf.SymbolicTensor,
    ],
  });
  await saveLayersModel(model, dir);
}

/**
 * The V2 spec's example model: input0 int32 [-1,2], input1 bool [-1];
 * output0 = float(input1)[:, None] + column sums of input0 -> [len(input1), 2] float32;
 * output1 = input0 unchanged (int32), to check INT32 outputs and output selection.
 */
export async function writeMyModel(dir: string): Promise<void> {
  const int32 = (name: string, values: number[]) => ({
    name,
    tensor: tf.tensor1d(values, 'int32'),
  });
  const weights = [int32('axis0', [0]), int32('column', [-1, 1])];
  const cast = (name: string, input: string, from: string) => ({
    name,
    op: 'Cast',
    input: [input],
    attr: { SrcT: { type: from }, DstT: { type: 'DT_FLOAT' } },
  });
  await saveGraphModel(dir, {
    nodes: [
      graphOps.placeholder('input0', 'int32', [-1, 2]),
      graphOps.placeholder('input1', 'bool', [-1]),
      ...weights.map(graphOps.weight),
      cast('input0_float', 'input0', 'DT_INT32'),
      cast('input1_float', 'input1', 'DT_BOOL'),
      graphOps.op('column_sums', 'Sum', ['input0_float', 'axis0'], { keep_dims: { b: true } }),
      graphOps.op('input1_column', 'Reshape', ['input1_float', 'column']),
      graphOps.op('output0', 'AddV2', ['input1_column', 'column_sums']),
      graphOps.op('output1', 'Identity', ['input0'], { T: { type: 'DT_INT32' } }),
    ],
    weights,
    inputs: {
      input0: { node: 'input0', dtype: 'int32', shape: [-1, 2] },
      input1: { node: 'input1', dtype: 'bool', shape: [-1] },
    },
    outputs: {
      output0: { node: 'output0', dtype: 'float32', shape: [-1, 2] },
      output1: { node: 'output1', dtype: 'int32', shape: [-1, 2] },
    },
  });
}

/**
 * x [1,2] -> x * [factor, 10 * factor]: a fixed batch of 1, like MoveNet's [1,192,192,3], so a
 * request of n rows runs as n chunks with an await between each. A hot swap that freed the
 * weights under a running request would break it between two chunks.
 */
export async function writeScaler(dir: string, factor: number): Promise<void> {
  const scale = { name: 'scale', tensor: tf.tensor1d([factor, 10 * factor]) };
  await saveGraphModel(dir, {
    nodes: [
      graphOps.placeholder('x', 'float32', [1, 2]),
      graphOps.weight(scale),
      graphOps.op('scaled', 'Mul', ['x', 'scale']),
      graphOps.op('y', 'Identity', ['scaled']),
    ],
    weights: [scale],
    inputs: { x: { node: 'x', dtype: 'float32', shape: [1, 2] } },
    outputs: { y: { node: 'y', dtype: 'float32', shape: [1, 2] } },
  });
}

/** A temporary repository with the shipped models plus the reference fixtures. */
export async function makeProtocolRepository(): Promise<string> {
  const root = mkdtempSync(join(tmpdir(), 'protocol-repo-'));
  cpSync(SHIPPED_MODELS, root, { recursive: true });
  await writeHalfPlusThree(join(root, 'half_plus_three', '123'));
  await writeSensors(join(root, 'sensors', '1'));
  await writeMyModel(join(root, 'mymodel', '1'));
  return root;
}

export function removeRepository(root: string | undefined): void {
  if (root) rmSync(root, { recursive: true, force: true });
}
