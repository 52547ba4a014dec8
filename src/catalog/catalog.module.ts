import { Module } from '@nestjs/common';
import { ModelModule } from '../model/model.module';
import { CatalogController } from './catalog.controller';

@Module({
  imports: [ModelModule],
  controllers: [CatalogController],
})
export class CatalogModule {}
