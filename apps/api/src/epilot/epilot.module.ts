import { Module } from '@nestjs/common';
import { FilesModule } from '@app/files';
import { RateLimitModule } from '@app/rate-limit';
import { EpilotCollectionsController } from './epilot-collections.controller';
import { EpilotFilesController } from './epilot-files.controller';
import { EpilotPublicController } from './epilot-public.controller';
import { EpilotRepository } from './epilot.repository';
import { EpilotService } from './epilot.service';

/** The epilot File API (seed 004): /v1/files, /v2/files, file collections. */
@Module({
  imports: [FilesModule, RateLimitModule],
  // Public routes first: `/v1/files/public/...` must not be taken for `/v1/files/:id/...`.
  controllers: [EpilotPublicController, EpilotFilesController, EpilotCollectionsController],
  providers: [EpilotRepository, EpilotService],
})
export class EpilotModule {}
