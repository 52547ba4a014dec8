import {
  credentials,
  loadPackageDefinition,
  Metadata,
  type CallOptions,
  type ClientDuplexStream,
  type ClientUnaryCall,
  type Client,
  type ServiceError,
} from '@grpc/grpc-js';
import type { PackageDefinition } from '@grpc/proto-loader';
import { protoPath as HEALTH_PROTO } from 'grpc-health-check';
import { dirname, join } from 'node:path';
import { loadProtos } from '../../src/edge/grpc/protos';
import { loadInferenceProtos } from '../../src/edge/grpc/v2-grpc.service';

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

/** grpc.health.v1.Health's answer for each service, by service name ('' is the whole server). */
export async function healthOf(port: number, services: string[]): Promise<Record<string, unknown>> {
  const health = grpcClient(healthDefinition(), 'grpc.health.v1.Health', port);
  try {
    const answers: Record<string, unknown> = {};
    for (const service of services) answers[service] = await unary(health, 'Check', { service });
    return answers;
  } finally {
    health.close();
  }
}

/** Server reflection's own proto, as @grpc/reflection ships it. */
export const reflectionDefinition = (): PackageDefinition =>
  loadProtos(
    ['grpc/reflection/v1/reflection.proto'],
    join(dirname(require.resolve('@grpc/reflection')), '..', 'proto'),
  );

export const inferenceDefinition = loadInferenceProtos;

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

/** Starts a unary call that the test can cancel; `result` resolves its error (undefined if none). */
export function cancellable(
  client: Client,
  method: string,
  request: object,
): { call: ClientUnaryCall; result: Promise<ServiceError | undefined> } {
  type Start = (request: object, callback: (error: ServiceError | null) => void) => ClientUnaryCall;
  const start = (client as unknown as Record<string, Start | undefined>)[method];
  if (typeof start !== 'function') throw new Error(`no method ${method} on the client`);
  let call!: ClientUnaryCall;
  const result = new Promise<ServiceError | undefined>((resolve) => {
    call = start.call(client, request, (error) => resolve(error ?? undefined));
  });
  return { call, result };
}

/** Opens a bidirectional stream of `method`. */
export function duplex<Res>(client: Client, method: string): ClientDuplexStream<object, Res> {
  const open = (
    client as unknown as Record<string, (() => ClientDuplexStream<object, Res>) | undefined>
  )[method];
  if (typeof open !== 'function') throw new Error(`no method ${method} on the client`);
  return open.call(client);
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
