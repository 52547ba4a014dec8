import { BadRequestException, Body, Controller, Get, Module, Post } from '@nestjs/common';
import { ModelService } from '../../src/core/model.service';
import { ModelServingModule, ModelServingOptions } from '../../src/serving.module';

/** A DTO without class-validator decorators: the host validates nothing, Nest's default. */
export class NoteDto {
  text!: string;
}

export const SETOSA = [5.1, 3.5, 1.4, 0.2];

/** A host app's own routes, beside the model server's: one of them runs a model through ModelService. */
@Controller('host')
export class HostController {
  constructor(private readonly models: ModelService) {}

  @Post('notes')
  note(@Body() note: NoteDto): { saved: NoteDto } {
    return { saved: note };
  }

  /** The host's own error body: Nest sends an HttpException's object as it is. */
  @Get('refuse')
  refuse(): never {
    throw new BadRequestException({ code: 'HOST_RULE', detail: 'the host refuses' });
  }

  @Get('crash')
  crash(): never {
    throw new Error('host internals');
  }

  @Get('flower')
  flower(): Promise<unknown> {
    return this.models.predict('iris', [SETOSA]);
  }
}

/** The host's root module, importing the model server with `options`. */
export function hostModule(options: ModelServingOptions) {
  @Module({ imports: [ModelServingModule.forRoot(options)], controllers: [HostController] })
  class HostModule {}
  return HostModule;
}

/** The same host without the model server, its ModelService a stand-in: what Nest alone answers. */
@Module({
  controllers: [HostController],
  providers: [{ provide: ModelService, useValue: {} }],
})
export class BareHostModule {}
