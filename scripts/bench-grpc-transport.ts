/**
 * The gRPC library choice, measured (npm run bench:grpc-transport; bounded: 2 x BENCH_SECONDS
 * after a 1 s warm-up each): plain @grpc/grpc-js + @grpc/proto-loader against Nest's own gRPC
 * transport (@nestjs/microservices, Transport.GRPC), each serving ModelInfer from the same
 * vendored grpc_service.proto in a server process of its own, with a handler that answers the
 * request's raw inputs as its raw outputs: what is measured is the transport, not inference.
 * Prints req/s and the server process's CPU per call, and Nest's cost against plain grpc-js.
 */
import { Controller, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { GrpcMethod, Transport, type MicroserviceOptions } from '@nestjs/microservices';
import {
  credentials,
  loadPackageDefinition,
  Server,
  ServerCredentials,
  type GrpcObject,
  type ServiceClientConstructor,
  type ServiceError,
} from '@grpc/grpc-js';
import { fork } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadProtos, PROTO_OPTIONS, PROTOS_DIR, serviceOf } from '../src/edge/grpc/protos';
import { freePort } from './lib/server';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 16);
const TRITON = join(PROTOS_DIR, 'triton');

interface InferRequest {
  model_name: string;
  id: string;
  inputs: { name: string; datatype: string; shape: number[] }[];
  raw_input_contents: Buffer[];
}

const echo = (request: InferRequest) => ({
  model_name: request.model_name,
  model_version: '1',
  id: request.id,
  outputs: request.inputs,
  raw_output_contents: request.raw_input_contents,
});

@Controller()
class EchoController {
  @GrpcMethod('GRPCInferenceService', 'ModelInfer')
  modelInfer(request: InferRequest) {
    return echo(request);
  }
}

@Module({ controllers: [EchoController] })
class EchoModule {}

async function serve(kind: string, port: number): Promise<void> {
  const url = `127.0.0.1:${port}`;
  if (kind === 'grpc-js') {
    const server = new Server();
    const definition = loadProtos(['grpc_service.proto'], TRITON);
    server.addService(serviceOf(definition, 'inference.GRPCInferenceService'), {
      ModelInfer: (
        call: { request: InferRequest },
        callback: (error: null, answer: object) => void,
      ) => callback(null, echo(call.request)),
    });
    await new Promise((resolve, reject) =>
      server.bindAsync(url, ServerCredentials.createInsecure(), (error, bound) =>
        error ? reject(error) : resolve(bound),
      ),
    );
  } else {
    const app = await NestFactory.createMicroservice<MicroserviceOptions>(EchoModule, {
      transport: Transport.GRPC,
      logger: false,
      options: {
        package: 'inference',
        protoPath: join(TRITON, 'grpc_service.proto'),
        url,
        loader: { ...PROTO_OPTIONS, includeDirs: [TRITON] },
      },
    });
    await app.listen();
  }
  process.send?.('ready');
}

function processCpu(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

async function measure(kind: string): Promise<{ rate: number; cpuUs: number }> {
  const port = await freePort();
  const child = fork(__filename, ['serve', kind, String(port)], {
    execArgv: ['-r', 'ts-node/register/transpile-only'],
  });
  await new Promise((resolve, reject) => {
    child.once('message', resolve);
    child.once('exit', (code) => reject(new Error(`${kind} server exited with ${code}`)));
  });
  const inference = loadPackageDefinition(loadProtos(['grpc_service.proto'], TRITON))
    .inference as GrpcObject;
  const Client = inference.GRPCInferenceService as ServiceClientConstructor;
  const client = new Client(`127.0.0.1:${port}`, credentials.createInsecure());
  type Infer = (request: object, callback: (error: ServiceError | null) => void) => void;
  const infer = (client as unknown as { ModelInfer: Infer }).ModelInfer.bind(client);
  const request = {
    model_name: 'iris',
    id: '1',
    inputs: [{ name: 'features', datatype: 'FP32', shape: [1, 4] }],
    raw_input_contents: [Buffer.from(new Float32Array([5.1, 3.5, 1.4, 0.2]).buffer)],
  };
  const send = () =>
    new Promise<void>((resolve, reject) =>
      infer(request, (error) => (error ? reject(error) : resolve())),
    );
  const run = async (seconds: number) => {
    const until = performance.now() + seconds * 1000;
    let done = 0;
    const loop = async () => {
      while (performance.now() < until) {
        await send();
        done++;
      }
    };
    await Promise.all(Array.from({ length: CONNECTIONS }, loop));
    return done;
  };
  try {
    await run(1);
    const cpu = processCpu(child.pid!);
    const started = performance.now();
    const count = await run(SECONDS);
    const elapsed = (performance.now() - started) / 1000;
    return { rate: count / elapsed, cpuUs: ((processCpu(child.pid!) - cpu) / count) * 1e6 };
  } finally {
    client.close();
    child.kill();
  }
}

async function main(): Promise<void> {
  if (process.argv[2] === 'serve') return serve(process.argv[3], Number(process.argv[4]));
  console.log(
    `ModelInfer echo (no inference), ${CONNECTIONS} concurrent callers, ${SECONDS} s per run`,
  );
  const plain = await measure('grpc-js');
  const nest = await measure('nest');
  for (const [name, r] of [
    ['@grpc/grpc-js', plain],
    ['@nestjs/microservices', nest],
  ] as const) {
    console.log(
      `${name.padEnd(22)} ${r.rate.toFixed(0).padStart(7)} req/s  ${r.cpuUs.toFixed(0).padStart(5)} us CPU/call`,
    );
  }
  console.log(
    `Nest transport vs plain grpc-js: ${((1 - nest.rate / plain.rate) * 100).toFixed(1)}% fewer req/s, ${((nest.cpuUs / plain.cpuUs - 1) * 100).toFixed(1)}% more CPU per call`,
  );
}

main().catch((error: Error) => {
  console.error(error);
  process.exit(1);
});
