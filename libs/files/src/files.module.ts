import { Module } from '@nestjs/common';
import { DeleteObjectJob } from './delete-object.job';
import { FileProcessJob } from './file-process.job';
import { FilesRepository } from './files.repository';
import { FileUploadService } from './file-upload.service';
import { FilesService } from './files.service';

export const FILE_JOB_HANDLERS = [FileProcessJob, DeleteObjectJob];

@Module({
  providers: [FilesRepository, FilesService, FileUploadService, ...FILE_JOB_HANDLERS],
  exports: [FilesRepository, FilesService, FileUploadService, ...FILE_JOB_HANDLERS],
})
export class FilesModule {}
