import { MiddlewareConsumer, Module, NestModule, RequestMethod } from '@nestjs/common';
import { ImageModule } from '../../image/image.module';
import { ModelModule } from '../../core/model.module';
import { ImageUploadMiddleware } from '../body/image-upload.middleware';
import { PredictController } from './predict.controller';
import { PredictService } from './predict.service';

@Module({
  imports: [ModelModule, ImageModule],
  controllers: [PredictController],
  providers: [PredictService],
})
export class PredictModule implements NestModule {
  configure(consumer: MiddlewareConsumer): void {
    consumer
      .apply(ImageUploadMiddleware)
      .forRoutes({ path: 'predict', method: RequestMethod.POST });
  }
}
