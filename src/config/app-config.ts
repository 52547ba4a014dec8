import { plainToInstance, Transform } from 'class-transformer';
import {
  IsBoolean,
  IsIn,
  IsInt,
  IsOptional,
  IsString,
  Matches,
  Max,
  Min,
  MinLength,
  validateSync,
} from 'class-validator';
import { describeProblem } from './config-problems';
import { usableCores } from './cpu-quota';

export const TFJS_BACKENDS = ['auto', 'tensorflow', 'wasm', 'cpu'] as const;
export type TfjsBackendChoice = (typeof TFJS_BACKENDS)[number];

export const VERSION_POLICIES = ['latest', 'all'] as const;
export type VersionPolicy = (typeof VERSION_POLICIES)[number];

/** How models are managed, as Triton's --model-control-mode (see modelControlMode). */
export const MODEL_CONTROL_MODES = ['none', 'poll', 'explicit'] as const;
export type ModelControlMode = (typeof MODEL_CONTROL_MODES)[number];

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export const LOG_FORMATS = ['auto', 'json', 'pretty'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

const toInt = ({ value }: { value: unknown }) =>
  typeof value === 'string' && /^-?\d+$/.test(value.trim()) ? Number(value) : value;
const emptyToUndefined = ({ value }: { value: unknown }) => (value === '' ? undefined : value);

/**
 * The whole configuration of the server, read from environment variables once at boot.
 * Property names are the variable names so that a validation error names the variable to fix.
 */
export class AppConfig {
  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(65535)
  PORT = 3000;

  /** Loopback by default: a first `npm start` is not reachable from the network. Containers set 0.0.0.0. */
  @IsString()
  @MinLength(1)
  HOST = '127.0.0.1';

  /** Port (on HOST) for /metrics and /docs, which then leave PORT; 0 = off, they stay on PORT. */
  @Transform(toInt)
  @IsInt({ message: 'ADMIN_PORT must be an integer (0 = off)' })
  @Min(0, { message: 'ADMIN_PORT must be >= 0 (0 = off)' })
  @Max(65535, { message: 'ADMIN_PORT must be at most 65535' })
  ADMIN_PORT = 0;

  /** Port (on HOST) of the gRPC listener (V2 GRPCInferenceService, health, reflection); 8001 is Triton's; 0 = off. */
  @Transform(toInt)
  @IsInt({ message: 'GRPC_PORT must be an integer (0 = off)' })
  @Min(0, { message: 'GRPC_PORT must be >= 0 (0 = off)' })
  @Max(65535, { message: 'GRPC_PORT must be at most 65535' })
  GRPC_PORT = 8001;

  @IsString()
  @MinLength(1)
  MODEL_DIR = './models';

  @IsIn(TFJS_BACKENDS)
  TFJS_BACKEND: TfjsBackendChoice = 'auto';

  @Transform(emptyToUndefined)
  @IsOptional()
  @IsString()
  DEFAULT_MODEL?: string = undefined;

  /** Most instances accepted in one request; more is a 413. */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  MAX_BATCH = 1024;

  /** Largest accepted request body, in bytes or with a unit ("10mb"). The default admits a 224x224x3 float image as JSON. */
  @Matches(/^\d+(\.\d+)?\s*(b|kb|mb|gb)?$/i, {
    message: 'BODY_LIMIT must be a byte count, optionally with a unit such as "10mb"',
  })
  BODY_LIMIT = '10mb';

  @IsIn(VERSION_POLICIES)
  MODEL_VERSION_POLICY: VersionPolicy = 'latest';

  /**
   * true: a model that cannot load at boot stops the process (exit 1). false: the server starts
   * with the models that load and lists the others as failed, as hot reload does; it still
   * refuses to start when none loads.
   */
  @Transform(({ value }: { value: unknown }) =>
    typeof value === 'string' && /^(true|false)$/i.test(value.trim())
      ? value.trim().toLowerCase() === 'true'
      : value,
  )
  @IsBoolean({ message: 'STRICT_STARTUP must be true or false' })
  STRICT_STARTUP = true;

  /**
   * Inference threads per process, each holding its own copy of every model (copies = WORKERS x
   * INFERENCE_THREADS). Default: the cores this process may use, a cgroup CPU quota included.
   */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(256)
  INFERENCE_THREADS = usableCores().cores;

  /**
   * Threads that parse JSON bodies of 16 KiB or more, so the main thread (probes, signals, small
   * requests) never waits behind a big parse; 0 = parse every body on the main thread.
   */
  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(64)
  JSON_PARSE_THREADS = 1;

  /** Most rows merged into one batch per model version (Triton's max_batch_size); 1 = no merging. */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  BATCH_MAX_SIZE = 32;

  /** Longest a queued request waits for a fuller batch (TF Serving's batch_timeout_micros); 0 = never wait. */
  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(10000)
  BATCH_TIMEOUT_MS = 0;

  /** Server processes sharing the port (Node cluster). Each loads every model: N workers, N copies. */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(64)
  WORKERS = 1;

  /**
   * Hot reload: seconds between scans of MODEL_DIR (fractions allowed); new versions are loaded,
   * warmed and swapped in, removed ones unloaded once idle. 0 = off (models fixed at boot).
   */
  @Transform(({ value }) =>
    typeof value === 'string' && /^\d+(\.\d+)?$/.test(value.trim()) ? Number(value) : value,
  )
  @Min(0, { message: 'MODEL_POLL_SECONDS must be a number of seconds >= 0 (0 = off)' })
  @Max(86400, { message: 'MODEL_POLL_SECONDS must be at most 86400 (one day)' })
  MODEL_POLL_SECONDS = 0;

  /**
   * none: the models loaded at boot stay; poll: hot reload every MODEL_POLL_SECONDS; explicit: the
   * repository API (POST /v2/repository/models/{m}/load, /unload) loads and unloads them. Unset:
   * poll when MODEL_POLL_SECONDS > 0, else none (see modelControlMode).
   */
  @Transform(emptyToUndefined)
  @IsOptional()
  @IsIn(MODEL_CONTROL_MODES)
  MODEL_CONTROL_MODE?: ModelControlMode = undefined;

  /** explicit mode: the models loaded at boot, comma-separated (Triton's --load-model); unset or "*" = all. */
  @Transform(emptyToUndefined)
  @IsOptional()
  @Matches(/^\s*(\*|[^,\s]+(\s*,\s*[^,\s]+)*)\s*$/, {
    message: 'LOAD_MODELS must be a comma-separated list of model names, or "*" for all',
  })
  LOAD_MODELS?: string = undefined;

  /**
   * The key repository calls (index, load, unload) must send in the `admin-key` header (gRPC:
   * `triton-grpc-protocol-admin-key` or `admin-key` metadata), as Triton's restricted API. Unset:
   * not restricted, which explicit mode allows only on a loopback HOST.
   */
  @Transform(emptyToUndefined)
  @IsOptional()
  @IsString()
  @MinLength(16, {
    message: 'ADMIN_API_KEY must be at least 16 characters (e.g. openssl rand -hex 16)',
  })
  ADMIN_API_KEY?: string = undefined;

  /** Level of the JSON logs (pino): one line per request at info, 5xx at error. */
  @IsIn(LOG_LEVELS)
  LOG_LEVEL: LogLevel = 'info';

  /** json: one JSON object per line, for collectors; pretty: readable text; auto: pretty on a terminal. */
  @IsIn(LOG_FORMATS)
  LOG_FORMAT: LogFormat = 'auto';

  /** Concurrent requests that can reach a model (all but /health, /metrics, /docs); more get 503 + Retry-After. 0 = no limit. */
  @Transform(toInt)
  @IsInt()
  @Min(0)
  MAX_INFLIGHT = 64;

  /**
   * Requests whose body is still arriving (uploads do not count against MAX_INFLIGHT); more get
   * 503 + Retry-After before their body is read. Unset: 4 x MAX_INFLIGHT (see maxUploads). 0 = no limit.
   */
  @Transform(({ value }: { value: unknown }) => (value === '' ? undefined : toInt({ value })))
  @IsOptional()
  @IsInt()
  @Min(0)
  MAX_UPLOADS?: number = undefined;

  /** Longest silence while a request body arrives: then 408 and the connection is closed. 0 = no limit. */
  @Transform(toInt)
  @IsInt()
  @Min(0)
  BODY_READ_TIMEOUT_MS = 10000;

  /** Longest a connection may take to send a request's headers (Node's headersTimeout): then 408 and closed. 0 = no limit. */
  @Transform(toInt)
  @IsInt()
  @Min(0)
  HEADERS_TIMEOUT_MS = 10000;

  /** Longest a client waits, from its first byte to its answer (queue and inference included): 408 if the body is still arriving, else 504. 0 = no limit. */
  @Transform(toInt)
  @IsInt()
  @Min(0)
  REQUEST_TIMEOUT_MS = 30000;

  /** On SIGTERM/SIGINT: how long in-flight requests may take to finish before their connections are cut. */
  @Transform(toInt)
  @IsInt()
  @Min(0)
  SHUTDOWN_TIMEOUT_MS = 10000;

  /** On SIGTERM: how long to keep accepting connections (readiness already 503) while load balancers stop routing here. SIGINT skips it. */
  @Transform(toInt)
  @IsInt()
  @Min(0)
  SHUTDOWN_DELAY_MS = 5000;

  /** Deepest nesting of arrays/objects accepted in a JSON body; deeper is a 400 before parsing. */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  JSON_MAX_DEPTH = 32;

  /** Most values (numbers, strings, arrays, objects) accepted in a JSON body; more is a 413 before parsing. */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  JSON_MAX_ELEMENTS = 2_000_000;

  /** Most keys in one JSON object; more is a 400 before parsing (requests name a few fields). */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  JSON_MAX_KEYS = 1000;

  /**
   * Most JSON values a body may hold besides its numeric tensors (arrays of 256 numbers or more
   * count as one value): each costs the main thread a copy from the parse thread. 413 above.
   */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  JSON_MAX_VALUES = 50_000;

  /**
   * Most pixels (width x height, read from the header before decoding) accepted in one uploaded
   * image; more is a 400. A decompression-bomb guard: a tiny PNG can claim 30000x30000. The
   * default admits a 24-megapixel photo (6000x4000).
   */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(268_402_689, { message: "IMAGE_MAX_PIXELS must be at most 268402689 (libvips' own limit)" })
  IMAGE_MAX_PIXELS = 25_000_000;

  /**
   * Most pixels in all the images of one request, read from their headers before any decode
   * (413 above); an interlaced PNG or progressive JPEG counts 4x. Unset: 4 x IMAGE_MAX_PIXELS,
   * one image at the per-image limit even when progressive (see maxTotalPixels).
   */
  @Transform((arg) => toInt({ value: emptyToUndefined(arg) }))
  @IsOptional()
  @IsInt()
  @Min(1)
  IMAGE_MAX_TOTAL_PIXELS?: number = undefined;

  /**
   * ONNX Runtime's intra-op threads per session (one session per model version per inference
   * thread). 0 = automatic: the cores divided by the inference threads, at least 1 (see
   * ortIntraOpThreads).
   */
  @Transform(toInt)
  @IsInt({ message: 'ORT_INTRA_OP_THREADS must be an integer (0 = automatic)' })
  @Min(0, { message: 'ORT_INTRA_OP_THREADS must be >= 0 (0 = automatic)' })
  @Max(256, { message: 'ORT_INTRA_OP_THREADS must be at most 256' })
  ORT_INTRA_OP_THREADS = 0;

  /** Origins allowed by CORS: empty = CORS off (same origin only), "*" = any, else a comma-separated list. */
  @IsString()
  CORS_ORIGINS = '';
}

/**
 * Most uploads at once: MAX_UPLOADS, else a few times MAX_INFLIGHT, so that the clients a full
 * MAX_INFLIGHT can serve next are already sending their bodies. No MAX_INFLIGHT, no default bound.
 */
export function maxUploads(config: AppConfig): number {
  return config.MAX_UPLOADS ?? 4 * config.MAX_INFLIGHT;
}

/** The control mode MODEL_CONTROL_MODE names, else the one today's MODEL_POLL_SECONDS implies. */
export function modelControlMode(config: AppConfig): ModelControlMode {
  return config.MODEL_CONTROL_MODE ?? (config.MODEL_POLL_SECONDS > 0 ? 'poll' : 'none');
}

/** The models LOAD_MODELS names, or undefined for all of them. */
export function modelsToLoad(config: AppConfig): string[] | undefined {
  const list = config.LOAD_MODELS?.split(',').map((name) => name.trim());
  return list === undefined || list.includes('*') ? undefined : [...new Set(list)];
}

/** Whether HOST only accepts connections from this machine. */
export function isLoopbackHost(host: string): boolean {
  return /^(localhost|127(\.\d{1,3}){3}|::1|\[::1\]|::ffff:127(\.\d{1,3}){3})$/i.test(host.trim());
}

/** Why the control settings do not fit together, if they do not. */
function controlProblem(config: AppConfig): string | undefined {
  const mode = config.MODEL_CONTROL_MODE;
  const poll = config.MODEL_POLL_SECONDS;
  if (mode === 'poll' && poll === 0)
    return 'MODEL_CONTROL_MODE=poll needs MODEL_POLL_SECONDS > 0 (seconds between scans of MODEL_DIR)';
  if ((mode === 'none' || mode === 'explicit') && poll > 0)
    return `MODEL_CONTROL_MODE=${mode} does not poll MODEL_DIR; unset MODEL_POLL_SECONDS (${poll}), or set MODEL_CONTROL_MODE=poll`;
  if (config.LOAD_MODELS !== undefined && modelControlMode(config) !== 'explicit')
    return `LOAD_MODELS applies to MODEL_CONTROL_MODE=explicit only (here ${modelControlMode(config)}, which loads every model)`;
  if (modelControlMode(config) === 'explicit' && config.WORKERS > 1)
    return `MODEL_CONTROL_MODE=explicit needs WORKERS=1 (here ${config.WORKERS}): each worker process holds its own models, and a load or unload call reaches only one of them`;
  if (
    modelControlMode(config) === 'explicit' &&
    !config.ADMIN_API_KEY &&
    !isLoopbackHost(config.HOST)
  )
    return `MODEL_CONTROL_MODE=explicit on HOST=${config.HOST} would let anyone who reaches the server load and unload models: set ADMIN_API_KEY (the key repository calls must send in the admin-key header), or listen on a loopback HOST (127.0.0.1)`;
  return undefined;
}

/** Thrown at boot when the environment does not make a valid configuration. */
export class ConfigError extends Error {}

/** Builds the typed configuration from an environment, or throws a ConfigError listing every bad variable. */
export function loadConfig(env: Record<string, string | undefined>): AppConfig {
  const known = Object.keys(new AppConfig());
  const defined = Object.fromEntries(
    known.filter((key) => env[key] !== undefined).map((key) => [key, env[key]]),
  );
  return validated(defined);
}

/** `MODEL_DIR` -> `modelDir`. */
type CamelCase<S extends string> = S extends `${infer Head}_${infer Tail}`
  ? `${Lowercase<Head>}${Capitalize<CamelCase<Tail>>}`
  : Lowercase<S>;

/**
 * The settings as a host app gives them to ModelServingModule.forRoot: each environment variable
 * in camelCase (`MODEL_DIR` -> `modelDir`), typed as the configuration holds it; one not given
 * takes the variable's default.
 */
export type ModelServingOptions = {
  [K in keyof AppConfig as CamelCase<K & string>]?: AppConfig[K];
};

const optionName = (variable: string) =>
  variable.toLowerCase().replace(/_([a-z0-9])/g, (_, next: string) => next.toUpperCase());

/**
 * The configuration from a host's options, validated as the environment is (the same checks and
 * defaults); an option that is not one is refused rather than silently ignored.
 */
export function configFromOptions(options: ModelServingOptions = {}): AppConfig {
  const variables = new Map(Object.keys(new AppConfig()).map((key) => [optionName(key), key]));
  const unknown = Object.keys(options).filter((name) => !variables.has(name));
  if (unknown.length > 0) {
    throw new ConfigError(
      `Invalid options: ${unknown.map((name) => `'${name}'`).join(', ')} is not an option; options: ${[...variables.keys()].join(', ')}`,
    );
  }
  const given = Object.entries(options).filter(([, value]) => value !== undefined);
  return validated(
    Object.fromEntries(given.map(([name, value]) => [variables.get(name), value])),
    optionName,
  );
}

/**
 * The environment's settings as options, values still as text: configFromOptions then reads them
 * exactly as loadConfig reads the environment (the standalone server is one host of the module).
 */
export function environmentOptions(env: Record<string, string | undefined>): ModelServingOptions {
  const known = Object.keys(new AppConfig()).filter((key) => env[key] !== undefined);
  return Object.fromEntries(known.map((key) => [optionName(key), env[key]])) as ModelServingOptions;
}

/** Validates settings keyed by variable name; `nameOf` says how the caller calls each. */
function validated(
  defined: Record<string, unknown>,
  nameOf: (variable: string) => string = (variable) => variable,
): AppConfig {
  const config = plainToInstance(AppConfig, defined);
  const errors = validateSync(config, { forbidUnknownValues: true });
  if (errors.length > 0) {
    const problems = errors.map((error) => {
      const problem = describeProblem(error);
      return problem.startsWith(error.property)
        ? `${nameOf(error.property)}${problem.slice(error.property.length)}`
        : problem;
    });
    throw new ConfigError(`Invalid configuration: ${problems.join('; ')}`);
  }
  if (config.ADMIN_PORT > 0 && config.ADMIN_PORT === config.PORT) {
    throw new ConfigError(
      `Invalid configuration: ADMIN_PORT must differ from PORT (both ${config.PORT}); 0 turns it off`,
    );
  }
  for (const [name, port] of [
    ['PORT', config.PORT],
    ['ADMIN_PORT', config.ADMIN_PORT],
  ] as const) {
    if (config.GRPC_PORT > 0 && config.GRPC_PORT === port) {
      throw new ConfigError(
        `Invalid configuration: GRPC_PORT must differ from ${name} (both ${port}); 0 turns it off`,
      );
    }
  }
  const problem = controlProblem(config);
  if (problem) throw new ConfigError(`Invalid configuration: ${problem}`);
  return config;
}
