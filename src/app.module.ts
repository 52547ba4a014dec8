import { Module } from '@nestjs/common';
import { environmentOptions } from './config/app-config';
import { ModelServingModule } from './serving.module';
import { GrpcModule } from './edge/grpc/grpc.module';

/**
 * The standalone server: the model server module with its options read from the environment
 * (main.ts has already refused a bad one). Tests replace the whole configuration with
 * overrideProvider(AppConfig).
 */
@Module({
  imports: [
    ModelServingModule.forRootAsync({ useFactory: () => environmentOptions(process.env) }),
    // The gRPC listener is the standalone server's: a host app opts in by importing GrpcModule.
    GrpcModule,
  ],
})
export class AppModule {}
