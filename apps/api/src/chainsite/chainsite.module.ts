import { Module } from '@nestjs/common';
import { FilesModule } from '@app/files';
import { ChainsiteController } from './chainsite.controller';
import { ChainsiteService } from './chainsite.service';

/** Pakt Chainsite's file upload surface (seed 002). */
@Module({
  imports: [FilesModule],
  controllers: [ChainsiteController],
  providers: [ChainsiteService],
})
export class ChainsiteModule {}
