import { Module } from '@nestjs/common';
import { ImageModule } from '../../image/image.module';
import { ModelModule } from '../../core/model.module';
import { TfServingController } from './tfserving.controller';
import { TfServingGrpcService } from './tfserving.grpc';

@Module({
  imports: [ModelModule, ImageModule],
  controllers: [TfServingController],
  providers: [TfServingGrpcService],
})
export class TfServingModule {}
