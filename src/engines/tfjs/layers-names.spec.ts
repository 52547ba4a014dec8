import * as tf from '@tensorflow/tfjs';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ModelSignature } from '../../tensor/signature';
import { layersTensorNames, withTopologyNames } from './layers-names';
import { quietTfjs } from './tfjs-backend';

/** The `modelTopology` TF.js writes for a model, captured without touching the disk. */
async function topologyOf(model: tf.LayersModel): Promise<unknown> {
  let topology: unknown;
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      topology = artifacts.modelTopology;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  return topology;
}

const unnamedSequential = () =>
  tf.sequential({ layers: [tf.layers.dense({ units: 2, inputShape: [3] })] });

describe(layersTensorNames.name, () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
    quietTfjs();
  });

  it("should name an unnamed Sequential's input after its first layer, as Keras does", async () => {
    const model = unnamedSequential();
    const first = model.layers[0].name; // e.g. dense_Dense1: the name saved in model.json
    expect(layersTensorNames(await topologyOf(model))).toEqual({
      inputs: [`${first}_input`],
      outputs: [first],
    });
  });

  it('should give two identical models loaded one after the other the same names', async () => {
    const topology = await topologyOf(unnamedSequential());
    const artifacts = (t: unknown) => tf.io.fromMemory({ modelTopology: t as tf.io.ModelJSON });
    // Each load bumps TF.js's global counters: the deserialised models disagree on names...
    const a = await tf.loadLayersModel(artifacts(topology));
    const b = await tf.loadLayersModel(artifacts(topology));
    expect(a.inputs[0].name).not.toEqual(b.inputs[0].name);
    // ...while the names read from the files are one and the same.
    expect(layersTensorNames(topology)).toEqual(layersTensorNames(structuredClone(topology)));
    expect(layersTensorNames(topology)?.inputs[0]).toMatch(/_input$/);
    a.dispose();
    b.dispose();
  });

  it('should read input_layers and output_layers of a functional model, in order', async () => {
    const x = tf.input({ name: 'x', shape: [2] });
    const z = tf.input({ name: 'z', shape: [1] });
    const joined = tf.layers.concatenate().apply([z, x]) as tf.SymbolicTensor;
    const sum = tf.layers.dense({ name: 'sum', units: 1 }).apply(joined) as tf.SymbolicTensor;
    const twice = tf.layers.dense({ name: 'twice', units: 1 }).apply(z) as tf.SymbolicTensor;
    const model = tf.model({ inputs: [z, x], outputs: [twice, sum] });
    expect(layersTensorNames(await topologyOf(model))).toEqual({
      inputs: ['z', 'x'],
      outputs: ['twice', 'sum'],
    });
  });

  it("should read a shipped model's model.json as written on disk", () => {
    const json = JSON.parse(
      readFileSync(join(__dirname, '../../../models/iris/2/model.json'), 'utf8'),
    ) as { modelTopology: unknown };
    expect(layersTensorNames(json.modelTopology)).toEqual({
      inputs: ['features'],
      outputs: ['probabilities'],
    });
  });

  it("should read tensorflowjs_converter's Keras layout (model_config) and Keras 3's forms", () => {
    const keras3Sequential = {
      class_name: 'Sequential',
      config: {
        name: 'sequential',
        layers: [
          { class_name: 'InputLayer', config: { name: 'pixels', batch_shape: [null, 4] } },
          { class_name: 'Dense', config: { name: 'dense', units: 1 } },
          { class_name: 'Dense', config: { name: 'score', units: 1 } },
        ],
      },
    };
    expect(layersTensorNames({ model_config: keras3Sequential, keras_version: '3.0' })).toEqual({
      inputs: ['pixels'],
      outputs: ['score'],
    });
    // Keras 2.0 wrote a Sequential's config as the bare list of its layers.
    expect(
      layersTensorNames({
        class_name: 'Sequential',
        config: [{ class_name: 'Dense', config: { name: 'd', batch_input_shape: [null, 1] } }],
      }),
    ).toEqual({ inputs: ['d_input'], outputs: ['d'] });
    // Keras 3 writes a single endpoint bare, not as a list of one.
    expect(
      layersTensorNames({
        class_name: 'Functional',
        config: { input_layers: ['in', 0, 0], output_layers: [['out', 0, 0]] },
      }),
    ).toEqual({ inputs: ['in'], outputs: ['out'] });
  });

  it('should give up on topologies it does not understand', () => {
    expect(layersTensorNames(undefined)).toBeUndefined();
    expect(layersTensorNames({ node: [] })).toBeUndefined();
    expect(layersTensorNames({ class_name: 'Sequential', config: { layers: [] } })).toBeUndefined();
    expect(layersTensorNames({ class_name: 'Model', config: { input_layers: [[1, 0, 0]] } })).toBe(
      undefined,
    );
  });
});

describe(withTopologyNames.name, () => {
  const signature: ModelSignature = {
    inputs: [{ name: 'dense_Dense1_input_7', dtype: 'float32', shape: [-1, 3] }],
    outputs: [{ name: 'dense_Dense1', dtype: 'float32', shape: [-1, 2] }],
  };
  const topology = {
    class_name: 'Sequential',
    config: { layers: [{ class_name: 'Dense', config: { name: 'dense_Dense1' } }] },
  };

  it('should rename position by position and keep dtypes and shapes', () => {
    expect(withTopologyNames(signature, topology)).toEqual({
      inputs: [{ name: 'dense_Dense1_input', dtype: 'float32', shape: [-1, 3] }],
      outputs: [{ name: 'dense_Dense1', dtype: 'float32', shape: [-1, 2] }],
    });
  });

  it('should keep the signature when the topology lists a different number of names', () => {
    const twoInputs = {
      class_name: 'Model',
      config: {
        input_layers: [
          ['a', 0, 0],
          ['b', 0, 0],
        ],
        output_layers: [['y', 0, 0]],
      },
    };
    expect(withTopologyNames(signature, twoInputs)).toBe(signature);
    expect(withTopologyNames(signature, { node: [] })).toBe(signature);
  });

  it('should keep the signature when the topology names two tensors alike', () => {
    const twoOutputs: ModelSignature = {
      inputs: signature.inputs,
      outputs: [signature.outputs[0], { ...signature.outputs[0], name: 'other' }],
    };
    const clash = {
      class_name: 'Model',
      config: {
        input_layers: [['a', 0, 0]],
        output_layers: [
          ['y', 0, 0],
          ['y', 0, 0],
        ],
      },
    };
    expect(withTopologyNames(twoOutputs, clash)).toBe(twoOutputs);
  });
});
