import { NestExpressApplication } from '@nestjs/platform-express';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import request from 'supertest';
import { AppConfig, loadConfig } from '../../src/config/app-config';
import { ORT_QUIET_ENV } from '../../src/engines/onnx/ort-telemetry';
import { freePort, healthOf } from '../utils/grpc';
import { closeApp, createTestApp } from '../utils/test-app';

const DEPLOY = join(__dirname, '..', '..', 'deploy');
const read = (file: string) => readFileSync(join(DEPLOY, file), 'utf8');
const unquote = (value: string) => value.trim().replace(/^'(.*)'$/, '$1');

/**
 * The KServe manifests stay in step with the code: every env var is a real, valid setting, the
 * probes hit endpoints that answer 200 on an app configured exactly that way, and the
 * InferenceService names the runtime, format and protocol the ServingRuntime declares.
 */
describe('deploy/ KServe manifests (e2e)', () => {
  const runtime = read('serving-runtime.yaml');
  const service = read('inference-service.yaml');
  const env = Object.fromEntries(
    [...runtime.matchAll(/- name: ([A-Z_]+)\n\s+value: (.+)/g)].map(([, name, value]) => [
      name,
      unquote(value),
    ]),
  );
  /** Kubernetes' native gRPC probes: `grpc: {port, service?}` (no service asks for the server, ''). */
  const grpcProbes = [...runtime.matchAll(/grpc:\n\s+port: (\d+)(?:\n\s+service: (\S+))?/g)].map(
    ([, port, service]) => ({ port: Number(port), service: unquote(service ?? '') }),
  );
  let app: NestExpressApplication;
  let grpcPort: number;

  beforeAll(async () => {
    // The runtime's settings, with the shipped models standing in for /mnt/models.
    const settings: Record<string, string> = { ...env };
    delete settings.MODEL_DIR;
    // The HTTP probes are on PORT; a fixed admin port on every interface has no place in a test.
    delete settings.ADMIN_PORT;
    // Tests run in parallel: the runtime's gRPC listener, on a port of its own.
    grpcPort = await freePort();
    settings.GRPC_PORT = String(grpcPort);
    app = await createTestApp(settings);
  });
  afterAll(() => closeApp(app));

  it('should set only known configuration variables, all valid', () => {
    // The server's own settings, and the ones it hands to ONNX Runtime.
    const known = [...Object.keys(new AppConfig()), ...Object.keys(ORT_QUIET_ENV)];
    expect(Object.keys(env).filter((name) => !known.includes(name))).toEqual([]);
    expect(env.MODEL_DIR).toBe('/mnt/models'); // where KServe's storage initializer puts models
    expect(() => loadConfig(env)).not.toThrow();
  });

  it('should keep ONNX Runtime from phoning home in the runtime and in the image', () => {
    expect(env).toMatchObject(ORT_QUIET_ENV);
    const image = read('Dockerfile')
      .split(/^FROM /m)
      .pop()!;
    for (const [name, value] of Object.entries(ORT_QUIET_ENV))
      expect(image).toMatch(new RegExp(`^ENV .*\\b${name}=${value}\\b`, 'm'));
  });

  it("should listen on every interface in the runtime and in the image (the server's default is loopback)", () => {
    expect(loadConfig({}).HOST).toBe('127.0.0.1');
    expect(env.HOST).toBe('0.0.0.0');
    const image = read('Dockerfile')
      .split(/^FROM /m)
      .pop()!;
    expect(image).toMatch(/^ENV .*\bHOST=0\.0\.0\.0\b/m);
  });

  it('should expose the port the server listens on', () => {
    expect(runtime).toMatch(new RegExp(`containerPort: ${env.PORT}\\b`));
    // Metrics are scraped where the server serves them: ADMIN_PORT, off the ingress's port.
    expect(Number(env.ADMIN_PORT)).toBeGreaterThan(0);
    expect(runtime).toMatch(new RegExp(`prometheus.kserve.io/port: '${env.ADMIN_PORT}'`));
  });

  it('should probe endpoints that answer 200 on a ready server', async () => {
    const probes = [...runtime.matchAll(/path: (\/\S+)/g)].map(([, path]) => path);
    expect(probes).toContain('/v2/health/ready');
    for (const path of new Set(probes)) {
      expect({ path, status: (await request(app.getHttpServer()).get(path)).status }).toEqual({
        path,
        status: 200,
      });
    }
  });

  it('should serve gRPC on GRPC_PORT, expose it as the h2c port and probe it there', () => {
    expect(Number(env.GRPC_PORT)).toBeGreaterThan(0);
    // KServe (and Knative) route HTTP/2 without TLS to the container port named h2c.
    expect(runtime).toMatch(new RegExp(`- name: h2c\\n\\s+containerPort: ${env.GRPC_PORT}\\n`));
    expect(grpcProbes.length).toBeGreaterThan(0);
    for (const probe of grpcProbes) expect(probe.port).toBe(Number(env.GRPC_PORT));
  });

  it("should answer each gRPC probe's health check SERVING on a ready server", async () => {
    expect(grpcProbes).not.toEqual([]);
    const services = grpcProbes.map(({ service }) => service);
    expect(await healthOf(grpcPort, services)).toEqual(
      Object.fromEntries(services.map((service) => [service, { status: 'SERVING' }])),
    );
  });

  it('should have the InferenceService use the runtime, format and protocol it declares', () => {
    const runtimeName = /kind: ServingRuntime\nmetadata:\n\s+name: (\S+)/.exec(runtime)?.[1];
    expect(service).toMatch(new RegExp(`runtime: ${runtimeName}\\n`));
    const format = /modelFormat:\n\s+name: (\S+)/.exec(service)?.[1];
    expect(runtime).toMatch(
      new RegExp(`supportedModelFormats:\\n(.*\\n)*\\s+- name: ${format}\\n`),
    );
    const protocol = /protocolVersion: (\S+)/.exec(service)?.[1];
    expect(runtime).toMatch(new RegExp(`protocolVersions:\\n(\\s+- v\\d\\n)*\\s+- ${protocol}\\n`));
  });
});
