import {
  credentials,
  loadPackageDefinition,
  Metadata,
  type CallOptions,
  type Client,
  type ServiceError,
} from '@grpc/grpc-js';
import type { PackageDefinition } from '@grpc/proto-loader';
import { protoPath as HEALTH_PROTO } from 'grpc-health-check';
import { dirname } from 'node:path';
import { loadProtos, PROTOS_DIR } from '../../src/edge/grpc/protos';

export { freePort } from '../../scripts/lib/server';

type ClientClass = new (
  address: string,
  creds: ReturnType<typeof credentials.createInsecure>,
  options?: object,
) => Client;

/** A client class for `service` (full name) of a package definition, as generated clients are. */
export function clientClass(definition: PackageDefinition, service: string): ClientClass {
  let node: unknown = loadPackageDefinition(definition);
  for (const part of service.split('.')) node = (node as Record<string, unknown>)[part];
  if (typeof node !== 'function') throw new Error(`no service ${service} in the definition`);
  return node as ClientClass;
}

/** A client of `service` on 127.0.0.1:port, from the same vendored protos the server loads. */
export function grpcClient(definition: PackageDefinition, service: string, port: number): Client {
  const Service = clientClass(definition, service);
  return new Service(`127.0.0.1:${port}`, credentials.createInsecure());
}

export const healthDefinition = (): PackageDefinition =>
  loadProtos([HEALTH_PROTO], dirname(HEALTH_PROTO));

export const inferenceDefinition = (): PackageDefinition =>
  loadProtos(['triton/grpc_service.proto'], `${PROTOS_DIR}/triton`);

/** Calls a unary method and resolves its answer, or rejects with the ServiceError. */
export function unary<T = Record<string, unknown>>(
  client: Client,
  method: string,
  request: object,
  options: CallOptions = {},
  metadata = new Metadata(),
): Promise<T> {
  type Unary = (
    request: object,
    metadata: Metadata,
    options: CallOptions,
    callback: (error: ServiceError | null, answer: T) => void,
  ) => void;
  const call = (client as unknown as Record<string, Unary | undefined>)[method];
  if (typeof call !== 'function') throw new Error(`no method ${method} on the client`);
  return new Promise((resolve, reject) =>
    call.call(client, request, metadata, options, (error, answer) =>
      error ? reject(error) : resolve(answer),
    ),
  );
}

/** The ServiceError a call ends with (fails the test if it succeeds). */
export async function failure(call: Promise<unknown>): Promise<ServiceError> {
  try {
    await call;
  } catch (error) {
    return error as ServiceError;
  }
  throw new Error('the call succeeded; an error was expected');
}
