import { Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import {
  Server,
  ServerCredentials,
  type ChannelOptions,
  type handleServerStreamingCall,
  type ServerWritableStream,
  type ServiceDefinition,
  type UntypedServiceImplementation,
} from '@grpc/grpc-js';
import type { PackageDefinition } from '@grpc/proto-loader';
import { ReflectionService } from '@grpc/reflection';
import bytes from 'bytes';
import {
  HealthImplementation,
  protoPath as HEALTH_PROTO,
  service as healthService,
} from 'grpc-health-check';
import { dirname } from 'node:path';
import { AppConfig } from '../../config/app-config';
import { GrpcCalls } from './grpc-calls';
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
  private readonly watches = new Set<ServerWritableStream<unknown, unknown>>();
  private server?: Server;
  private boundPort = 0;
  private draining = false;
  private healthStatus = 'NOT_SERVING';

  constructor(
    private readonly config: AppConfig,
    private readonly calls: GrpcCalls,
  ) {}

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
    this.addHealth(server);
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
   * and stream messages in flight, for at most `budgetMs`; then closes what is left: streams
   * with nothing to answer (health Watch, an idle ModelStreamInfer) would otherwise hold the
   * exit for the whole budget. Resolves whether every call was answered in time.
   */
  async shutdown(budgetMs: number): Promise<boolean> {
    const server = this.server;
    if (!server) return true;
    this.beginDrain();
    let timer: NodeJS.Timeout | undefined;
    const finished = new Promise<boolean>((resolve) => server.tryShutdown(() => resolve(true)));
    // Streams that would never end by themselves: health Watch, and ModelStreamInfer streams
    // once their pending messages are answered.
    this.watches.forEach((watch) => watch.end());
    this.calls.endStreams();
    const cut = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), budgetMs);
    });
    const answered = await Promise.race([finished, cut]);
    clearTimeout(timer);
    if (!answered) server.forceShutdown();
    this.server = undefined;
    return answered;
  }

  onApplicationShutdown(): void {
    // The graceful drain (SIGTERM) has already waited; here (app.close() in tests, or a start
    // that failed) nothing is left to wait for.
    this.server?.forceShutdown();
    this.server = undefined;
  }

  /** grpc-health-check's service, its Watch streams kept so that shutdown can end them. */
  private addHealth(server: Server): void {
    let handlers: UntypedServiceImplementation = {};
    this.health.addToServer({
      addService: (_definition: unknown, implementation: UntypedServiceImplementation) => {
        handlers = implementation;
      },
    } as unknown as Server);
    const watch = handlers.watch as handleServerStreamingCall<unknown, unknown>;
    server.addService(healthService as unknown as ServiceDefinition, {
      ...handlers,
      watch: (call: ServerWritableStream<unknown, unknown>) => {
        this.watches.add(call);
        call.once('cancelled', () => this.watches.delete(call));
        watch(call);
      },
    });
  }

  private setHealth(status: 'SERVING' | 'NOT_SERVING'): void {
    // Watch streams are sent every status set, changed or not.
    if (status === this.healthStatus) return;
    this.healthStatus = status;
    this.health.setStatus('', status);
    for (const service of this.services) this.health.setStatus(service.name, status);
  }
}
