import type { AppConfig, VersionPolicy } from '../../config/app-config';
import { engineOfPlatform } from '../../engines/registry';
import { TRITON_DATA_TYPES } from '../../tensor/dtypes';
import { FREE_DIM, formatShape, ModelSignature, TensorSpec } from '../../tensor/signature';
import type {
  DynamicBatchingConfig,
  InstanceGroupConfig,
  ModelConfig,
  TensorConfig,
  VersionPolicyConfig,
} from './model-config';

/** What auto-complete writes where a configuration says nothing: the server-wide settings. */
export interface ConfigDefaults {
  /** BATCH_MAX_SIZE: max_batch_size of a model whose requests are merged. */
  maxBatchSize: number;
  /** BATCH_TIMEOUT_MS, written as dynamic_batching.max_queue_delay_microseconds. */
  queueDelayMs: number;
  /** INFERENCE_THREADS: instance_group count. */
  threads: number;
  /** MODEL_VERSION_POLICY. */
  versionPolicy: VersionPolicy;
}

export const configDefaults = (config: AppConfig): ConfigDefaults => ({
  maxBatchSize: config.BATCH_MAX_SIZE,
  queueDelayMs: config.BATCH_TIMEOUT_MS,
  threads: config.INFERENCE_THREADS,
  versionPolicy: config.MODEL_VERSION_POLICY,
});

/** What a loaded model tells about itself, from which its configuration is completed and checked. */
export interface LoadedModelFacts {
  /** The model's folder name. */
  name: string;
  platform: string;
  /** The model's own signature, as its engine reads it. */
  signature: ModelSignature;
  /** Every input has a free batch dimension and every output's first dimension follows it. */
  batchMajor: boolean;
  /** metadata.json's `batching` is not false. */
  batchingAllowed: boolean;
}

/** The shape a tensor has inside the model when clients see another (Triton's `reshape`). */
export interface Reshape {
  /** What clients send or get, the batch dimension included when the model has one. */
  client: number[];
  /** What the model takes or gives, likewise. */
  model: number[];
}

/** What a user's configuration asks of requests beyond the signature, and how it reshapes tensors. */
export interface ConfiguredShapes {
  /** Inputs and outputs whose shape the model has differently (`reshape`), by name. */
  inputs: Map<string, Reshape>;
  outputs: Map<string, Reshape>;
  /** max_batch_size 0 in a user's config: requests must have the full shape, first dimension included. */
  fullShapes: boolean;
  /** A max_batch_size above 0 the user wrote: the most rows a request may hold, as in Triton. */
  maxRows?: number;
  /** The file the rules come from, for messages. */
  file: string;
}

/** The configuration a model serves under, and what it changes about the model as clients see it. */
export interface EffectiveConfig {
  config: ModelConfig;
  /** The signature clients see: the config's dims (batch dimension first when it has one). */
  signature: ModelSignature;
  /** Undefined without a user configuration: requests are then taken as the model takes them. */
  shapes?: ConfiguredShapes;
  /** Whether requests of this model are merged into batches (dynamic_batching is there). */
  batchable: boolean;
}

/** A configuration that contradicts the model file, or itself: only that model fails to load. */
export class ModelConfigError extends Error {}

/** Triton's DataType of a dtype (TYPE_FP32 for float32). */
export const tritonDataType = (dtype: string) => TRITON_DATA_TYPES[dtype] ?? dtype;

const versionPolicyOf = (policy: VersionPolicy): VersionPolicyConfig =>
  policy === 'all' ? { all: {} } : { latest: { num_versions: 1 } };

/**
 * The versions a model folder's configuration serves, checked and completed: its
 * version_policy (`latest {}` is the highest version, as in Triton), else MODEL_VERSION_POLICY.
 * The repository reads it before loading, to choose the versions to load.
 */
export function versionPolicyOfConfig(
  user: { config: ModelConfig; file: string } | undefined,
  fallback: VersionPolicy,
): VersionPolicyConfig {
  const policy = user?.config.version_policy;
  if (policy === undefined || Object.keys(policy).length === 0) return versionPolicyOf(fallback);
  const fail = (field: string, reason: string): never => {
    throw new ModelConfigError(`${user!.file}: field 'version_policy.${field}': ${reason}`);
  };
  if ('latest' in policy) {
    const latest = { num_versions: policy.latest.num_versions ?? 1 };
    if (latest.num_versions < 1) {
      fail('latest.num_versions', `${latest.num_versions}; serve at least 1 version`);
    }
    return { ...policy, latest };
  }
  if ('specific' in policy && !(policy.specific.versions?.length > 0)) {
    fail('specific.versions', 'empty; list the versions to serve');
  }
  return policy;
}

/** Triton's `backend` name for a model of this platform (onnxruntime for ONNX). */
export function configBackendOf(platform: string): string {
  const engine = engineOfPlatform(platform);
  return engine?.configBackend ?? engine?.id ?? platform;
}

const isFree = (dim: number) => dim === FREE_DIM;

/** Whether two shapes agree dimension by dimension, -1 on either side matching anything. */
const shapesAgree = (a: readonly number[], b: readonly number[]) =>
  a.length === b.length && a.every((dim, i) => isFree(dim) || isFree(b[i]) || dim === b[i]);

/** The more specific of two agreeing shapes: a number where either has one. */
const narrowest = (a: readonly number[], b: readonly number[]) =>
  a.map((dim, i) => (isFree(dim) ? b[i] : dim));

const fixedCount = (shape: readonly number[]) =>
  shape.filter((dim) => !isFree(dim)).reduce((a, b) => a * b, 1);

/**
 * Completes and checks a model's configuration against the model its file holds (Triton's
 * auto-complete, then its checks), once the model loaded. Without a user configuration the
 * result describes the model as it serves anyway and changes nothing about it; with one, the
 * config's dims become the signature clients see and any `reshape` is applied around the
 * engine. Throws a ModelConfigError naming `file` and the field when they contradict each other.
 */
export function effectiveConfig(
  facts: LoadedModelFacts,
  defaults: ConfigDefaults,
  user?: { config: ModelConfig; file: string },
): EffectiveConfig {
  return new ConfigCompletion(facts, defaults, user).complete();
}

type TensorKind = 'input' | 'output';

class ConfigCompletion {
  private readonly given: ModelConfig;
  private readonly file: string;
  private readonly reshapes = {
    inputs: new Map<string, Reshape>(),
    outputs: new Map<string, Reshape>(),
  };

  constructor(
    private readonly facts: LoadedModelFacts,
    private readonly defaults: ConfigDefaults,
    private readonly user?: { config: ModelConfig; file: string },
  ) {
    this.given = user?.config ?? ({} as ModelConfig);
    this.file = user?.file ?? 'the auto-completed configuration';
  }

  private fail(field: string, reason: string): never {
    throw new ModelConfigError(`${this.file}: field '${field}': ${reason}`);
  }

  complete(): EffectiveConfig {
    const { facts, given } = this;
    this.checkIdentity();
    const maxBatchSize = this.maxBatchSize();
    const input = this.tensors('input', facts.signature.inputs, maxBatchSize);
    const output = this.tensors('output', facts.signature.outputs, maxBatchSize);
    const dynamicBatching = this.dynamicBatching(maxBatchSize);
    const config: ModelConfig = {
      ...given,
      name: facts.name,
      platform: facts.platform,
      backend: configBackendOf(facts.platform),
      version_policy: this.versionPolicy(),
      max_batch_size: maxBatchSize,
      input: input.map((t) => t.config),
      output: output.map((t) => t.config),
      instance_group: this.instanceGroups(),
    };
    if (dynamicBatching) config.dynamic_batching = dynamicBatching;
    const batchable = dynamicBatching !== undefined;
    if (!this.user) return { config, signature: facts.signature, batchable };
    return {
      config,
      signature: { inputs: input.map((t) => t.spec), outputs: output.map((t) => t.spec) },
      shapes: {
        ...this.reshapes,
        fullShapes: maxBatchSize === 0,
        // Only a max_batch_size the user wrote limits requests: BATCH_MAX_SIZE sizes batches.
        maxRows: (given.max_batch_size ?? 0) > 0 ? given.max_batch_size : undefined,
        file: this.file,
      },
      batchable,
    };
  }

  private checkIdentity(): void {
    const { given, facts } = this;
    if (given.name && given.name !== facts.name) {
      this.fail('name', `'${given.name}' differs from the model's folder name '${facts.name}'`);
    }
    if (given.platform && given.platform !== facts.platform) {
      this.fail(
        'platform',
        `'${given.platform}' is not this model's platform: its model file is served as '${facts.platform}'`,
      );
    }
    const backend = configBackendOf(facts.platform);
    if (given.backend && given.backend !== backend) {
      this.fail(
        'backend',
        `'${given.backend}' is not this model's backend: its model file is run by '${backend}'`,
      );
    }
  }

  /**
   * The config's max_batch_size, checked: above 0 the model must take batches of any size (a
   * free first dimension everywhere, outputs following it). Auto-completed as BATCH_MAX_SIZE
   * for such a model whose requests may be merged, 0 (the full shape in dims) otherwise.
   */
  private maxBatchSize(): number {
    const { facts } = this;
    const given = this.given.max_batch_size;
    const free = [...facts.signature.inputs, ...facts.signature.outputs].find(
      (spec) => spec.shape.length === 0 || !isFree(spec.shape[0]),
    );
    if (given === undefined) {
      const batched = facts.batchMajor && facts.batchingAllowed && free === undefined;
      return batched ? this.defaults.maxBatchSize : 0;
    }
    if (given < 0)
      this.fail(
        'max_batch_size',
        `${given} is negative; give 0 (no batch dimension) or the most rows per batch`,
      );
    if (given > 0) {
      if (free) {
        this.fail(
          'max_batch_size',
          `${given} means dims exclude a batch dimension, but the model's ${facts.signature.inputs.includes(free) ? 'input' : 'output'} '${free.name}' is ${formatShape(free.shape)}, without a free first dimension; set max_batch_size: 0 and give the full shape in dims`,
        );
      }
      if (!facts.batchMajor) {
        this.fail(
          'max_batch_size',
          `${given} means requests' rows may be batched, but the model's outputs do not follow its batch dimension (a batch of 2 rows does not give 2 rows); set max_batch_size: 0`,
        );
      }
    }
    return given;
  }

  /**
   * The config's entries of one kind, checked against the model's tensors and completed by
   * them (a tensor the config does not list is added, as auto-complete adds it), with the
   * TensorSpec each gives clients.
   */
  private tensors(
    kind: TensorKind,
    specs: TensorSpec[],
    maxBatchSize: number,
  ): { config: TensorConfig; spec: TensorSpec }[] {
    const listed = this.given[kind] ?? [];
    const seen = new Set<string>();
    const result = listed.map((entry, i) => {
      const field = `${kind}[${i}]`;
      if (!entry.name)
        this.fail(
          `${field}.name`,
          `missing; name one of the model's ${kind}s: ${specs.map((s) => `'${s.name}'`).join(', ')}`,
        );
      const spec = specs.find((s) => s.name === entry.name);
      if (!spec) {
        this.fail(
          `${field}.name`,
          `'${entry.name}' is not an ${kind} of the model; its ${kind}s are ${specs.map((s) => `'${s.name}' ${formatShape(s.shape)}`).join(', ')}`,
        );
      }
      if (seen.has(entry.name)) this.fail(`${field}.name`, `'${entry.name}' is listed twice`);
      seen.add(entry.name);
      return this.tensor(kind, field, entry, spec, maxBatchSize);
    });
    for (const spec of specs.filter((s) => !seen.has(s.name))) {
      result.push(
        this.tensor(
          kind,
          `${kind}[${result.length}]`,
          { name: spec.name } as TensorConfig,
          spec,
          maxBatchSize,
        ),
      );
    }
    return result;
  }

  private tensor(
    kind: TensorKind,
    field: string,
    entry: TensorConfig,
    spec: TensorSpec,
    maxBatchSize: number,
  ): { config: TensorConfig; spec: TensorSpec } {
    const dataType = tritonDataType(spec.dtype);
    if (entry.data_type !== undefined && entry.data_type !== dataType) {
      this.fail(
        `${field}.data_type`,
        `${entry.data_type} differs from the model's ${kind} '${spec.name}', which is ${dataType} (${spec.dtype})`,
      );
    }
    const batch = maxBatchSize > 0 ? [FREE_DIM] : [];
    // The model's shape as the config's dims count it: without the batch dimension when it has one.
    const inner = maxBatchSize > 0 ? spec.shape.slice(1) : spec.shape;
    const described = `the model's ${kind} '${spec.name}' is ${formatShape(spec.shape)}${maxBatchSize > 0 ? `, ${formatShape(inner)} after the batch dimension (max_batch_size ${maxBatchSize})` : ' (max_batch_size 0: dims are the full shape)'}`;
    const reshape = entry.reshape?.shape;
    const dims = entry.dims ?? reshape ?? inner;
    if (reshape !== undefined) {
      if (!shapesAgree(reshape, inner))
        this.fail(`${field}.reshape.shape`, `${formatShape(reshape)} does not match: ${described}`);
      const frees = (shape: number[]) => shape.filter(isFree).length;
      if (
        frees(dims) !== frees(reshape) ||
        (frees(dims) === 0 && fixedCount(dims) !== fixedCount(reshape)) ||
        frees(dims) > 1
      ) {
        this.fail(
          `${field}.reshape.shape`,
          `${formatShape(reshape)} cannot hold the elements of dims ${formatShape(dims)}: both need the same number of elements (at most one -1 each)`,
        );
      }
      const model = [...batch, ...narrowest(reshape, inner)];
      const client = [...batch, ...dims];
      if (formatShape(model) !== formatShape(client)) {
        this.reshapes[kind === 'input' ? 'inputs' : 'outputs'].set(spec.name, { client, model });
      }
    } else if (!shapesAgree(dims, inner)) {
      this.fail(`${field}.dims`, `${formatShape(dims)} does not match: ${described}`);
    }
    const clientDims = reshape !== undefined ? dims : narrowest(dims, inner);
    return {
      config: { ...entry, name: spec.name, data_type: dataType, dims: [...dims] },
      spec: { name: spec.name, dtype: spec.dtype, shape: [...batch, ...clientDims] },
    };
  }

  /**
   * Present when requests are merged: given with max_batch_size > 0, or auto-completed for a
   * batch-major model that schedules nothing else (as Triton's auto-complete turns it on).
   */
  private dynamicBatching(maxBatchSize: number): DynamicBatchingConfig | undefined {
    const given = this.given.dynamic_batching;
    const delay = { max_queue_delay_microseconds: this.defaults.queueDelayMs * 1000 };
    if (given !== undefined) {
      if (maxBatchSize === 0)
        this.fail(
          'dynamic_batching',
          'needs max_batch_size > 0: a model without a batch dimension runs request by request',
        );
      if (!this.facts.batchingAllowed)
        this.fail(
          'dynamic_batching',
          `contradicts metadata.json's "batching": false; keep one of them`,
        );
      return { ...delay, ...given };
    }
    const otherScheduler = ['sequence_batching', 'ensemble_scheduling'].some(
      (f) => this.given[f] !== undefined,
    );
    if (maxBatchSize > 0 && this.facts.batchingAllowed && !otherScheduler) return delay;
    return undefined;
  }

  private instanceGroups(): InstanceGroupConfig[] {
    const groups = this.given.instance_group ?? [{}];
    return groups.map((group, i) => {
      const field = `instance_group[${i}]`;
      const kind = group.kind ?? 'KIND_CPU';
      if (kind !== 'KIND_CPU' && kind !== 'KIND_AUTO') {
        this.fail(
          `${field}.kind`,
          `${kind}: this server runs models on CPU threads only; use KIND_CPU`,
        );
      }
      if (group.count !== undefined && group.count < 1)
        this.fail(
          `${field}.count`,
          `${group.count}; give at least 1 (inference threads holding the model)`,
        );
      return { ...group, count: group.count ?? this.defaults.threads, kind: 'KIND_CPU' };
    });
  }

  private versionPolicy(): VersionPolicyConfig {
    return versionPolicyOfConfig(this.user, this.defaults.versionPolicy);
  }
}
