/**
 * ModelInfer over gRPC (raw_input_contents) against the same inference over HTTP V2 as JSON and
 * as binary tensor data, side by side on one built server on loopback (npm run bench:grpc):
 * the `linear` and `iris` models, one row per request, BENCH_CONNECTIONS concurrent callers,
 * each protocol in turn for BENCH_SECONDS (or BENCH_REQUESTS answers, whichever comes first)
 * after a 1 s warm-up. Prints req/s and the server's main-thread CPU per request (from
 * /proc/<pid>/task/<pid>/stat: the thread that runs the protocol stacks; inference runs in
 * other threads), and each protocol's ratio to HTTP V2 JSON.
 *
 * The load comes from Node clients in this process (grpc-js for gRPC; node:http with a
 * keep-alive agent for HTTP), the same client machinery for all three, so the ratios compare
 * the server's protocol stacks rather than load generators.
 */
import {
  credentials,
  loadPackageDefinition,
  type Client,
  type GrpcObject,
  type ServiceClientConstructor,
  type ServiceError,
} from '@grpc/grpc-js';
import { readFileSync } from 'node:fs';
import { Agent, request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { loadProtos, PROTOS_DIR } from '../src/edge/grpc/protos';
import { freePort, startModelServer } from './lib/server';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 50_000);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 16);
const TICKS_PER_SECOND = 100;

interface Case {
  model: string;
  input: string;
  row: number[];
}
const CASES: Case[] = [
  { model: 'linear', input: 'x', row: [2.5] },
  { model: 'iris', input: 'features', row: [5.1, 3.5, 1.4, 0.2] },
];

type Send = () => Promise<void>;

/** The server's main thread's CPU seconds so far (user + system). */
function mainThreadCpu(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/task/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
}

/** Runs `send` from CONNECTIONS loops until `seconds` pass or `limit` answers came. */
async function load(send: Send, seconds: number, limit: number): Promise<number> {
  const until = performance.now() + seconds * 1000;
  let done = 0;
  const loop = async () => {
    while (performance.now() < until && done < limit) {
      await send();
      done++;
    }
  };
  await Promise.all(Array.from({ length: CONNECTIONS }, loop));
  return done;
}

function httpSender(url: string, path: string, headers: Record<string, string>, body: Buffer) {
  const agent = new Agent({ keepAlive: true, maxSockets: CONNECTIONS });
  const { hostname, port } = new URL(url);
  return (): Promise<void> =>
    new Promise((resolve, reject) => {
      const req = httpRequest(
        {
          hostname,
          port,
          path,
          method: 'POST',
          agent,
          headers: { ...headers, 'content-length': String(body.length) },
        },
        (res) => {
          res.resume();
          res.on('end', () =>
            res.statusCode === 200 ? resolve() : reject(new Error(`HTTP ${res.statusCode}`)),
          );
        },
      );
      req.on('error', reject);
      req.end(body);
    });
}

function grpcSender(client: Client, c: Case): Send {
  const request = {
    model_name: c.model,
    inputs: [{ name: c.input, datatype: 'FP32', shape: [1, c.row.length] }],
    raw_input_contents: [Buffer.from(new Float32Array(c.row).buffer)],
  };
  type Infer = (request: object, callback: (error: ServiceError | null) => void) => void;
  const infer = (client as unknown as { ModelInfer: Infer }).ModelInfer.bind(client);
  return () =>
    new Promise((resolve, reject) =>
      infer(request, (error) => (error ? reject(error) : resolve())),
    );
}

function senders(url: string, client: Client, c: Case): [string, Send][] {
  const path = `/v2/models/${c.model}/infer`;
  const json = Buffer.from(
    JSON.stringify({
      inputs: [{ name: c.input, shape: [1, c.row.length], datatype: 'FP32', data: c.row }],
    }),
  );
  const bytes = Buffer.from(new Float32Array(c.row).buffer);
  const header = Buffer.from(
    JSON.stringify({
      inputs: [
        {
          name: c.input,
          shape: [1, c.row.length],
          datatype: 'FP32',
          parameters: { binary_data_size: bytes.length },
        },
      ],
      parameters: { binary_data_output: true },
    }),
  );
  return [
    ['HTTP V2 JSON', httpSender(url, path, { 'content-type': 'application/json' }, json)],
    [
      'HTTP V2 binary',
      httpSender(
        url,
        path,
        {
          'content-type': 'application/octet-stream',
          'inference-header-content-length': String(header.length),
        },
        Buffer.concat([header, bytes]),
      ),
    ],
    ['gRPC raw', grpcSender(client, c)],
  ];
}

async function main(): Promise<void> {
  const grpcPort = await freePort();
  const server = await startModelServer({
    GRPC_PORT: String(grpcPort),
    MAX_INFLIGHT: '0',
  });
  const pid = server.child.pid!;
  const inference = loadPackageDefinition(
    loadProtos(['grpc_service.proto'], join(PROTOS_DIR, 'triton')),
  ).inference as GrpcObject;
  const Inference = inference.GRPCInferenceService as ServiceClientConstructor;
  const client = new Inference(`127.0.0.1:${grpcPort}`, credentials.createInsecure());
  try {
    console.log(
      `ModelInfer, 1 row per request, ${CONNECTIONS} concurrent callers, ${SECONDS} s (at most ${REQUESTS} answers) per run, one server`,
    );
    console.log('model   protocol          req/s   main-thread CPU/req   vs HTTP JSON');
    for (const c of CASES) {
      let baseline = 0;
      for (const [name, send] of senders(server.url, client, c)) {
        await load(send, 1, REQUESTS);
        const cpu = mainThreadCpu(pid);
        const started = performance.now();
        const count = await load(send, SECONDS, REQUESTS);
        const elapsed = (performance.now() - started) / 1000;
        const perRequestUs = ((mainThreadCpu(pid) - cpu) / count) * 1e6;
        const rate = count / elapsed;
        baseline ||= rate;
        console.log(
          `${c.model.padEnd(7)} ${name.padEnd(15)} ${rate.toFixed(0).padStart(7)}   ${perRequestUs.toFixed(0).padStart(8)} us          ${(rate / baseline).toFixed(2)}x`,
        );
      }
    }
  } finally {
    client.close();
    await server.stop();
  }
}

main().catch((error: Error) => {
  console.error(error);
  process.exit(1);
});
