import { NestExpressApplication } from '@nestjs/platform-express';
import { cpSync } from 'node:fs';
import { join } from 'node:path';
import request from 'supertest';
import { graphOps, saveGraphModel } from '../../scripts/lib/model-writer';
import { closeApp, createTestApp } from '../utils/test-app';
import { bytesOf } from '../utils/v2-bytes';
import { makeProtocolRepository, removeRepository } from './protocol-fixtures';

/**
 * The V2 binary tensor data extension (Triton's extension_binary_data.md), against the real app
 * and real models. Every request is built here byte by byte as the reference describes it (a JSON
 * header, then each binary input's little-endian bytes in input order, the header's length in
 * Inference-Header-Content-Length), with Buffer writes and nothing from src/, and every answer
 * is compared with the answer to the same tensors sent as JSON.
 */

const MOVENET = join(__dirname, '..', 'fixtures', 'converted', 'movenet-lightning');

/** A JSON header followed by binary chunks: the body and the header's length in bytes. */
function frame(header: object, ...chunks: Buffer[]): { body: Buffer; length: number } {
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  return { body: Buffer.concat([json, ...chunks]), length: json.length };
}

/** Reads a binary response: the JSON header, then each binary output's bytes, decoded by hand. */
function readBinaryResponse(res: request.Response) {
  const body = res.body as Buffer;
  const length = Number(res.headers['inference-header-content-length']);
  const header = JSON.parse(body.subarray(0, length).toString('utf8'));
  let offset = length;
  const decoded: Record<string, number[]> = {};
  for (const output of header.outputs) {
    const size = output.parameters?.binary_data_size;
    if (size === undefined) continue;
    const bytes = body.subarray(offset, offset + size);
    offset += size;
    const values: number[] = [];
    const width = output.datatype === 'BOOL' ? 1 : 4;
    for (let at = 0; at < size; at += width) {
      if (output.datatype === 'FP32') values.push(bytes.readFloatLE(at));
      else if (output.datatype === 'INT32') values.push(bytes.readInt32LE(at));
      else values.push(bytes.readUInt8(at));
    }
    decoded[output.name] = values;
  }
  expect(offset).toBe(body.length);
  return { header, decoded };
}

/** A supertest parser keeping the body as bytes, whatever the Content-Type. */
const collect = (res: request.Response, done: (error: Error | null, body: Buffer) => void) => {
  const chunks: Buffer[] = [];
  res.on('data', (chunk: Buffer) => chunks.push(chunk));
  res.on('end', () => done(null, Buffer.concat(chunks)));
};

describe('V2 binary tensor data (e2e, real models)', () => {
  let app: NestExpressApplication;
  let root: string;
  const http = () => request(app.getHttpServer());

  /** Sends a framed body as Triton's client does: octet-stream, the header length given. */
  const send = (path: string, framed: { body: Buffer; length: number }, accept?: string) => {
    const req = http()
      .post(path)
      .set('Content-Type', 'application/octet-stream')
      .set('Inference-Header-Content-Length', String(framed.length));
    if (accept) req.set('Accept', accept);
    return req.buffer(true).parse(collect).send(framed.body);
  };
  const sendJson = (path: string, body: object) => http().post(path).send(body).expect(200);
  const errorOf = (res: request.Response) => JSON.parse((res.body as Buffer).toString('utf8'));

  beforeAll(async () => {
    root = await makeProtocolRepository();
    cpSync(MOVENET, join(root, 'movenet'), { recursive: true });
    // A free inner dimension: the raw form cannot size it.
    await saveGraphModel(join(root, 'ragged', '1'), {
      nodes: [graphOps.placeholder('x', 'float32', [-1, -1]), graphOps.op('y', 'Identity', ['x'])],
      weights: [],
      inputs: { x: { node: 'x', dtype: 'float32', shape: [-1, -1] } },
      outputs: { y: { node: 'y', dtype: 'float32', shape: [-1, -1] } },
    });
    app = await createTestApp({ MODEL_DIR: root, MODEL_VERSION_POLICY: 'all' });
  }, 60_000);
  afterAll(async () => {
    await closeApp(app);
    removeRepository(root);
  });

  it('should list binary_tensor_data in the server extensions', async () => {
    const res = await http().get('/v2').expect(200);
    expect(res.body.extensions).toContain('binary_tensor_data');
  });

  it("should answer the reference's example byte for byte (UINT32 [2,2] + BOOL [3] in, FP32 [3,2] out)", async () => {
    const input0 = Buffer.alloc(16);
    [1, 2, 3, 4].forEach((v, i) => input0.writeUInt32LE(v, i * 4));
    const input1 = Buffer.from([1, 0, 1]);
    const header = {
      model_name: 'mymodel',
      inputs: [
        { name: 'input0', shape: [2, 2], datatype: 'UINT32', parameters: { binary_data_size: 16 } },
        { name: 'input1', shape: [3], datatype: 'BOOL', parameters: { binary_data_size: 3 } },
      ],
      outputs: [{ name: 'output0', parameters: { binary_data: true } }],
    };
    const res = await send('/v2/models/mymodel/infer', frame(header, input0, input1)).expect(200);
    expect(res.headers['content-type']).toBe('application/octet-stream');
    const length = Number(res.headers['inference-header-content-length']);
    expect(Number(res.headers['content-length'])).toBe(length + 24);
    const json = JSON.parse((res.body as Buffer).subarray(0, length).toString('utf8'));
    expect(json.outputs).toEqual([
      { name: 'output0', shape: [3, 2], datatype: 'FP32', parameters: { binary_data_size: 24 } },
    ]);
    const values = Array.from({ length: 6 }, (_, i) =>
      (res.body as Buffer).readFloatLE(length + i * 4),
    );
    const asJson = await sendJson('/v2/models/mymodel/infer', {
      inputs: [
        { name: 'input0', shape: [2, 2], datatype: 'UINT32', data: [1, 2, 3, 4] },
        { name: 'input1', shape: [3], datatype: 'BOOL', data: [true, false, true] },
      ],
      outputs: [{ name: 'output0' }],
    });
    expect(values).toEqual(asJson.body.outputs[0].data);
    expect(values).toEqual([5, 7, 4, 6, 5, 7]);
  });

  it('should answer binary FP32 iris rows exactly as the same rows in JSON', async () => {
    const rows = [5.1, 3.5, 1.4, 0.2, 6.7, 3.1, 5.6, 2.4];
    const header = {
      id: 'b1',
      inputs: [
        {
          name: 'features',
          shape: [2, 4],
          datatype: 'FP32',
          parameters: { binary_data_size: 32 },
        },
      ],
    };
    const res = await send('/v2/models/iris/infer', frame(header, bytesOf('FP32', rows)));
    expect(res.status).toBe(200);
    const binary = JSON.parse((res.body as Buffer).toString('utf8'));
    const asJson = await sendJson('/v2/models/iris/infer', {
      id: 'b1',
      inputs: [{ name: 'features', shape: [2, 4], datatype: 'FP32', data: rows }],
    });
    expect(binary).toEqual(asJson.body);
  });

  it.each([
    'UINT8',
    'UINT16',
    'UINT32',
    'UINT64',
    'INT8',
    'INT16',
    'INT32',
    'INT64',
    'FP16',
    'FP32',
    'FP64',
  ])(
    'should map %s binary data onto the float32 input of linear as JSON does',
    async (datatype) => {
      const values = [1, 2, 4];
      const header = {
        inputs: [{ name: 'x', shape: [3, 1], datatype, parameters: { binary_data_size: 0 } }],
      };
      const bytes = bytesOf(datatype, values);
      header.inputs[0].parameters.binary_data_size = bytes.length;
      const res = await send('/v2/models/linear/infer', frame(header, bytes)).expect(200);
      const asJson = await sendJson('/v2/models/linear/infer', {
        inputs: [{ name: 'x', shape: [3, 1], datatype: 'FP32', data: values }],
      });
      expect(JSON.parse((res.body as Buffer).toString()).outputs).toEqual(asJson.body.outputs);
    },
  );

  it('should take JSON and binary inputs mixed in one request', async () => {
    const header = {
      inputs: [
        { name: 'input0', shape: [1, 2], datatype: 'INT32', data: [7, 8] },
        { name: 'input1', shape: [2], datatype: 'BOOL', parameters: { binary_data_size: 2 } },
      ],
    };
    const res = await send('/v2/models/mymodel/infer', frame(header, Buffer.from([0, 1])));
    expect(res.status).toBe(200);
    const asJson = await sendJson('/v2/models/mymodel/infer', {
      inputs: [
        { name: 'input0', shape: [1, 2], datatype: 'INT32', data: [7, 8] },
        { name: 'input1', shape: [2], datatype: 'BOOL', data: [false, true] },
      ],
    });
    expect(JSON.parse((res.body as Buffer).toString()).outputs).toEqual(asJson.body.outputs);
  });

  it('should answer every output in binary with binary_data_output, unless an output says false', async () => {
    const header = {
      parameters: { binary_data_output: true },
      inputs: [
        { name: 'input0', shape: [1, 2], datatype: 'INT32', parameters: { binary_data_size: 8 } },
        { name: 'input1', shape: [1], datatype: 'BOOL', parameters: { binary_data_size: 1 } },
      ],
    };
    const body = frame(header, bytesOf('INT32', [-7, 8]), Buffer.from([1]));
    const all = readBinaryResponse(await send('/v2/models/mymodel/infer', body).expect(200));
    expect(all.decoded).toEqual({ output0: [-6, 9], output1: [-7, 8] });
    expect(all.header.outputs[1]).toEqual({
      name: 'output1',
      shape: [1, 2],
      datatype: 'INT32',
      parameters: { binary_data_size: 8 },
    });

    const mixed = frame(
      {
        ...header,
        outputs: [{ name: 'output0', parameters: { binary_data: false } }, { name: 'output1' }],
      },
      bytesOf('INT32', [-7, 8]),
      Buffer.from([1]),
    );
    const some = readBinaryResponse(await send('/v2/models/mymodel/infer', mixed).expect(200));
    expect(some.header.outputs[0]).toEqual({
      name: 'output0',
      shape: [1, 2],
      datatype: 'FP32',
      data: [-6, 9],
    });
    expect(some.decoded).toEqual({ output1: [-7, 8] });
  });

  it('should answer binary outputs to a plain JSON request when Accept prefers octet-stream', async () => {
    const res = await http()
      .post('/v2/models/iris/infer')
      .set('Accept', 'application/octet-stream')
      .buffer(true)
      .parse(collect)
      .send({ inputs: [{ name: 'features', shape: [1, 4], datatype: 'FP32', data: [1, 2, 3, 4] }] })
      .expect(200);
    expect(res.headers['content-type']).toBe('application/octet-stream');
    const { decoded } = readBinaryResponse(res);
    const asJson = await sendJson('/v2/models/iris/infer', {
      inputs: [{ name: 'features', shape: [1, 4], datatype: 'FP32', data: [1, 2, 3, 4] }],
    });
    expect(decoded.probabilities).toEqual(asJson.body.outputs[0].data);
  });

  describe('the MoveNet graph model (int32 [1,192,192,3])', () => {
    const pixels = Array.from({ length: 192 * 192 * 3 }, (_, i) => (i * 7) % 256);
    let asJson: request.Response;
    beforeAll(async () => {
      asJson = await sendJson('/v2/models/movenet/infer', {
        inputs: [{ name: 'input:0', shape: [1, 192, 192, 3], datatype: 'INT32', data: pixels }],
      });
    }, 30_000);

    it('should answer INT32 and UINT8 binary images as the JSON image', async () => {
      for (const datatype of ['INT32', 'UINT8']) {
        const bytes = bytesOf(datatype, pixels);
        const header = {
          inputs: [
            {
              name: 'input:0',
              shape: [1, 192, 192, 3],
              datatype,
              parameters: { binary_data_size: bytes.length },
            },
          ],
        };
        const res = await send('/v2/models/movenet/infer', frame(header, bytes)).expect(200);
        expect(JSON.parse((res.body as Buffer).toString()).outputs).toEqual(asJson.body.outputs);
      }
    });

    it('should take the raw form (header length 0): the bytes of whole rows in the model datatype', async () => {
      const raw = { body: bytesOf('INT32', pixels), length: 0 };
      const res = await send('/v2/models/movenet/infer', raw).expect(200);
      expect(res.headers['content-type']).toMatch(/^application\/json/);
      const json = JSON.parse((res.body as Buffer).toString());
      expect(json.outputs).toEqual(asJson.body.outputs);

      const binary = await send('/v2/models/movenet/infer', raw, 'application/octet-stream');
      expect(binary.status).toBe(200);
      const { header, decoded } = readBinaryResponse(binary);
      expect(header.outputs[0].parameters).toEqual({ binary_data_size: 17 * 3 * 4 });
      expect(decoded['Identity:0']).toEqual(asJson.body.outputs[0].data);
    });
  });

  it('should take the raw form on iris: 2 rows of 4 FP32 make shape [2,4]', async () => {
    const rows = [5.1, 3.5, 1.4, 0.2, 6.7, 3.1, 5.6, 2.4];
    const res = await send('/v2/models/iris/infer', { body: bytesOf('FP32', rows), length: 0 });
    const asJson = await sendJson('/v2/models/iris/infer', {
      inputs: [{ name: 'features', shape: [2, 4], datatype: 'FP32', data: rows }],
    });
    expect(JSON.parse((res.body as Buffer).toString()).outputs).toEqual(asJson.body.outputs);
  });

  describe('malformed binary requests are 400 {"error"} naming what is wrong', () => {
    const fp32 = (shape: number[], size: number) => ({
      inputs: [
        { name: 'features', shape, datatype: 'FP32', parameters: { binary_data_size: size } },
      ],
    });
    const irisPath = '/v2/models/iris/infer';
    const cases: [string, string, { body: Buffer; length: number }, RegExp][] = [
      [
        'a header length beyond the body',
        irisPath,
        { body: Buffer.from('{"inputs":[]}'), length: 500 },
        /^inference-header-content-length 500 is beyond the body of 13 bytes/,
      ],
      [
        'a header length that is not a number',
        irisPath,
        { body: Buffer.from('{}'), length: NaN },
        /inference-header-content-length: expected the length in bytes of the JSON header/,
      ],
      [
        'a header that is not JSON',
        irisPath,
        { body: Buffer.from('{"inputs": [ xyz'), length: 16 },
        /^Malformed JSON header: .*Expected a JSON object/,
      ],
      [
        'sizes adding up to more than the body',
        irisPath,
        frame(fp32([2, 4], 32), Buffer.alloc(16)),
        /binary_data_size add up to 32 bytes but 16 bytes follow the JSON header/,
      ],
      [
        'bytes left over',
        irisPath,
        frame(fp32([1, 4], 16), Buffer.alloc(20)),
        /4 byte\(s\) left over after the binary inputs/,
      ],
      [
        'a binary_data_size that is not a multiple of the element size',
        irisPath,
        frame(fp32([2, 4], 30), Buffer.alloc(30)),
        /binary_data_size 30 is not a multiple of 4, the size of one FP32 element/,
      ],
      [
        'a binary_data_size that does not match the shape',
        irisPath,
        frame(fp32([2, 4], 16), Buffer.alloc(16)),
        /binary_data_size 16 does not match shape \[2,4\]: 8 element\(s\) of FP32 take 32 bytes/,
      ],
      [
        'a negative binary_data_size',
        irisPath,
        frame(fp32([1, 4], -16)),
        /binary_data_size must be a byte count \(a non-negative integer\), got -16/,
      ],
      [
        'both data and binary_data_size',
        irisPath,
        frame(
          {
            inputs: [
              {
                name: 'features',
                shape: [1, 4],
                datatype: 'FP32',
                data: [1, 2, 3, 4],
                parameters: { binary_data_size: 16 },
              },
            ],
          },
          Buffer.alloc(16),
        ),
        /has both data and parameters.binary_data_size/,
      ],
      [
        'a NaN in FP32 bytes',
        irisPath,
        frame(fp32([1, 4], 16), bytesOf('FP32', [1, NaN, 3, 4])),
        /element 1 \(flat index\): expected a finite number, got NaN/,
      ],
      [
        'an INT64 beyond the int32 input',
        '/v2/models/mymodel/infer',
        frame(
          {
            inputs: [
              {
                name: 'input0',
                shape: [1, 2],
                datatype: 'INT64',
                parameters: { binary_data_size: 16 },
              },
              { name: 'input1', shape: [1], datatype: 'BOOL', data: [true] },
            ],
          },
          bytesOf('INT64', [1, 3_000_000_000]),
        ),
        /element 1 \(flat index\): expected an integer in int32 range .* got 3000000000/,
      ],
      [
        'a BOOL byte other than 0 or 1',
        '/v2/models/mymodel/infer',
        frame(
          {
            inputs: [
              { name: 'input0', shape: [1, 2], datatype: 'INT32', data: [1, 2] },
              { name: 'input1', shape: [1], datatype: 'BOOL', parameters: { binary_data_size: 1 } },
            ],
          },
          Buffer.from([2]),
        ),
        /inputs\[1\] 'input1': element 0 \(flat index\): expected a boolean, got 2/,
      ],
      [
        'BYTES for a float input',
        irisPath,
        frame(
          {
            inputs: [
              {
                name: 'features',
                shape: [1],
                datatype: 'BYTES',
                parameters: { binary_data_size: 6 },
              },
            ],
          },
          Buffer.from([2, 0, 0, 0, 0x68, 0x69]),
        ),
        /datatype BYTES cannot feed input 'features', which is FP32 \[-1,4\]/,
      ],
      [
        'a BYTES element longer than its data',
        irisPath,
        frame(
          {
            inputs: [
              {
                name: 'features',
                shape: [1],
                datatype: 'BYTES',
                parameters: { binary_data_size: 6 },
              },
            ],
          },
          Buffer.from([100, 0, 0, 0, 0x68, 0x69]),
        ),
        /BYTES element 0 declares 100 bytes but only 2 remain/,
      ],
      [
        'an unknown datatype',
        irisPath,
        frame(
          {
            inputs: [
              {
                name: 'features',
                shape: [1, 4],
                datatype: 'FP8',
                parameters: { binary_data_size: 4 },
              },
            ],
          },
          Buffer.alloc(4),
        ),
        /unknown datatype 'FP8'/,
      ],
      [
        'a model_name that is not the one in the path',
        irisPath,
        frame({ ...fp32([1, 4], 16), model_name: 'linear' }, Buffer.alloc(16)),
        /model_name 'linear' differs from the model in the path, 'iris'/,
      ],
      [
        'the raw form for a two-input model',
        '/v2/models/mymodel/infer',
        { body: Buffer.alloc(8), length: 0 },
        /raw binary form \(inference-header-content-length: 0\) needs a single-input model; 'mymodel' has inputs input0, input1/,
      ],
      [
        'a raw body that is not whole rows',
        irisPath,
        { body: Buffer.alloc(30), length: 0 },
        /raw binary body of 30 bytes is not a whole number of rows: input 'features' is FP32 \[-1,4\], one row is 16 bytes/,
      ],
      [
        'an empty raw body',
        irisPath,
        { body: Buffer.alloc(0), length: 0 },
        /raw binary body of 0 bytes is not a whole number of rows/,
      ],
      [
        'the raw form for an input with a free inner dimension',
        '/v2/models/ragged/infer',
        { body: Buffer.alloc(16), length: 0 },
        /needs every dimension but the first fixed; input 'x' is FP32 \[-1,-1\]/,
      ],
    ];

    it.each(cases)('should reject %s', async (_what, path, body, pattern) => {
      const res = await send(path, body);
      expect(res.status).toBe(400);
      const error = errorOf(res);
      expect(Object.keys(error)).toEqual(['error']);
      expect(error.error).toMatch(pattern);
    });

    it('should reject a binary input sent without Inference-Header-Content-Length', async () => {
      const res = await http()
        .post(irisPath)
        .send(fp32([1, 4], 16))
        .expect(400);
      expect(res.body).toEqual({
        error:
          "inputs[0] 'features': has parameters.binary_data_size but the request has no inference-header-content-length header; send the JSON header's length in it, followed by the binary data",
      });
    });

    it('should reject a non-boolean binary_data_output', async () => {
      const res = await http()
        .post(irisPath)
        .send({
          parameters: { binary_data_output: 'yes' },
          inputs: [{ name: 'features', shape: [1, 4], datatype: 'FP32', data: [1, 2, 3, 4] }],
        })
        .expect(400);
      expect(res.body.error).toMatch(/parameters.binary_data_output must be a boolean, got "yes"/);
    });

    it('should never answer random damage to binary bodies with a 5xx', async () => {
      let seed = 7;
      const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
      const valid = frame(fp32([2, 4], 32), bytesOf('FP32', [1, 2, 3, 4, 5, 6, 7, 8]));
      const failures: string[] = [];
      for (let n = 0; n < 150; n++) {
        const body = Buffer.from(valid.body);
        for (let e = 0; e < 1 + Math.floor(random() * 4); e++) {
          body[Math.floor(random() * body.length)] = Math.floor(random() * 256);
        }
        const cut = random() < 0.3 ? Math.floor(random() * body.length) : body.length;
        const length = random() < 0.3 ? Math.floor(random() * 200) : valid.length;
        const res = await send(irisPath, { body: body.subarray(0, cut), length });
        if (res.status >= 500) failures.push(`${res.status} ${length} ${body.toString('hex')}`);
      }
      expect(failures).toEqual([]);
    });

    it('should keep serving after every malformed request', async () => {
      await sendJson(irisPath, {
        inputs: [{ name: 'features', shape: [1, 4], datatype: 'FP32', data: [1, 2, 3, 4] }],
      });
    });
  });

  it('should document the binary form on both infer operations in the OpenAPI document', async () => {
    const doc = (await http().get('/docs-json').expect(200)).body;
    for (const path of ['/v2/models/{name}/infer', '/v2/models/{name}/versions/{version}/infer']) {
      expect(doc.paths[path].post.description).toMatch(/Inference-Header-Content-Length/);
      expect(doc.paths[path].post.description).toMatch(/binary_data_size/);
    }
  });
});

describe('V2 binary tensor data and the body limits (e2e)', () => {
  let app: NestExpressApplication;
  const rowBytes = (rows: number) =>
    bytesOf(
      'FP32',
      Array.from({ length: rows * 4 }, () => 1),
    );
  const header = (rows: number) => ({
    inputs: [
      {
        name: 'features',
        shape: [rows, 4],
        datatype: 'FP32',
        parameters: { binary_data_size: rows * 16 },
      },
    ],
  });
  const send = (framed: { body: Buffer; length: number }) =>
    request(app.getHttpServer())
      .post('/v2/models/iris/infer')
      .set('Inference-Header-Content-Length', String(framed.length))
      .send(framed.body);

  beforeAll(async () => {
    app = await createTestApp({
      BODY_LIMIT: '2kb',
      JSON_MAX_ELEMENTS: '40',
      JSON_MAX_DEPTH: '4',
      CORS_ORIGINS: 'https://app.example',
    });
  });
  afterAll(() => closeApp(app));

  it('should not count binary values as JSON elements (80 values pass where JSON is refused)', async () => {
    await send(frame(header(20), rowBytes(20))).expect(200);
    const json = await request(app.getHttpServer())
      .post('/v2/models/iris/infer')
      .send({
        inputs: [{ name: 'features', shape: [20, 4], datatype: 'FP32', data: Array(80).fill(1) }],
      })
      .expect(413);
    expect(json.body.error).toMatch(/JSON_MAX_ELEMENTS/);
  });

  it('should check the JSON header against the JSON limits', async () => {
    const deep = frame({ ...header(1), parameters: { a: [[[[1]]]] } }, rowBytes(1));
    const res = await send(deep).expect(400);
    expect(res.body.error).toMatch(/nested deeper than 4 levels \(JSON_MAX_DEPTH\)/);
  });

  it('should let a browser read Inference-Header-Content-Length of a binary answer (CORS)', async () => {
    const res = await send(frame(header(1), rowBytes(1)))
      .set('Origin', 'https://app.example')
      .set('Accept', 'application/octet-stream')
      .expect(200);
    expect(res.headers['inference-header-content-length']).toMatch(/^\d+$/);
    expect(res.headers['access-control-expose-headers']).toMatch(/Inference-Header-Content-Length/);
  });

  it('should apply BODY_LIMIT to the whole body, binary data included', async () => {
    const res = await send(frame(header(200), rowBytes(200))).expect(413);
    expect(res.body.error).toMatch(/over the limit of 2048 bytes \(BODY_LIMIT\)/);
  });
});
