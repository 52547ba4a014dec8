import { MiddlewareConsumer, Module, NestModule, RequestMethod } from '@nestjs/common';
import { ModelModule } from '../../core/model.module';
import { ImageUploadMiddleware } from '../body/image-upload.middleware';
import { PredictController } from './predict.controller';
import { PredictService } from './predict.service';

@Module({
  imports: [ModelModule],
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
