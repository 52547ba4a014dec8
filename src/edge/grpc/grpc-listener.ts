import { Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import {
  Server,
  ServerCredentials,
  type ChannelOptions,
  type UntypedServiceImplementation,
} from '@grpc/grpc-js';
import type { PackageDefinition } from '@grpc/proto-loader';
import { ReflectionService } from '@grpc/reflection';
import bytes from 'bytes';
import { HealthImplementation, protoPath as HEALTH_PROTO } from 'grpc-health-check';
import { dirname } from 'node:path';
import { AppConfig } from '../../config/app-config';
import { loadProtos, serviceOf } from './protos';

/** A gRPC service to serve on the listener: its definition (for reflection too) and its handlers. */
export interface GrpcServiceRegistration {
  /** Full name, e.g. `inference.GRPCInferenceService`: health answers for it by this name. */
  name: string;
  /** From loadProtos(): holds the service, and the descriptors reflection serves. */
  packageDefinition: PackageDefinition;
  handlers: UntypedServiceImplementation;
}

const HEALTH_SERVICE = 'grpc.health.v1.Health';

/**
 * Keepalive as Triton's server sets it (and its clients expect): the server pings an idle
 * connection every 2 hours and drops it when a ping goes 20 s unanswered. grpc-js never polices
 * client pings (no GOAWAY too_many_pings), so a client's own keepalive settings are all accepted.
 */
const KEEPALIVE: ChannelOptions = {
  'grpc.keepalive_time_ms': 7_200_000,
  'grpc.keepalive_timeout_ms': 20_000,
};

/**
 * The one gRPC listener (GRPC_PORT on HOST; 0 = none), beside the HTTP one in the same process.
 * Services register in their provider's onModuleInit (register()); the listener binds in
 * onApplicationBootstrap, so it accepts calls before the HTTP port opens (app.listen() runs the
 * bootstrap hooks first) and a bind failure fails the start. It serves grpc.health.v1.Health
 * (SERVING for '' and every registered service once bound; NOT_SERVING from beginDrain()) and
 * server reflection for every service.
 */
@Injectable()
export class GrpcListener implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('gRPC');
  private readonly services: GrpcServiceRegistration[] = [];
  private readonly health = new HealthImplementation({ '': 'NOT_SERVING' });
  private server?: Server;
  private boundPort = 0;
  private draining = false;

  constructor(private readonly config: AppConfig) {}

  /** Whether GRPC_PORT asks for a listener. */
  get enabled(): boolean {
    return this.config.GRPC_PORT > 0;
  }

  /** The bound port once listening (0 before, or when off). */
  get port(): number {
    return this.boundPort;
  }

  /** Listening and not draining: what ServerReady adds to the models' readiness. */
  get serving(): boolean {
    return this.server !== undefined && !this.draining;
  }

  /** Adds a service; call before the app bootstraps (from onModuleInit). */
  register(service: GrpcServiceRegistration): void {
    if (this.server) {
      throw new Error(`gRPC service ${service.name} registered after the listener started`);
    }
    this.services.push(service);
  }

  async onApplicationBootstrap(): Promise<void> {
    if (!this.enabled) return;
    const server = new Server({
      ...KEEPALIVE,
      // The largest message follows BODY_LIMIT, as the largest HTTP body does.
      'grpc.max_receive_message_length': bytes.parse(this.config.BODY_LIMIT) ?? -1,
      'grpc.max_send_message_length': -1,
    });
    const healthDefinition = loadProtos([HEALTH_PROTO], dirname(HEALTH_PROTO));
    let described: PackageDefinition = healthDefinition;
    this.health.addToServer(server);
    for (const service of this.services) {
      server.addService(serviceOf(service.packageDefinition, service.name), service.handlers);
      described = { ...described, ...service.packageDefinition };
    }
    new ReflectionService(described).addToServer(server);
    const address = `${this.config.HOST}:${this.config.GRPC_PORT}`;
    this.boundPort = await new Promise<number>((resolve, reject) =>
      server.bindAsync(address, ServerCredentials.createInsecure(), (error, port) =>
        error
          ? reject(new Error(`gRPC cannot listen on ${address}: ${error.message}`))
          : resolve(port),
      ),
    );
    this.server = server;
    this.setHealth('SERVING');
    this.logger.log(
      `gRPC listening on ${this.config.HOST}:${this.boundPort} (${[...this.services.map((s) => s.name), HEALTH_SERVICE].join(', ')}, reflection)`,
    );
  }

  /** Health turns NOT_SERVING for every service (Watch streams are told at once); calls still run. */
  beginDrain(): void {
    this.draining = true;
    this.setHealth('NOT_SERVING');
  }

  /**
   * Stops accepting (new connections are refused, open ones get GOAWAY) and waits for the calls
   * in flight, for at most `budgetMs`; then cuts what is left. Resolves whether all finished.
   */
  async shutdown(budgetMs: number): Promise<boolean> {
    const server = this.server;
    if (!server) return true;
    this.beginDrain();
    let timer: NodeJS.Timeout | undefined;
    const finished = new Promise<boolean>((resolve) => server.tryShutdown(() => resolve(true)));
    const cut = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), budgetMs);
    });
    const drained = await Promise.race([finished, cut]);
    clearTimeout(timer);
    if (!drained) server.forceShutdown();
    return drained;
  }

  onApplicationShutdown(): void {
    // The graceful drain (SIGTERM) has already waited; here (app.close() in tests, or a start
    // that failed) nothing is left to wait for.
    this.server?.forceShutdown();
    this.server = undefined;
  }

  private setHealth(status: 'SERVING' | 'NOT_SERVING'): void {
    this.health.setStatus('', status);
    for (const service of this.services) this.health.setStatus(service.name, status);
  }
}
