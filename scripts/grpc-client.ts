/**
 * A small gRPC client for the server's gRPC listener (GRPC_PORT), built from the vendored protos:
 * what grpcurl would do, for machines without it (see docs/grpc.md).
 *
 *   npx ts-node -T scripts/grpc-client.ts HOST:PORT METHOD [JSON]
 *
 * METHOD is an inference.GRPCInferenceService method (ServerReady, ModelMetadata, ModelInfer,
 * ...), a TF Serving method as Service/Method (tensorflow.serving.PredictionService/Predict,
 * tensorflow.serving.ModelService/GetModelStatus, ...), `health` (grpc.health.v1.Health/Check,
 * JSON {"service": ...}) or `list` (the services, through server reflection). JSON is the request message with the .proto's field names; bytes
 * fields (raw_input_contents) are base64 strings. The answer is printed as one JSON line, each
 * raw output decoded into `data` beside its metadata.
 */
import {
  credentials,
  loadPackageDefinition,
  type Client,
  type GrpcObject,
  type ServiceClientConstructor,
  type ServiceError,
} from '@grpc/grpc-js';
import type { Options } from '@grpc/proto-loader';
import { protoPath as HEALTH_PROTO } from 'grpc-health-check';
import { dirname, join } from 'node:path';
import { loadProtos, PROTOS_DIR } from '../src/edge/grpc/protos';

const READERS: Record<string, [number, (bytes: Buffer, at: number) => number | boolean]> = {
  FP32: [4, (b, at) => b.readFloatLE(at)],
  FP64: [8, (b, at) => b.readDoubleLE(at)],
  INT32: [4, (b, at) => b.readInt32LE(at)],
  INT64: [8, (b, at) => Number(b.readBigInt64LE(at))],
  UINT8: [1, (b, at) => b.readUInt8(at)],
  INT8: [1, (b, at) => b.readInt8(at)],
  BOOL: [1, (b, at) => b.readUInt8(at) === 1],
};

/** TF Serving's services: int64 as strings, unset fields left out, Any unpacked (json). */
const TF_SERVING_FILES: Record<string, string> = {
  'tensorflow.serving.PredictionService': 'tensorflow_serving/apis/prediction_service.proto',
  'tensorflow.serving.ModelService': 'tensorflow_serving/apis/model_service.proto',
};
const TF_SERVING_OPTIONS: Options = { keepCase: true, longs: String, enums: String, json: true };

function client(
  address: string,
  file: string,
  dir: string,
  service: string,
  options?: Options,
): Client {
  let node: GrpcObject | ServiceClientConstructor = loadPackageDefinition(
    loadProtos([file], dir, options),
  );
  for (const part of service.split('.')) node = (node as GrpcObject)[part] as GrpcObject;
  const Service = node as unknown as ServiceClientConstructor;
  return new Service(address, credentials.createInsecure());
}

function call(target: Client, method: string, request: object): Promise<Record<string, unknown>> {
  type Unary = (
    request: object,
    callback: (error: ServiceError | null, answer: Record<string, unknown>) => void,
  ) => void;
  const unary = (target as unknown as Record<string, Unary | undefined>)[method];
  if (!unary) throw new Error(`unknown method ${method}`);
  return new Promise((resolve, reject) =>
    unary.call(target, request, (error, answer) => (error ? reject(error) : resolve(answer))),
  );
}

/** raw_output_contents decoded into each output's `data` (base64 for datatypes read as bytes). */
function readable(answer: Record<string, unknown>): Record<string, unknown> {
  const raw = answer.raw_output_contents as Buffer[] | undefined;
  const outputs = answer.outputs as
    { name: string; datatype: string; shape: number[] }[] | undefined;
  if (!raw || !outputs) return answer;
  const { raw_output_contents: _raw, outputs: _outputs, ...rest } = answer;
  void _raw;
  void _outputs;
  return {
    ...rest,
    outputs: outputs.map(({ name, datatype, shape }, i) => {
      const reader = READERS[datatype];
      if (!reader) return { name, datatype, shape, raw: raw[i].toString('base64') };
      const [size, read] = reader;
      const data = Array.from({ length: raw[i].length / size }, (_, k) => read(raw[i], k * size));
      return { name, datatype, shape, data };
    }),
  };
}

async function main(): Promise<void> {
  const [address, method, json = '{}'] = process.argv.slice(2);
  if (!address || !method) {
    throw new Error('usage: grpc-client.ts HOST:PORT METHOD [JSON]');
  }
  const request = JSON.parse(json) as Record<string, unknown>;
  if (Array.isArray(request.raw_input_contents)) {
    request.raw_input_contents = request.raw_input_contents.map((b64: string) =>
      Buffer.from(b64, 'base64'),
    );
  }
  if (method === 'list') {
    const reflection = client(
      address,
      'grpc/reflection/v1/reflection.proto',
      join(dirname(require.resolve('@grpc/reflection')), '..', 'proto'),
      'grpc.reflection.v1.ServerReflection',
    );
    const stream = (
      reflection as unknown as {
        ServerReflectionInfo: () => NodeJS.ReadWriteStream & { write(message: object): boolean };
      }
    ).ServerReflectionInfo();
    const answer = await new Promise<{ list_services_response: { service: { name: string }[] } }>(
      (resolve, reject) => {
        stream.once('data', resolve);
        stream.once('error', reject);
        stream.write({ list_services: '' });
      },
    );
    stream.end();
    reflection.close();
    console.log(JSON.stringify(answer.list_services_response.service.map((s) => s.name).sort()));
    return;
  }
  const [service, rpc] = method.split('/');
  if (rpc !== undefined) {
    const file = TF_SERVING_FILES[service];
    if (!file) throw new Error(`unknown service ${service}`);
    const tfServing = client(
      address,
      file,
      join(PROTOS_DIR, 'tfserving'),
      service,
      TF_SERVING_OPTIONS,
    );
    try {
      console.log(JSON.stringify(await call(tfServing, rpc, request)));
    } finally {
      tfServing.close();
    }
    return;
  }
  const target =
    method === 'health'
      ? client(
          address,
          'health/v1/health.proto',
          dirname(dirname(dirname(HEALTH_PROTO))),
          'grpc.health.v1.Health',
        )
      : client(
          address,
          'grpc_service.proto',
          join(PROTOS_DIR, 'triton'),
          'inference.GRPCInferenceService',
        );
  try {
    const answer = await call(target, method === 'health' ? 'Check' : method, request);
    console.log(JSON.stringify(readable(answer)));
  } finally {
    target.close();
  }
}

main().catch((error: ServiceError | Error) => {
  const code = 'code' in error ? ` (gRPC status ${error.code})` : '';
  console.error(`${error.message}${code}`);
  process.exit(1);
});
