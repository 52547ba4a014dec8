import { Module } from '@nestjs/common';
import { ImageModule } from '../../image/image.module';
import { ModelModule } from '../../core/model.module';
import { V2Controller } from './v2.controller';

@Module({
  imports: [ModelModule, ImageModule],
  controllers: [V2Controller],
})
export class V2Module {}
