import { NestExpressApplication } from '@nestjs/platform-express';
import request from 'supertest';
import { closeApp, createTestApp } from '../utils/test-app';

type Schema = {
  $ref?: string;
  example?: unknown;
  items?: Schema;
  properties?: Record<string, Schema>;
  allOf?: Schema[];
};
type Operation = {
  summary?: string;
  tags?: string[];
  parameters?: { name: string; in: string; schema?: Schema }[];
  requestBody?: { content: Record<string, { examples?: object }> };
  responses: Record<string, { content?: Record<string, { schema?: Schema }> }>;
};

/** Every TF Serving and V2 endpoint is in the OpenAPI document, described, with examples. */
describe('Swagger for the protocol endpoints (e2e)', () => {
  let app: NestExpressApplication;
  let paths: Record<string, Record<string, Operation>>;
  let schemas: Record<string, Schema>;

  beforeAll(async () => {
    app = await createTestApp();
    const res = await request(app.getHttpServer()).get('/docs-json').expect(200);
    paths = res.body.paths;
    schemas = res.body.components.schemas;
  });
  afterAll(() => closeApp(app));

  const endpoints = [
    ['get', '/v1/models/{name}'],
    ['get', '/v1/models/{name}/versions/{version}'],
    ['get', '/v1/models/{name}/labels/{label}'],
    ['get', '/v1/models/{name}/metadata'],
    ['get', '/v1/models/{name}/versions/{version}/metadata'],
    ['get', '/v1/models/{name}/labels/{label}/metadata'],
    ['post', '/v1/models/{name}:predict'],
    ['post', '/v1/models/{name}/versions/{version}:predict'],
    ['post', '/v1/models/{name}/labels/{label}:predict'],
    ['post', '/v1/models/{name}:classify'],
    ['post', '/v1/models/{name}/versions/{version}:classify'],
    ['post', '/v1/models/{name}:regress'],
    ['post', '/v1/models/{name}/versions/{version}:regress'],
    ['post', '/v1/models/{name}/labels/{label}:classify'],
    ['post', '/v1/models/{name}/labels/{label}:regress'],
    ['get', '/v2'],
    ['get', '/v2/health/live'],
    ['get', '/v2/health/ready'],
    ['get', '/v2/models/{name}'],
    ['get', '/v2/models/{name}/versions/{version}'],
    ['get', '/v2/models/{name}/ready'],
    ['get', '/v2/models/{name}/versions/{version}/ready'],
    ['get', '/v2/models/{name}/config'],
    ['get', '/v2/models/{name}/versions/{version}/config'],
    ['get', '/v2/models/stats'],
    ['get', '/v2/models/{name}/stats'],
    ['get', '/v2/models/{name}/versions/{version}/stats'],
    ['post', '/v2/models/{name}/infer'],
    ['post', '/v2/models/{name}/versions/{version}/infer'],
    ['post', '/v2/repository/index'],
    ['post', '/v2/repository/models/{name}/load'],
    ['post', '/v2/repository/models/{name}/unload'],
  ];

  it('should document exactly the TF Serving and V2 endpoints', () => {
    const documented = Object.entries(paths)
      .filter(([path]) => /^\/v[12](\/|$)/.test(path))
      .flatMap(([path, ops]) => Object.keys(ops).map((method) => [method, path]));
    expect(documented.sort()).toEqual([...endpoints].sort());
  });

  /** A schema has examples when every leaf property has one (nested DTOs are followed). */
  const missingExamples = (schema: Schema, where: string, seen = new Set<string>()): string[] => {
    if (schema.$ref) {
      const name = schema.$ref.split('/').pop()!;
      if (seen.has(name)) return [];
      seen.add(name);
      return missingExamples(schemas[name], name, seen);
    }
    if (schema.allOf) return schema.allOf.flatMap((s) => missingExamples(s, where, seen));
    if (schema.properties) {
      return Object.entries(schema.properties).flatMap(([key, prop]) =>
        prop.example !== undefined ? [] : missingExamples(prop, `${where}.${key}`, seen),
      );
    }
    if (schema.items && schema.example === undefined)
      return missingExamples(schema.items, where, seen);
    return schema.example === undefined ? [where] : [];
  };

  it.each(endpoints)('should describe %s %s with a summary, a tag and examples', (method, path) => {
    const op = paths[path][method];
    expect(op.summary).toBeTruthy();
    expect(op.tags?.[0]).toMatch(/TensorFlow Serving|Open Inference Protocol/);
    for (const param of op.parameters ?? []) expect(param.schema?.example).toBeDefined();
    if (method === 'post') {
      expect(
        Object.keys(op.requestBody!.content['application/json'].examples ?? {}).length,
      ).toBeGreaterThan(0);
    }
    const answers = Object.values(op.responses).flatMap((r) => Object.values(r.content ?? {}));
    expect(answers.length).toBeGreaterThan(0);
    for (const { schema } of answers) expect(missingExamples(schema!, path)).toEqual([]);
  });
});
