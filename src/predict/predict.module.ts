import { Module } from '@nestjs/common';
import { ImageModule } from '../image/image.module';
import { ModelModule } from '../model/model.module';
import { ImageUploadInterceptor } from './image-upload.interceptor';
import { PredictController } from './predict.controller';
import { PredictService } from './predict.service';

@Module({
  imports: [ModelModule, ImageModule],
  controllers: [PredictController],
  providers: [PredictService, ImageUploadInterceptor],
})
export class PredictModule {}
