import { Module } from '@nestjs/common';
import { ModelModule } from '../../model/model.module';
import { TfServingController } from './tfserving.controller';

@Module({
  imports: [ModelModule],
  controllers: [TfServingController],
})
export class TfServingModule {}
