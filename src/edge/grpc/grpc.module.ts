import { Global, Module } from '@nestjs/common';
import { GrpcListener } from './grpc-listener';

/**
 * The gRPC listener (GRPC_PORT). Global so that any protocol module can inject GrpcListener and
 * register its service from onModuleInit.
 */
@Global()
@Module({
  providers: [GrpcListener],
  exports: [GrpcListener],
})
export class GrpcModule {}
