import { Global, Module } from '@nestjs/common';
import { GrpcCalls } from './grpc-calls';
import { GrpcListener } from './grpc-listener';

/**
 * The gRPC listener (GRPC_PORT) and the admission every call goes through (GrpcCalls). Global so
 * that any protocol module can inject both and register its service from onModuleInit.
 */
@Global()
@Module({
  providers: [GrpcListener, GrpcCalls],
  exports: [GrpcListener, GrpcCalls],
})
export class GrpcModule {}
