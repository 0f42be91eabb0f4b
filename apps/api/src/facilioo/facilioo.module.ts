import { Module } from '@nestjs/common';
import { FilesModule } from '@app/files';
import { FaciliooFilesController } from './facilioo-files.controller';
import { FaciliooFilesService } from './facilioo-files.service';
import { FileTypesController } from './file-types.controller';
import { StorageEventsController } from './storage-events.controller';
import { StorageEventsTokenGuard } from './storage-events.guard';
import { StorageEventsService } from './storage-events.service';

/** facilioo's REST surface (seed 003), the file-type registry and the bucket-notification webhook. */
@Module({
  imports: [FilesModule],
  controllers: [FileTypesController, FaciliooFilesController, StorageEventsController],
  providers: [FaciliooFilesService, StorageEventsService, StorageEventsTokenGuard],
})
export class FaciliooModule {}
