/**
 * TF.js (wasm) against ONNX Runtime on the same architectures and weights, served by the built
 * server on loopback (npm run bench:onnx; bounded: about 90 s with the defaults):
 *
 *   1. iris MLP and the benchmark CNN, each from TF.js (wasm) and from ONNX: req/s, p50, p99;
 *   2. the served ONNX CNN against a bare loop calling ONNX Runtime in as many threads, with as
 *      many intra-op threads, as the server uses: what the server costs on top of inference;
 *   3. the two thread layouts on the ONNX CNN (N inference threads x 1 intra-op thread against
 *      1 inference thread x N intra-op threads) at low load (1 connection) and high load.
 *
 *   BENCH_SECONDS      seconds per measurement (default 5), after a 1 s warm-up
 *   BENCH_CONNECTIONS  concurrent connections for the loaded runs (default 16)
 *
 * The models come from models/ and test/fixtures/cnn (written by npm run train), copied into a
 * temporary repository so the server loads exactly these four.
 */
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { keepOnnxRuntimeQuiet } from '../src/engines/onnx/ort-telemetry';
import { LOAD_GENERATOR, LoadOptions, LoadResult, postLoad } from './lib/load';
import { ROOT, startModelServer } from './lib/server';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 16);
const CORES = availableParallelism();

/** The same deterministic image for every request (3 decimals keep the JSON body near 70 kB). */
const image = (() => {
  const flat = Array.from({ length: 64 * 64 * 3 }, (_, i) =>
    Number(Math.abs(Math.sin(i * 0.37)).toFixed(3)),
  );
  return Array.from({ length: 64 }, (_, y) =>
    Array.from({ length: 64 }, (_, x) => flat.slice((y * 64 + x) * 3, (y * 64 + x) * 3 + 3)),
  );
})();
const IRIS_ROW = [5.1, 3.5, 1.4, 0.2];

function repository(): string {
  const dir = mkdtempSync(join(tmpdir(), 'bench-onnx-'));
  const copy = (from: string, name: string) =>
    cpSync(join(ROOT, from), join(dir, name, '1'), { recursive: true });
  copy('models/iris/2', 'iris');
  copy('models/iris-onnx/1', 'iris-onnx');
  copy('test/fixtures/cnn/cnn-tfjs/1', 'cnn-tfjs');
  copy('test/fixtures/cnn/cnn-onnx/1', 'cnn-onnx');
  return dir;
}

/**
 * The CNN image goes as V2 binary tensor data (JSON header + float32 bytes), iris as a /predict
 * row: 12,288 JSON numbers per request would make the main thread's parsing, not the engines,
 * what is measured (scripts/bench-inputs.ts measures that difference).
 */
async function request(
  url: string,
  model: string,
): Promise<Omit<LoadOptions, 'connections' | 'seconds'>> {
  if (!model.startsWith('cnn')) {
    return {
      url: `${url}/predict`,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model, instances: [IRIS_ROW] }),
    };
  }
  const metadata = (await (await fetch(`${url}/v2/models/${model}`)).json()) as {
    inputs: { name: string }[];
  };
  const pixels = Float32Array.from(image.flat(2));
  const header = Buffer.from(
    JSON.stringify({
      inputs: [
        {
          name: metadata.inputs[0].name,
          shape: [1, 64, 64, 3],
          datatype: 'FP32',
          parameters: { binary_data_size: pixels.byteLength },
        },
      ],
    }),
  );
  return {
    url: `${url}/v2/models/${model}/infer`,
    headers: {
      'content-type': 'application/octet-stream',
      'inference-header-content-length': String(header.length),
    },
    body: Buffer.concat([header, Buffer.from(pixels.buffer)]),
  };
}

async function drive(
  url: string,
  model: string,
  connections: number,
  seconds = SECONDS,
): Promise<LoadResult> {
  const options = { ...(await request(url, model)), connections };
  await postLoad({ ...options, seconds: 1 });
  return postLoad({ ...options, seconds });
}

/**
 * ONNX Runtime with no server: `threads` worker threads, each with its own session and
 * `intraOp` intra-op threads, calling run() on one image back to back. Runs per second.
 */
async function bareLoop(threads: number, intraOp: number, seconds = SECONDS): Promise<number> {
  const code = `
    const { parentPort, workerData } = require('node:worker_threads');
    const ort = require(${JSON.stringify(require.resolve('onnxruntime-node'))});
    (async () => {
      const session = await ort.InferenceSession.create(workerData.file, {
        executionProviders: ['cpu'], intraOpNumThreads: workerData.intraOp, interOpNumThreads: 1,
      });
      const data = Float32Array.from({ length: 64 * 64 * 3 }, (_, i) => Math.abs(Math.sin(i * 0.37)));
      const feeds = { image: new ort.Tensor('float32', data, [1, 64, 64, 3]) };
      const warmUntil = Date.now() + 1000;
      while (Date.now() < warmUntil) await session.run(feeds);
      let runs = 0;
      const started = performance.now();
      const until = started + workerData.seconds * 1000;
      while (performance.now() < until) { await session.run(feeds); runs++; }
      parentPort.postMessage(runs / ((performance.now() - started) / 1000));
      await session.release();
    })();`;
  const file = join(ROOT, 'test/fixtures/cnn/cnn-onnx/1/model.onnx');
  const rates = await Promise.all(
    Array.from(
      { length: threads },
      () =>
        new Promise<number>((resolve, reject) => {
          const worker = new Worker(code, { eval: true, workerData: { file, intraOp, seconds } });
          worker.once('message', (rate: number) => {
            resolve(rate);
            void worker.terminate();
          });
          worker.once('error', reject);
        }),
    ),
  );
  return rates.reduce((a, b) => a + b, 0);
}

const row = (label: string, m: LoadResult) =>
  `${label.padEnd(44)}${m.rps.toFixed(0).padStart(7)}${m.p50.toFixed(1).padStart(8)}${m.p99.toFixed(1).padStart(8)}${String(m.failed).padStart(8)}`;
const header = `${'what'.padEnd(44)}${'req/s'.padStart(7)}${'p50 ms'.padStart(8)}${'p99 ms'.padStart(8)}${'failed'.padStart(8)}`;

async function withServer<T>(
  dir: string,
  env: Record<string, string>,
  body: (url: string) => Promise<T>,
): Promise<T> {
  const server = await startModelServer({
    MODEL_DIR: dir,
    TFJS_BACKEND: 'wasm',
    MAX_INFLIGHT: '0',
    ...env,
  });
  try {
    return await body(server.url);
  } finally {
    await server.stop();
  }
}

async function main(): Promise<void> {
  // The bare ONNX Runtime loop runs in this process's threads, as the server's do.
  keepOnnxRuntimeQuiet();
  const dir = repository();
  const lines: string[] = [];
  const log = (line: string) => {
    lines.push(line);
    console.log(line);
  };
  try {
    log(
      `one instance per request (iris: POST /predict JSON; CNN: V2 binary FP32), ${SECONDS} s per measurement after 1 s warm-up, load from ${LOAD_GENERATOR}, ${CORES} cores, node ${process.version}`,
    );
    log(
      `\n1. same weights, two engines (server defaults: INFERENCE_THREADS=${CORES}, ORT_INTRA_OP_THREADS automatic; TFJS_BACKEND=wasm; ${CONNECTIONS} connections)`,
    );
    log(header);
    const served = await withServer(dir, {}, async (url) => {
      const results: Record<string, LoadResult> = {};
      for (const model of ['iris', 'iris-onnx', 'cnn-tfjs', 'cnn-onnx']) {
        results[model] = await drive(url, model, CONNECTIONS);
        log(
          row(
            `${model} (${model.endsWith('onnx') ? 'ONNX Runtime' : 'TF.js wasm'})`,
            results[model],
          ),
        );
      }
      return results;
    });
    log(
      `ONNX / TF.js req/s: iris ${(served['iris-onnx'].rps / served.iris.rps).toFixed(2)}x, CNN ${(served['cnn-onnx'].rps / served['cnn-tfjs'].rps).toFixed(2)}x (target on the CNN: >= 3x)`,
    );

    // The server's default layout: INFERENCE_THREADS = cores, so cores / threads = 1 intra-op thread.
    const intraOp = 1;
    log(
      `\n2. server overhead on the ONNX CNN: ${CORES} thread(s) x ${intraOp} intra-op, bare ONNX Runtime loop vs served`,
    );
    const bare = await bareLoop(CORES, intraOp);
    log(`${'bare loop: session.run back to back'.padEnd(44)}${bare.toFixed(0).padStart(7)}`);
    log(`${'served: cnn-onnx above'.padEnd(44)}${served['cnn-onnx'].rps.toFixed(0).padStart(7)}`);
    log(`served / bare: ${((100 * served['cnn-onnx'].rps) / bare).toFixed(0)}% (target >= 70%)`);

    log(
      `\n3. thread layouts on the ONNX CNN: low load (1 connection) and high load (${CONNECTIONS} connections)`,
    );
    log(header);
    const layouts: [string, Record<string, string>][] = [
      [
        `${CORES} threads x 1 intra-op`,
        { INFERENCE_THREADS: String(CORES), ORT_INTRA_OP_THREADS: '1' },
      ],
      [
        `1 thread x ${CORES} intra-op`,
        { INFERENCE_THREADS: '1', ORT_INTRA_OP_THREADS: String(CORES) },
      ],
    ];
    for (const [label, env] of layouts) {
      await withServer(dir, env, async (url) => {
        log(row(`${label}, 1 connection`, await drive(url, 'cnn-onnx', 1)));
        log(row(`${label}, ${CONNECTIONS} connections`, await drive(url, 'cnn-onnx', CONNECTIONS)));
      });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
