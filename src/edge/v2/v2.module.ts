import { Module } from '@nestjs/common';
import { ImageModule } from '../../image/image.module';
import { ModelModule } from '../../core/model.module';
import { RepositoryController } from './repository.controller';
import { V2Controller } from './v2.controller';

@Module({
  imports: [ModelModule, ImageModule],
  controllers: [V2Controller, RepositoryController],
})
export class V2Module {}
