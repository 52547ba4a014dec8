import { execFile, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Enum, Namespace, type ReflectionObject } from 'protobufjs';
import { modelConfigDescriptor } from '../src/core/model-config/model-config-proto';
import { parseTextFormat } from '../src/core/model-config/pbtxt';
import { PROTOS_DIR } from '../src/edge/grpc/protos';

const PYTHON = '/usr/bin/python3';
const CONFIGS = join(__dirname, 'fixtures', 'triton-configs');
const files = readdirSync(CONFIGS)
  .filter((name) => name.endsWith('.pbtxt'))
  .map((name) => join(CONFIGS, name));

/** Debian's python3-protobuf and python3-grpc-tools (.ci/run installs them; CI must run this). */
const hasProtobuf =
  existsSync(PYTHON) &&
  spawnSync(PYTHON, ['-c', 'import grpc_tools, google.protobuf']).status === 0;
const describeIfPython = hasProtobuf || process.env.CI ? describe : describe.skip;

/** Names of every enum value 0 in model_config.proto: protobuf's JSON leaves them out. */
function zeroEnumValues(): Set<string> {
  const names = new Set<string>();
  const walk = (object: ReflectionObject) => {
    if (object instanceof Enum) {
      for (const [name, number] of Object.entries(object.values)) if (number === 0) names.add(name);
    }
    if (object instanceof Namespace) object.nestedArray.forEach(walk);
  };
  walk((modelConfigDescriptor() as unknown as ReflectionObject).root);
  return names;
}

/**
 * One message in one spelling: fields at their default dropped (protobuf's JSON mapping omits
 * them, while this parser keeps what was written), 64-bit integers that a double holds as numbers
 * (protobuf writes them as strings), keys sorted.
 */
function canonical(value: unknown, zeroEnums: Set<string>): unknown {
  if (Array.isArray(value)) return value.map((item) => canonical(item, zeroEnums));
  if (value !== null && typeof value === 'object') {
    const kept = Object.entries(value)
      .map(([key, item]) => [key, canonical(item, zeroEnums)] as const)
      .filter(
        ([, item]) =>
          !(item === 0 || item === '' || item === false) &&
          !(Array.isArray(item) && item.length === 0) &&
          !(typeof item === 'string' && zeroEnums.has(item)),
      )
      .sort(([a], [b]) => (a < b ? -1 : 1));
    return Object.fromEntries(kept);
  }
  if (typeof value === 'string' && /^-?\d+$/.test(value) && Number.isSafeInteger(Number(value)))
    return Number(value);
  return value;
}

/**
 * Triton's own configurations (test/fixtures/triton-configs, copied verbatim from its repository),
 * read by this server's text-format parser and by protobuf's reference parser: the same message,
 * field for field, and no field reported unknown.
 */
describeIfPython("Triton's own config.pbtxt files, against protobuf's text_format (e2e)", () => {
  let reference: Record<string, unknown>;
  const zeroEnums = zeroEnumValues();

  beforeAll(async () => {
    const { stdout } = await promisify(execFile)(
      PYTHON,
      [join(__dirname, 'grpc', 'triton-configs.py'), join(PROTOS_DIR, 'triton'), ...files],
      { timeout: 60_000 },
    );
    reference = JSON.parse(stdout) as Record<string, unknown>;
  }, 90_000);

  it('should have the example repository and the chosen QA configurations to read', () => {
    expect(files.length).toBeGreaterThanOrEqual(13);
    expect(Object.keys(reference).sort()).toEqual([...files].sort());
  });

  it.each(files.map((file) => [file.slice(CONFIGS.length + 1)]))(
    '%s should read as protobuf reads it',
    (name) => {
      const file = join(CONFIGS, name);
      const { message, unknown } = parseTextFormat(
        readFileSync(file, 'utf8'),
        modelConfigDescriptor(),
      );
      expect(unknown).toEqual([]);
      expect(canonical(message, zeroEnums)).toEqual(canonical(reference[file], zeroEnums));
    },
  );
});
