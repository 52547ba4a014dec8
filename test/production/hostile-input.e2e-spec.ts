import { NestExpressApplication } from '@nestjs/platform-express';
import request from 'supertest';
import { closeApp, createTestApp } from '../utils/test-app';

/** A small seeded PRNG (mulberry32): the fuzz cases are the same on every run. */
function prng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const TOKENS = [
  '[',
  ']',
  '{',
  '}',
  ',',
  ':',
  '"',
  '\\',
  'null',
  '1e309',
  '-0',
  'NaN',
  '\u0000',
  '\uffff',
  '9'.repeat(400),
];

/** Random damage to a valid body: flipped characters, cuts, inserted JSON tokens, duplicated slices. */
function fuzz(valid: string, count: number, seed: number): string[] {
  const random = prng(seed);
  const pick = <T>(items: T[]) => items[Math.floor(random() * items.length)];
  return Array.from({ length: count }, () => {
    let text = valid;
    const edits = 1 + Math.floor(random() * 4);
    for (let e = 0; e < edits; e++) {
      const at = Math.floor(random() * text.length);
      switch (Math.floor(random() * 4)) {
        case 0:
          text =
            text.slice(0, at) +
            String.fromCharCode(32 + Math.floor(random() * 95)) +
            text.slice(at + 1);
          break;
        case 1:
          text = text.slice(0, at);
          break;
        case 2:
          text = text.slice(0, at) + pick(TOKENS) + text.slice(at);
          break;
        default:
          text = text.slice(0, at) + text.slice(Math.floor(random() * text.length));
      }
    }
    return text;
  });
}

/** A valid body for each kind of inference route: the starting point of the fuzzing. */
function validBody(path: string): string {
  if (path === '/predict')
    return JSON.stringify({ model: 'iris', instances: [[5.1, 3.5, 1.4, 0.2]] });
  if (path.endsWith('/infer')) {
    return JSON.stringify({
      inputs: [{ name: 'features', shape: [1, 4], datatype: 'FP32', data: [5.1, 3.5, 1.4, 0.2] }],
    });
  }
  return JSON.stringify({ instances: [[5.1, 3.5, 1.4, 0.2]] });
}

/** Bodies that are valid JSON of the wrong shape, or hostile in size, depth or values. */
function hostileJson(path: string): string[] {
  const huge = (value: string) => validBody(path).replace('5.1', value);
  return [
    'null',
    '[]',
    '"just a string"',
    '123',
    'true',
    '{}',
    `{"instances":${'['.repeat(10_000)}${']'.repeat(10_000)}}`,
    `{"instances":[${'0,'.repeat(10_000_000)}0]}`,
    `{"instances":[${'[1,2,3,4],'.repeat(5000)}[1,2,3,4]]}`,
    huge('1e309'),
    huge('-1e309'),
    huge('1e39'), // finite in JSON, Infinity as float32
    huge('9'.repeat(400)),
    huge('"5.1"'),
    huge('null'),
    huge('{"a":1}'),
    huge(`"${'x'.repeat(1_000_000)}"`),
    '{"model":{"$ne":null},"instances":[[1,2,3,4]]}',
    '{"model":"iris","instances":{"0":[1,2,3,4],"length":1}}',
    '{"model":"iris","version":"-1","instances":[[1,2,3,4]]}',
    '{"model":"iris","version":"99999999999999999999","instances":[[1,2,3,4]]}',
    '{"inputs":[{"name":"features","shape":[1000000000,1000000000],"datatype":"FP32","data":[]}]}',
    '{"inputs":[{"name":"features","shape":[-1,4],"datatype":"FP32","data":[1,2,3,4]}]}',
    '{"inputs":[{"name":"features","shape":[1,4],"datatype":"BYTES","data":["a","b","c","d"]}]}',
    '{"inputs":[{"name":"features","shape":[1,4],"datatype":"FP32","data":[[[[[1]]]],2,3,4]}]}',
    '{"inputs":"features","instances":"x","signature_name":{"a":1},"inputs_extra":[]}',
    ...fuzz(validBody(path), 30, path.length),
  ];
}

/**
 * Valid for some protocols (TF Serving ignores unknown keys; 1.2e29 fits a float32): any answer
 * but a 5xx is right, and nothing may leak into Object.prototype.
 */
const MAYBE_VALID = [
  '{"__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}},"model":"iris","instances":[[1,2,3,4]]}',
  '{"model":"iris","instances":[[123456789012345678901234567890,3.5,1.4,0.2]]}',
];

/**
 * JSON under another Content-Type: parsed as JSON like any body (as TF Serving does), so valid
 * for some routes; any answer but a 5xx is right.
 */
const JSON_UNDER_OTHER_TYPES: [string, string][] = [
  ['text/plain', '{"model":"iris","instances":[[1,2,3,4]]}'],
  ['application/x-www-form-urlencoded', '{"model":"iris","instances":[[1,2,3,4]]}'],
];

/** Bodies that are not JSON under various content types, and encodings that cannot be read. */
const WRONG_TYPES: [string, string][] = [
  ['text/plain', 'hello'],
  ['application/x-www-form-urlencoded', 'instances=1&instances=2'],
  [
    'multipart/form-data; boundary=x',
    '--x\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n--x--',
  ],
  ['application/xml', '<instances><i>1</i></instances>'],
  ['application/octet-stream', '\u0000\u0001\u0002\u0003'],
  ['application/json; charset=latin1', '{"instances":[[1,2,3,4]]}'],
  ['application/json', '\uFEFF\u0000{"instances":[[1,2,3,4]]}'],
];

/** Values for path parameters: a real one (so the body reaches a model) and hostile ones. */
const PARAMS: Record<string, string[]> = {
  name: [
    'iris',
    '..%2F..%2Fetc%2Fpasswd',
    '%00',
    'x'.repeat(2000),
    '%E0%A4%A',
    'iris%0d%0aX-Injected:%201',
  ],
  version: ['1', '0', '-1', '1e3', '99999999999999999999', 'latest', '%2e%2e'],
  label: ['stable', '%00', '..'],
};

function concretePaths(template: string): string[] {
  const names = [...template.matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
  if (names.length === 0) return [template];
  const variants = Math.max(...names.map((n) => (PARAMS[n] ?? ['x']).length));
  return Array.from({ length: variants }, (_, i) =>
    names.reduce((path, n) => {
      const values = PARAMS[n] ?? ['x'];
      return path.replace(`{${n}}`, values[i % values.length]);
    }, template),
  );
}

/**
 * Throws hostile input at every endpoint the app documents (read from its OpenAPI document, so
 * endpoints added later are covered too) and expects only 4xx answers and a live server.
 */
describe('Hostile input on every endpoint (e2e, shipped models)', () => {
  let app: NestExpressApplication;
  let routes: { method: string; path: string }[];

  beforeAll(async () => {
    app = await createTestApp({ MODEL_VERSION_POLICY: 'all' });
    const doc = (await request(app.getHttpServer()).get('/docs-json').expect(200)).body as {
      paths: Record<string, Record<string, unknown>>;
    };
    routes = Object.entries(doc.paths).flatMap(([path, methods]) =>
      Object.keys(methods).map((method) => ({ method, path })),
    );
  });
  afterAll(() => closeApp(app));

  const serverIsAlive = async () => {
    await request(app.getHttpServer()).get('/health/live').expect(200);
    await request(app.getHttpServer())
      .post('/predict')
      .send({ model: 'iris', instances: [[5.1, 3.5, 1.4, 0.2]] })
      .expect(200);
  };

  it('should document the inference endpoints it is about to attack', () => {
    expect(routes).toContainEqual({ method: 'post', path: '/predict' });
    expect(routes.length).toBeGreaterThan(3);
  });

  it('should answer every hostile body on every POST endpoint with a 4xx JSON error', async () => {
    const failures: string[] = [];
    // Every body of the repository calls is optional ({} loads, unloads, lists), and load and
    // unload answer 503 unless MODEL_CONTROL_MODE=explicit: repository.e2e-spec attacks them there.
    const attacked = routes.filter(
      (r) => r.method === 'post' && !r.path.startsWith('/v2/repository/'),
    );
    expect(attacked.length).toBeGreaterThan(3);
    for (const route of attacked) {
      // The first path has real parameters (the body reaches a model) and gets every body;
      // the hostile-parameter paths get a few, to keep the run short.
      const [real, ...hostilePaths] = concretePaths(route.path);
      const everything: [string, string][] = [
        ...hostileJson(route.path).map((body): [string, string] => ['application/json', body]),
        ...WRONG_TYPES,
      ];
      const few: [string, string][] = [
        ['application/json', validBody(route.path)],
        ['application/json', '{}'],
        WRONG_TYPES[0],
      ];
      const plan = [real, ...hostilePaths].map((path, i): [string, [string, string][]] => [
        path,
        i === 0 ? everything : few,
      ]);
      for (const [path, cases] of plan) {
        for (const [type, body] of cases) {
          const res = await request(app.getHttpServer())
            .post(path)
            .set('content-type', type)
            .send(body);
          if (res.status < 400 || res.status >= 500 || typeof res.body?.error === 'undefined') {
            failures.push(
              `${res.status} POST ${path.slice(0, 80)} (${type}) ${body.slice(0, 80)} -> ${res.text.slice(0, 200)}`,
            );
          }
        }
      }
      const maybeValid = [
        ...MAYBE_VALID.map((body): [string, string] => ['application/json', body]),
        ...JSON_UNDER_OTHER_TYPES,
      ];
      for (const [type, body] of maybeValid) {
        const res = await request(app.getHttpServer())
          .post(real)
          .set('content-type', type)
          .send(body);
        if (res.status >= 500)
          failures.push(
            `${res.status} POST ${real} ${body.slice(0, 80)} -> ${res.text.slice(0, 200)}`,
          );
      }
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(failures).toEqual([]);
    await serverIsAlive();
  }, 120_000);

  it('should never answer 5xx to hostile paths, methods or bodies on the other endpoints', async () => {
    const failures: string[] = [];
    for (const route of routes.filter((r) => r.method !== 'post')) {
      for (const path of concretePaths(route.path)) {
        for (const send of [
          () => request(app.getHttpServer()).get(path),
          () =>
            request(app.getHttpServer())
              .get(path)
              .set('content-type', 'text/plain')
              .send('garbage'),
          () =>
            request(app.getHttpServer())
              .get(path)
              .set('content-type', 'application/json')
              .send('{"a":'),
          () => request(app.getHttpServer()).delete(path),
          () => request(app.getHttpServer()).put(path).send({}),
        ]) {
          const res = await send();
          if (res.status >= 500)
            failures.push(
              `${res.status} ${route.method} ${path.slice(0, 80)} -> ${res.text.slice(0, 200)}`,
            );
        }
      }
    }
    expect(failures).toEqual([]);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    await serverIsAlive();
  }, 60_000);
});
