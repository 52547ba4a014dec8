import { Global, Module } from '@nestjs/common';
import { ModelModule } from '../../core/model.module';
import { ImageModule } from '../../image/image.module';
import { GrpcCalls } from './grpc-calls';
import { GrpcListener } from './grpc-listener';
import { TfServingGrpcService } from '../tfserving/tfserving.grpc';
import { V2GrpcService } from './v2-grpc.service';

/**
 * The gRPC listener (GRPC_PORT), the admission every call goes through (GrpcCalls), and the
 * services it serves: V2 inference and TF Serving's. A module of its own, so that a host app
 * embedding ModelServingModule opens no gRPC port unless it imports this.
 */
@Global()
@Module({
  imports: [ModelModule, ImageModule],
  providers: [GrpcListener, GrpcCalls, V2GrpcService, TfServingGrpcService],
  exports: [GrpcListener, GrpcCalls],
})
export class GrpcModule {}
