import { status, type Client } from '@grpc/grpc-js';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { writeOnnxModel } from '../../scripts/lib/onnx-writer';
import {
  SIMPLE_STRING_WIDTH,
  writeSimpleIdentity,
  writeSimpleString,
} from '../../scripts/lib/triton-string-models';
import { loadProtos } from '../../src/edge/grpc/protos';
import { listenOnLoopback, metricValue } from '../production/utils/http';
import {
  gatherOnnx,
  makeRepository,
  removeRepository,
  stringIdentityGraph,
} from '../utils/fixtures';
import { failure, freePort, grpcClient, inferenceDefinition, unary } from '../utils/grpc';
import { REPO_ROOT } from '../utils/doc-links';
import { closeApp, createTestApp } from '../utils/test-app';
import { framed, unframe } from '../utils/v2-bytes';

const run = promisify(execFile);

/**
 * String tensors end to end on Triton's string example models (written as ONNX files by
 * scripts/lib/triton-string-models.ts, served without a config file): V2 JSON and binary, TF
 * Serving REST, V2 and TF Serving gRPC. Elements are bytes: NUL and bytes that are not UTF-8
 * must come back from simple_identity exactly as sent. Requests are framed here by hand
 * (Buffer writes), not by src/.
 */

const PROTOS_DIR = join(__dirname, '..', '..', 'protos');

/** Elements an identity model must return byte for byte: NUL, invalid UTF-8, empty, emoji. */
const AWKWARD = [
  Buffer.from('a\u0000b'),
  Buffer.from([0xff, 0xfe, 0x00, 0x80]),
  Buffer.from([0xc3]), // a truncated 2-byte sequence
  Buffer.from([0xed, 0xa0, 0x80]), // an encoded surrogate, not UTF-8
  Buffer.alloc(0),
  Buffer.from('héllo 😀'),
];
const hex = (elements: Buffer[]) => elements.map((e) => e.toString('hex'));

const decimals = (values: number[]) => values.map(String);
const A = Array.from({ length: SIMPLE_STRING_WIDTH }, (_, i) => i);
const B = Array.from({ length: SIMPLE_STRING_WIDTH }, () => 1);

interface Reply {
  status: number;
  header: Record<string, unknown> & {
    error?: string;
    outputs?: {
      name: string;
      datatype: string;
      shape: number[];
      data?: unknown[];
      parameters?: { binary_data_size: number };
    }[];
  };
  binary: Buffer;
}

describe('String tensors on ONNX models (e2e, real threads, ONNX Runtime)', () => {
  let root: string;
  let app: NestExpressApplication | undefined;
  let url: string;
  let grpcPort: number;

  beforeAll(async () => {
    root = await makeRepository({
      'simple_string/1': writeSimpleString,
      'simple_identity/1': writeSimpleIdentity,
      'gather/1': gatherOnnx,
      'tfjs_identity/1': stringIdentityGraph,
      'vector_identity/1': (dir) =>
        writeOnnxModel(join(dir, 'model.onnx'), {
          name: 'vector_identity',
          doc: 'one string per example',
          inputs: [{ name: 'text', type: 'string', shape: ['batch'] }],
          outputs: [{ name: 'text_bytes', type: 'string', shape: ['batch'] }],
          initializers: [],
          nodes: [{ op: 'Identity', inputs: ['text'], outputs: ['text_bytes'] }],
        }),
    });
    grpcPort = await freePort();
    app = await createTestApp({ MODEL_DIR: root, GRPC_PORT: String(grpcPort) });
    url = await listenOnLoopback(app);
  }, 60_000);
  afterAll(async () => {
    await closeApp(app);
    removeRepository(root);
  });

  const postJson = async (path: string, body: unknown) => {
    const res = await fetch(`${url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };

  /** A V2 request as Triton's client sends binary data: JSON header, then the inputs' bytes. */
  const postBinary = async (model: string, header: object, data: Buffer): Promise<Reply> => {
    const json = Buffer.from(JSON.stringify(header));
    const res = await fetch(`${url}/v2/models/${model}/infer`, {
      method: 'POST',
      headers: {
        'content-type': 'application/octet-stream',
        'inference-header-content-length': String(json.length),
      },
      body: Buffer.concat([json, data]),
    });
    const body = Buffer.from(await res.arrayBuffer());
    const length = Number(res.headers.get('inference-header-content-length') ?? body.length);
    return {
      status: res.status,
      header: JSON.parse(body.subarray(0, length).toString()) as Reply['header'],
      binary: body.subarray(length),
    };
  };

  const identityBinary = (elements: Buffer[], binaryOutput = true, model = 'simple_identity') => {
    const data = framed(elements);
    const [input, output] = model === 'simple_identity' ? ['INPUT0', 'OUTPUT0'] : ['x', 'y'];
    return postBinary(
      model,
      {
        inputs: [
          {
            name: input,
            shape: [1, elements.length],
            datatype: 'BYTES',
            parameters: { binary_data_size: data.length },
          },
        ],
        outputs: [{ name: output, parameters: { binary_data: binaryOutput } }],
      },
      data,
    );
  };

  describe('docs/models.md', () => {
    /** The page's string example: each curl (a quoted body may span lines) and the answer shown. */
    function pageExamples(): { command: string; answer: unknown }[] {
      const page = readFileSync(join(REPO_ROOT, 'docs', 'models.md'), 'utf8');
      const block = [...page.matchAll(/```bash\n([\s\S]*?)```/g)]
        .map((m) => m[1])
        .find((b) => b.includes('/v2/models/simple_string/infer'))!;
      const lines = block.split('\n');
      const examples: { command: string; answer: unknown }[] = [];
      for (let i = 0; i < lines.length; i++) {
        if (!lines[i].startsWith('curl ')) continue;
        let command = lines[i];
        while ((command.split("'").length - 1) % 2 === 1) command += `\n${lines[++i]}`;
        let answer = lines[++i].replace(/^# /, '');
        while (lines[i + 1]?.startsWith('#  ')) answer += lines[++i].slice(3);
        examples.push({ command, answer: JSON.parse(answer) });
      }
      return examples;
    }

    it('should answer the string examples as the page shows them, run with curl as written', async () => {
      const examples = pageExamples();
      expect(examples).toHaveLength(2);
      for (const { command, answer } of examples) {
        const { stdout } = await run('bash', ['-c', command.replaceAll('localhost:3000', url)]);
        const body = JSON.parse(stdout) as Record<string, unknown>;
        if ('id' in body) body.id = '...';
        expect(body).toEqual(answer);
      }
    });
  });

  describe('metadata', () => {
    it('should describe string inputs and outputs as BYTES (V2) and DT_STRING (TF Serving)', async () => {
      const v2 = (await (await fetch(`${url}/v2/models/simple_string`)).json()) as {
        inputs: unknown[];
        outputs: unknown[];
      };
      expect(v2.inputs).toEqual([
        { name: 'INPUT0', datatype: 'BYTES', shape: [-1, 16] },
        { name: 'INPUT1', datatype: 'BYTES', shape: [-1, 16] },
      ]);
      expect(v2.outputs).toEqual([
        { name: 'OUTPUT0', datatype: 'BYTES', shape: [-1, 16] },
        { name: 'OUTPUT1', datatype: 'BYTES', shape: [-1, 16] },
      ]);
      const tfs = await (await fetch(`${url}/v1/models/simple_identity/metadata`)).text();
      expect(tfs).toContain('"dtype":"DT_STRING"');
    });
  });

  describe('V2 JSON', () => {
    it("should answer simple_string's sums and differences as strings, for two rows", async () => {
      const res = await postJson('/v2/models/simple_string/infer', {
        inputs: [
          { name: 'INPUT0', shape: [2, 16], datatype: 'BYTES', data: decimals([...A, ...B]) },
          {
            name: 'INPUT1',
            shape: [2, 16],
            datatype: 'BYTES',
            data: [...decimals(B), ...decimals(A)],
          },
        ],
      });
      expect(res.status).toBe(200);
      expect(res.body.outputs).toEqual([
        {
          name: 'OUTPUT0',
          datatype: 'BYTES',
          shape: [2, 16],
          data: decimals([...A.map((a) => a + 1), ...A.map((a) => a + 1)]),
        },
        {
          name: 'OUTPUT1',
          datatype: 'BYTES',
          shape: [2, 16],
          data: decimals([...A.map((a) => a - 1), ...A.map((a) => 1 - a)]),
        },
      ]);
    });

    it('should return UTF-8 elements with NUL exactly, as JSON strings', async () => {
      const data = ['a\u0000b', '', 'héllo 😀', '\u0000'];
      const res = await postJson('/v2/models/simple_identity/infer', {
        inputs: [
          {
            name: 'INPUT0',
            shape: [2, 2],
            datatype: 'BYTES',
            data: [data.slice(0, 2), data.slice(2)],
          },
        ],
      });
      expect(res.status).toBe(200);
      expect(res.body.outputs).toEqual([
        { name: 'OUTPUT0', datatype: 'BYTES', shape: [2, 2], data },
      ]);
    });

    it('should take a body large enough to be parsed off the main thread (50 kB of strings)', async () => {
      const data = Array.from({ length: 2000 }, (_, i) => `élément ${i} \u0000`);
      const res = await postJson('/v2/models/simple_identity/infer', {
        inputs: [{ name: 'INPUT0', shape: [2, 1000], datatype: 'BYTES', data }],
      });
      expect(res.status).toBe(200);
      expect(res.body.outputs).toEqual([
        { name: 'OUTPUT0', datatype: 'BYTES', shape: [2, 1000], data },
      ]);
    });

    it('should refuse a number where a string is expected, naming the element', async () => {
      const res = await postJson('/v2/models/simple_identity/infer', {
        inputs: [{ name: 'INPUT0', shape: [1, 2], datatype: 'BYTES', data: ['a', 7] }],
      });
      expect(res).toEqual({
        status: 400,
        body: {
          error:
            "inputs[0] 'INPUT0'.data[1] (flat index): expected a string (a BYTES element), got 7; bytes that are not UTF-8 travel as binary data (parameters.binary_data_size)",
        },
      });
    });

    it('should refuse a numeric datatype for a string input, and BYTES for a numeric one', async () => {
      const numeric = await postJson('/v2/models/simple_identity/infer', {
        inputs: [{ name: 'INPUT0', shape: [1, 1], datatype: 'INT32', data: [1] }],
      });
      expect(numeric).toEqual({
        status: 400,
        body: {
          error:
            "inputs[0] 'INPUT0': datatype INT32 cannot feed input 'INPUT0', which is BYTES [-1,-1] (strings); send BYTES",
        },
      });
      const strings = await postJson('/v2/models/gather/infer', {
        inputs: [{ name: 'index', shape: [1], datatype: 'BYTES', data: ['1'] }],
      });
      expect(strings.status).toBe(400);
      expect(strings.body.error).toMatch(
        /^inputs\[0\] 'index': datatype BYTES cannot feed input 'index', which is INT32/,
      );
    });

    it('should refuse a string in an INT32 datatype, as for any number', async () => {
      const res = await postJson('/v2/models/gather/infer', {
        inputs: [{ name: 'index', shape: [1], datatype: 'INT32', data: ['1'] }],
      });
      expect(res.status).toBe(400);
      expect(res.body.error).toMatch(/^inputs\[0\] 'index'\.data\[0\] \(flat index\): /);
    });

    it('should refuse an element holding a code point of U+EF00-U+EFFF, naming it', async () => {
      const res = await postJson('/v2/models/simple_identity/infer', {
        inputs: [{ name: 'INPUT0', shape: [1, 2], datatype: 'BYTES', data: ['ok', 'x\uEF41'] }],
      });
      expect(res.status).toBe(400);
      expect(res.body.error).toMatch(
        /^inputs\[0\] 'INPUT0'\.data\[1\] \(flat index\): holds U\+EF41, one of the private-use code points U\+EF00-U\+EFFF/,
      );
    });

    it("should answer ONNX Runtime's refusal of a non-number in simple_string with 400", async () => {
      const res = await postJson('/v2/models/simple_string/infer', {
        inputs: [
          { name: 'INPUT0', shape: [1, 16], datatype: 'BYTES', data: decimals(A).fill('x', 3, 4) },
          { name: 'INPUT1', shape: [1, 16], datatype: 'BYTES', data: decimals(B) },
        ],
      });
      expect(res.status).toBe(400);
      expect(res.body.error).toMatch(/^model 'simple_string' version 1 cannot run on input/);
    });
  });

  describe('V2 binary', () => {
    it('should return NUL and bytes that are not UTF-8 byte-exact through simple_identity', async () => {
      const reply = await identityBinary(AWKWARD);
      expect(reply.status).toBe(200);
      expect(reply.header.outputs).toEqual([
        {
          name: 'OUTPUT0',
          datatype: 'BYTES',
          shape: [1, AWKWARD.length],
          parameters: { binary_data_size: framed(AWKWARD).length },
        },
      ]);
      expect(hex(unframe(reply.binary))).toEqual(hex(AWKWARD));
    });

    it("should return any bytes through a TF.js graph model's string Identity too", async () => {
      const reply = await identityBinary(AWKWARD, true, 'tfjs_identity');
      expect(reply.status).toBe(200);
      expect(hex(unframe(reply.binary))).toEqual(hex(AWKWARD));
    });

    it('should sum binary BYTES inputs in simple_string, answering binary BYTES', async () => {
      const a = framed(decimals(A).map((s) => Buffer.from(s)));
      const b = framed(decimals(B).map((s) => Buffer.from(s)));
      const input = (name: string, size: number) => ({
        name,
        shape: [1, 16],
        datatype: 'BYTES',
        parameters: { binary_data_size: size },
      });
      const reply = await postBinary(
        'simple_string',
        {
          inputs: [input('INPUT0', a.length), input('INPUT1', b.length)],
          parameters: { binary_data_output: true },
        },
        Buffer.concat([a, b]),
      );
      expect(reply.status).toBe(200);
      const sizes = reply.header.outputs!.map((o) => o.parameters!.binary_data_size);
      const sum = unframe(reply.binary.subarray(0, sizes[0]));
      const difference = unframe(reply.binary.subarray(sizes[0]));
      expect(sum.map(String)).toEqual(decimals(A.map((x) => x + 1)));
      expect(difference.map(String)).toEqual(decimals(A.map((x) => x - 1)));
    });

    it('should refuse, with 400 naming the element, JSON output of an element that is not UTF-8', async () => {
      const reply = await identityBinary([Buffer.from('fine'), Buffer.from([0x61, 0xff])], false);
      expect(reply.status).toBe(400);
      expect(reply.header.error).toBe(
        'output \'OUTPUT0\': element 1 (flat index) is not valid UTF-8, so a JSON string cannot hold it byte-exact; ask for this output as binary data (outputs: [{"name": "OUTPUT0", "parameters": {"binary_data": true}}])',
      );
    });

    it('should answer UTF-8 elements sent as binary data as JSON strings when asked', async () => {
      const reply = await identityBinary([Buffer.from('a\u0000'), Buffer.from('é')], false);
      expect(reply.status).toBe(200);
      expect(reply.header.outputs![0].data).toEqual(['a\u0000', 'é']);
    });

    it('should refuse BYTES framing that does not hold the shape, naming the element', async () => {
      const data = Buffer.concat([framed([Buffer.from('ab')]), Buffer.from([9, 0, 0, 0, 0x61])]);
      const reply = await postBinary(
        'simple_identity',
        {
          inputs: [
            {
              name: 'INPUT0',
              shape: [1, 2],
              datatype: 'BYTES',
              parameters: { binary_data_size: data.length },
            },
          ],
        },
        data,
      );
      expect(reply.status).toBe(400);
      expect(reply.header.error).toBe(
        "inputs[0] 'INPUT0': BYTES element 1 declares 9 bytes but only 1 remain in binary_data_size",
      );
    });
  });

  describe('TF Serving REST', () => {
    it("should answer simple_string's sums as strings, in the row format", async () => {
      const res = await postJson('/v1/models/simple_string:predict', {
        instances: [{ INPUT0: decimals(A), INPUT1: decimals(B) }],
      });
      expect(res).toEqual({
        status: 200,
        body: {
          predictions: [
            { OUTPUT0: decimals(A.map((x) => x + 1)), OUTPUT1: decimals(A.map((x) => x - 1)) },
          ],
        },
      });
    });

    it('should take {"b64"} for binary strings and answer them as {"b64"}, UTF-8 as strings', async () => {
      const isText = (bytes: Buffer) => Buffer.from(bytes.toString('utf8')).equals(bytes);
      const asJson = (bytes: Buffer) =>
        isText(bytes) ? bytes.toString('utf8') : { b64: bytes.toString('base64') };
      // Text may come as {"b64"} too: it is answered as a string.
      const sent = [...AWKWARD.map(asJson), { b64: Buffer.from('é').toString('base64') }];
      const res = await postJson('/v1/models/simple_identity:predict', { inputs: [sent] });
      expect(res).toEqual({
        status: 200,
        body: { outputs: [[...AWKWARD.map(asJson), 'é']] },
      });
    });

    it('should read {"b64"} instances of a one-string-per-example model as bytes, not images, and answer an output named *_bytes in {"b64"}', async () => {
      const res = await postJson('/v1/models/vector_identity:predict', {
        instances: [{ b64: '/w==' }, 'a', { b64: 'YQ==' }],
      });
      expect(res).toEqual({
        status: 200,
        body: { predictions: [{ b64: '/w==' }, { b64: 'YQ==' }, { b64: 'YQ==' }] },
      });
    });

    it('should refuse a number where a string is expected, and a string where a number is', async () => {
      const strings = await postJson('/v1/models/simple_identity:predict', {
        instances: [['a', 3]],
      });
      expect(strings).toEqual({
        status: 400,
        body: {
          error:
            'instances[0][1]: expected a string (or {"b64": "<base64>"} for bytes that are not UTF-8), got 3; input \'INPUT0\' is string [-1,-1]',
        },
      });
      const numbers = await postJson('/v1/models/gather:predict', { instances: ['1'] });
      expect(numbers.status).toBe(400);
      expect(numbers.body.error).toMatch(/^instances\[0\]: /);
    });
  });

  describe('/predict', () => {
    it('should take and answer strings and {"b64"} bytes, as TF Serving REST does', async () => {
      const res = await postJson('/predict', {
        model: 'simple_identity',
        instances: [['a\u0000', { b64: '/w==' }]],
      });
      expect(res).toEqual({
        status: 200,
        body: { model: 'simple_identity', version: 1, predictions: [['a\u0000', { b64: '/w==' }]] },
      });
    });
  });

  describe('gRPC', () => {
    let v2: Client;
    let tfs: Client;
    beforeAll(() => {
      v2 = grpcClient(inferenceDefinition(), 'inference.GRPCInferenceService', grpcPort);
      const definition = loadProtos(
        ['tensorflow_serving/apis/prediction_service.proto'],
        `${PROTOS_DIR}/tfserving`,
        { keepCase: true, longs: String, enums: String },
      );
      tfs = grpcClient(definition, 'tensorflow.serving.PredictionService', grpcPort);
    });
    afterAll(() => {
      v2?.close();
      tfs?.close();
    });

    interface V2Answer {
      outputs: { name: string; datatype: string; shape: string[] }[];
      raw_output_contents: Buffer[];
    }

    it('should return bytes_contents byte-exact through simple_identity (V2 gRPC)', async () => {
      const answer = await unary<V2Answer>(v2, 'ModelInfer', {
        model_name: 'simple_identity',
        inputs: [
          {
            name: 'INPUT0',
            datatype: 'BYTES',
            shape: [1, AWKWARD.length],
            contents: { bytes_contents: AWKWARD },
          },
        ],
      });
      expect(answer.outputs).toEqual([
        expect.objectContaining({ name: 'OUTPUT0', datatype: 'BYTES' }),
      ]);
      expect(hex(unframe(answer.raw_output_contents[0]))).toEqual(hex(AWKWARD));
    });

    it('should read raw_input_contents as framed BYTES and sum them (V2 gRPC)', async () => {
      const answer = await unary<V2Answer>(v2, 'ModelInfer', {
        model_name: 'simple_string',
        inputs: [
          { name: 'INPUT0', datatype: 'BYTES', shape: [1, 16] },
          { name: 'INPUT1', datatype: 'BYTES', shape: [1, 16] },
        ],
        raw_input_contents: [
          framed(decimals(A).map((s) => Buffer.from(s))),
          framed(decimals(A).map((s) => Buffer.from(s))),
        ],
      });
      expect(unframe(answer.raw_output_contents[0]).map(String)).toEqual(
        decimals(A.map((x) => 2 * x)),
      );
      expect(unframe(answer.raw_output_contents[1]).map(String)).toEqual(decimals(A.map(() => 0)));
    });

    it('should refuse a number where a string is expected with INVALID_ARGUMENT (V2 gRPC)', async () => {
      const error = await failure(
        unary(v2, 'ModelInfer', {
          model_name: 'simple_identity',
          inputs: [
            { name: 'INPUT0', datatype: 'INT32', shape: [1, 1], contents: { int_contents: [1] } },
          ],
        }),
      );
      expect(error.code).toBe(status.INVALID_ARGUMENT);
      expect(error.details).toBe(
        "inputs[0] 'INPUT0': datatype INT32 cannot feed input 'INPUT0', which is BYTES [-1,-1] (strings); send BYTES",
      );
    });

    it('should refuse numbers for a string input with INVALID_ARGUMENT (TF Serving gRPC)', async () => {
      const error = await failure(
        unary(tfs, 'Predict', {
          model_spec: { name: 'simple_identity' },
          inputs: {
            INPUT0: {
              dtype: 'DT_INT32',
              tensor_shape: { dim: [{ size: 1 }, { size: 2 }] },
              int_val: [1, 2],
            },
          },
        }),
      );
      expect(error.code).toBe(status.INVALID_ARGUMENT);
      expect(error.details).toBe(
        'inputs.INPUT0[0][0]: expected a string (or {"b64": "<base64>"} for bytes that are not UTF-8), got 1; input \'INPUT0\' is string [-1,-1]',
      );
    });

    it('should return string_val byte-exact through simple_identity (TF Serving gRPC)', async () => {
      const answer = await unary<{
        outputs: Record<string, { dtype: string; string_val: Buffer[] }>;
      }>(tfs, 'Predict', {
        model_spec: { name: 'simple_identity' },
        inputs: {
          INPUT0: {
            dtype: 'DT_STRING',
            tensor_shape: { dim: [{ size: 1 }, { size: AWKWARD.length }] },
            string_val: AWKWARD,
          },
        },
      });
      expect(answer.outputs.OUTPUT0.dtype).toBe('DT_STRING');
      expect(hex(answer.outputs.OUTPUT0.string_val)).toEqual(hex(AWKWARD));
    });
  });
});

describe('String requests merged into one batch (e2e, real threads, ONNX Runtime)', () => {
  let root: string;
  let app: NestExpressApplication | undefined;
  let url: string;

  beforeAll(async () => {
    root = await makeRepository({ 'simple_identity/1': writeSimpleIdentity });
    // One thread and a batch due exactly when its third row is queued: the merge does not
    // depend on timing (BATCH_TIMEOUT_MS only bounds the wait if a request never came).
    app = await createTestApp({
      MODEL_DIR: root,
      INFERENCE_THREADS: '1',
      BATCH_MAX_SIZE: '3',
      BATCH_TIMEOUT_MS: '10000',
      REQUEST_TIMEOUT_MS: '0',
    });
    url = await listenOnLoopback(app);
  }, 60_000);
  afterAll(async () => {
    await closeApp(app);
    removeRepository(root);
  });

  it('should answer each of 3 merged requests its own rows, byte-exact', async () => {
    const rows = [
      [Buffer.from('one'), Buffer.from([0xff, 0x00])],
      [Buffer.alloc(0), Buffer.from('a much longer second element')],
      [Buffer.from([0x80]), Buffer.from('🙂\u0000')],
    ];
    const answers = await Promise.all(
      rows.map(async (elements) => {
        const data = framed(elements);
        const json = Buffer.from(
          JSON.stringify({
            inputs: [
              {
                name: 'INPUT0',
                shape: [1, 2],
                datatype: 'BYTES',
                parameters: { binary_data_size: data.length },
              },
            ],
            parameters: { binary_data_output: true },
          }),
        );
        const res = await fetch(`${url}/v2/models/simple_identity/infer`, {
          method: 'POST',
          headers: {
            'content-type': 'application/octet-stream',
            'inference-header-content-length': String(json.length),
          },
          body: Buffer.concat([json, data]),
        });
        const body = Buffer.from(await res.arrayBuffer());
        const length = Number(res.headers.get('inference-header-content-length'));
        return { status: res.status, elements: unframe(body.subarray(length)) };
      }),
    );
    answers.forEach((answer, i) => {
      expect(answer.status).toBe(200);
      expect(hex(answer.elements)).toEqual(hex(rows[i]));
    });
    const metrics = await (await fetch(`${url}/metrics`)).text();
    const labels = { model: 'simple_identity', version: '1' };
    expect(metricValue(metrics, 'model_batch_rows_count', labels)).toBe(1);
    expect(metricValue(metrics, 'model_batch_rows_sum', labels)).toBe(3);
  }, 60_000);
});
