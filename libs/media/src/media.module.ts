import { Module, type DynamicModule } from '@nestjs/common';
import { MediaProcessor, type MediaProcessorOptions } from './media.processor';

// MediaProcessor needs no DI of its own: the module only builds one, with defaults or with forRoot's options.
@Module({
  providers: [{ provide: MediaProcessor, useFactory: () => new MediaProcessor() }],
  exports: [MediaProcessor],
})
export class MediaModule {
  static forRoot(options: MediaProcessorOptions = {}): DynamicModule {
    return {
      module: MediaModule,
      providers: [{ provide: MediaProcessor, useFactory: () => new MediaProcessor(options) }],
      exports: [MediaProcessor],
    };
  }
}
