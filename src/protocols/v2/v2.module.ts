import { Module } from '@nestjs/common';
import { ModelModule } from '../../model/model.module';
import { V2Controller } from './v2.controller';

@Module({
  imports: [ModelModule],
  controllers: [V2Controller],
})
export class V2Module {}
