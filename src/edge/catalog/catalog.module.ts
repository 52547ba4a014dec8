import { Module } from '@nestjs/common';
import { ModelModule } from '../../core/model.module';
import { CatalogController } from './catalog.controller';

@Module({
  imports: [ModelModule],
  controllers: [CatalogController],
})
export class CatalogModule {}
