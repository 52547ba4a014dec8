import type { Client } from '@grpc/grpc-js';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { GrpcListener } from '../../src/edge/grpc/grpc-listener';
import { closeApp, createTestApp } from '../utils/test-app';
import { failure, freePort, grpcClient, healthDefinition, unary } from '../utils/grpc';

describe('The gRPC listener (GRPC_PORT)', () => {
  let app: NestExpressApplication;
  let port: number;
  let health: Client;

  beforeAll(async () => {
    port = await freePort();
    app = await createTestApp({ GRPC_PORT: String(port) });
    health = grpcClient(healthDefinition(), 'grpc.health.v1.Health', port);
  });
  afterAll(async () => {
    health?.close();
    await closeApp(app);
  });

  it('should listen on GRPC_PORT once the app has started, and say so', () => {
    expect(app.get(GrpcListener).port).toBe(port);
  });

  it("should answer grpc.health.v1.Health Check SERVING for the server ('')", async () => {
    expect(await unary(health, 'Check', { service: '' })).toEqual({ status: 'SERVING' });
  });

  it('should answer NOT_FOUND for a service it does not serve', async () => {
    const error = await failure(unary(health, 'Check', { service: 'no.such.Service' }));
    expect(error.code).toBe(5);
  });
});

describe('GRPC_PORT=0', () => {
  it('should start no gRPC listener', async () => {
    const app = await createTestApp({ GRPC_PORT: '0' });
    try {
      expect(app.get(GrpcListener).port).toBe(0);
    } finally {
      await closeApp(app);
    }
  });
});
