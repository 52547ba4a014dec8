import { Global, Module } from '@nestjs/common';
import { ModelModule } from '../../core/model.module';
import { ImageModule } from '../../image/image.module';
import { GrpcCalls } from './grpc-calls';
import { GrpcListener } from './grpc-listener';
import { V2GrpcService } from './v2-grpc.service';

/**
 * The gRPC listener (GRPC_PORT), the admission every call goes through (GrpcCalls) and the V2
 * inference service. Global so that any protocol module can inject the listener and GrpcCalls
 * and register its service from onModuleInit.
 */
@Global()
@Module({
  imports: [ModelModule, ImageModule],
  providers: [GrpcListener, GrpcCalls, V2GrpcService],
  exports: [GrpcListener, GrpcCalls],
})
export class GrpcModule {}
