import { Module } from '@nestjs/common';
import { ModelModule } from '../model/model.module';
import { PredictController } from './predict.controller';

@Module({
  imports: [ModelModule],
  controllers: [PredictController],
})
export class PredictModule {}
