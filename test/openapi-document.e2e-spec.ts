import { NestExpressApplication } from '@nestjs/platform-express';
import { STATUS_CODES } from 'node:http';
import request from 'supertest';
import { modelFormats, platformNames } from '../src/engines/registry';
import { closeApp, createTestApp } from './utils/test-app';

type Schema = {
  $ref?: string;
  type?: string;
  items?: Schema;
  oneOf?: Schema[];
  properties?: Record<string, Schema>;
  additionalProperties?: Schema;
  enum?: string[];
};
type Answer = { content?: Record<string, { schema?: Schema; example?: unknown }> };
type Operation = { responses: Record<string, Answer> };

const SETOSA = [5.1, 3.5, 1.4, 0.2];
const JSON_TYPE = 'application/json';

/**
 * The OpenAPI document (/docs-json) as Swagger UI reads it: each error status shows an example of
 * its own answer (not the error DTO's 400 under every status), the examples the server can be made
 * to answer are what it answers, and `instances` has a schema a reader can follow.
 */
describe('OpenAPI document: error examples and request schemas (e2e)', () => {
  let app: NestExpressApplication;
  let paths: Record<string, Record<string, Operation>>;
  let schemas: Record<string, Schema>;
  const http = () => request(app.getHttpServer());

  beforeAll(async () => {
    app = await createTestApp();
    const doc = (await http().get('/docs-json').expect(200)).body;
    paths = doc.paths;
    schemas = doc.components.schemas;
  });
  afterAll(() => closeApp(app));

  const example = (path: string, method: string, status: number) =>
    paths[path][method].responses[status]?.content?.[JSON_TYPE]?.example;

  const errorAnswers = () =>
    Object.entries(paths).flatMap(([path, operations]) =>
      Object.entries(operations).map(([method, op]) => ({
        where: `${method.toUpperCase()} ${path}`,
        // Answers in the error shapes (health checks answer 503 in their own).
        errors: Object.entries(op.responses)
          .map(([status, answer]) => ({
            status: Number(status),
            json: answer.content?.[JSON_TYPE],
          }))
          .filter(({ json }) =>
            /(ErrorResponseDto|ProtocolErrorDto)$/.test(json?.schema?.$ref ?? ''),
          )
          .map(({ status, json }) => ({ status, example: json!.example })),
      })),
    );

  it('should give every documented error status an example of its own', () => {
    const operations = errorAnswers().filter(({ errors }) => errors.length > 0);
    expect(operations.length).toBeGreaterThan(10);
    for (const { where, errors } of operations) {
      for (const { status, example } of errors) {
        expect({ where, status, example }).toEqual({ where, status, example: expect.anything() });
        // Native errors carry their status; protocol errors are {"error"} alone.
        if (!where.includes(' /v1/') && !where.includes(' /v2/')) {
          expect(example).toMatchObject({ statusCode: status, error: STATUS_CODES[status] });
        } else {
          expect(Object.keys(example as object)).toEqual(['error']);
        }
      }
      const texts = errors.map(({ example }) => JSON.stringify(example));
      expect({ where, distinct: new Set(texts).size }).toEqual({ where, distinct: texts.length });
    }
  });

  it('should document what an inference can answer: 400, 404, 413, 503, 504, 507', () => {
    for (const [path, method] of [
      ['/predict', 'post'],
      ['/v1/models/{name}:predict', 'post'],
      ['/v1/models/{name}/versions/{version}:classify', 'post'],
      ['/v1/models/{name}:regress', 'post'],
      ['/v2/models/{name}/infer', 'post'],
    ]) {
      const statuses = Object.keys(paths[path][method].responses).filter((s) => Number(s) >= 400);
      expect({ path, statuses }).toEqual({
        path,
        statuses: ['400', '404', '413', '503', '504', '507'],
      });
    }
  });

  // Requests that make the server answer a documented example: its text is the server's own.
  it.each([
    ['/predict', 'post', 400, { model: 'iris', instances: [SETOSA, [5.1, 3.5, 1.4]] }],
    ['/predict', 'post', 404, { model: 'irsi', instances: [SETOSA] }],
    ['/predict', 'post', 413, { model: 'iris', instances: Array(2000).fill(SETOSA) }],
    ['/models/{name}', 'get', 404, '/models/irsi'],
    ['/v1/models/{name}:predict', 'post', 400, { instances: [SETOSA], inputs: [SETOSA] }],
    ['/v1/models/{name}:predict', 'post', 404, '/v1/models/irsi:predict'],
    ['/v1/models/{name}:classify', 'post', 400, '/v1/models/linear:classify'],
    ['/v2/models/{name}/infer', 'post', 400, '/v2/models/iris/infer'],
    ['/v2/models/{name}/versions/{version}', 'get', 404, '/v2/models/iris/versions/3'],
  ])('should answer the %s %s %s example as documented', async (path, method, status, how) => {
    const bodies: Record<string, object> = {
      '/v1/models/irsi:predict': { instances: [SETOSA] },
      '/v1/models/linear:classify': { examples: [{ x: 1 }] },
      '/v2/models/iris/infer': {
        inputs: [{ name: 'features', shape: [1, 4], datatype: 'FP32', data: SETOSA }],
        outputs: [{ name: 'probs' }],
      },
    };
    const url = typeof how === 'string' ? how : path.replace('{name}', 'iris');
    const body = typeof how === 'string' ? bodies[how] : how;
    const sent = method === 'get' ? http().get(url) : http().post(url).send(body);
    const res = await sent.expect(status);
    expect(res.body).toEqual(example(path, method, status));
  });

  it('should give instances a schema: rows of values, named inputs or images', () => {
    const body = paths['/predict'].post as unknown as {
      requestBody: { content: Record<string, { schema: Schema }> };
    };
    const resolve = (schema: Schema) =>
      schema.$ref ? schemas[schema.$ref.split('/').pop()!] : schema;
    for (const instances of [
      body.requestBody.content[JSON_TYPE].schema.properties!.instances,
      schemas.TfsPredictRequestDto.properties!.instances,
    ]) {
      expect(instances.type).toBe('array');
      const [value, named, image] = instances.items!.oneOf!;
      // A value nests to any depth: numbers, booleans, or arrays of values.
      const tensor = resolve(value);
      expect(tensor.oneOf!.map((s) => s.type)).toEqual(['number', 'boolean', 'array']);
      expect(resolve(tensor.oneOf![2].items!)).toBe(tensor);
      expect(named.type).toBe('object');
      expect(resolve(named.additionalProperties!)).toBe(tensor);
      expect(image.properties!.b64.type).toBe('string');
    }
  });

  it('should list the formats and platforms of every registered engine, ONNX included', () => {
    const version = schemas.ModelVersionDto.properties!;
    expect(version.format.enum).toEqual(modelFormats());
    expect(version.platform.enum).toEqual(platformNames());
    expect(schemas.V2ModelMetadataDto.properties!.platform.enum).toEqual(platformNames());
    expect(platformNames()).toContain('onnxruntime_onnx');
  });
});
