import { Module } from '@nestjs/common';
import { ImageModule } from '../../image/image.module';
import { ModelModule } from '../../core/model.module';
import { TfServingController } from './tfserving.controller';

@Module({
  imports: [ModelModule, ImageModule],
  controllers: [TfServingController],
})
export class TfServingModule {}
