import { Module } from '@nestjs/common';
import { ImageService } from './image.service';

/** Images in: decoding, resizing and packing images into a model's input, per its metadata. */
@Module({
  providers: [ImageService],
  exports: [ImageService],
})
export class ImageModule {}
