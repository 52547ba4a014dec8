import type { ServiceDefinition } from '@grpc/grpc-js';
import { loadSync, type Options, type PackageDefinition } from '@grpc/proto-loader';
import { join } from 'node:path';

/** The vendored .proto files (protos/ at the repository root; see its README). */
export const PROTOS_DIR = join(__dirname, '..', '..', '..', 'protos');

/**
 * How messages look to handlers: field names as the .proto spells them (snake_case, as the
 * protocols' JSON does), int64 as numbers (shapes and INT64 contents, as HTTP's JSON gives
 * them), bytes as Buffers, enums as their names, unset scalars as their defaults, and a oneof's
 * chosen field named in a virtual field.
 */
export const PROTO_OPTIONS: Options = {
  keepCase: true,
  longs: Number,
  enums: String,
  defaults: true,
  oneofs: true,
};

/** Loads .proto files (paths relative to `includeDir`, which imports are resolved from). */
export function loadProtos(
  files: string[],
  includeDir: string,
  options: Options = PROTO_OPTIONS,
): PackageDefinition {
  return loadSync(files, { ...options, includeDirs: [includeDir] });
}

/** The service a package definition holds under its full name (e.g. `inference.GRPCInferenceService`). */
export function serviceOf(definition: PackageDefinition, name: string): ServiceDefinition {
  const service = definition[name];
  if (!service || 'format' in service || 'fileDescriptorProtos' in service) {
    throw new Error(`The loaded protos define no service '${name}'`);
  }
  return service as unknown as ServiceDefinition;
}
