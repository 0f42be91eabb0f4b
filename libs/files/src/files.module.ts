import { Module } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '@app/config';
import { MediaProcessor } from '@app/media';
import { ScanningModule } from '@app/scanning';
import { ContentQuarantine } from './content-quarantine.service';
import { DeleteObjectJob } from './delete-object.job';
import { FileRescanService } from './file-rescan.service';
import { StoredContentScanner } from './stored-content-scanner';
import { FileCategoriesRepository } from './file-categories.repository';
import { FileCategoriesService } from './file-categories.service';
import { FileProcessJob } from './file-process.job';
import { ImportUrlJob } from './import-url.job';
import { FilesRepository } from './files.repository';
import { FileSharesService } from './file-shares.service';
import { FilePreviewsService } from './file-previews.service';
import { QuotasService } from './quotas.service';
import { FileUploadService } from './file-upload.service';
import { LifecycleSweepJob } from './lifecycle-sweep.job';
import { MaintenanceRepository } from './maintenance.repository';
import { FilesService } from './files.service';
import { createResumableStore, RESUMABLE_STORE } from './resumable/resumable-store';
import { ResumableUploadsRepository } from './resumable/resumable-uploads.repository';
import { ResumableUploadsService } from './resumable/resumable-uploads.service';
import { MultipartUploadsRepository } from './multipart/multipart-uploads.repository';
import { MultipartUploadsService } from './multipart/multipart-uploads.service';
import { ReconcileKeySpaces } from './reconcile-key-spaces';
import { Reconciler } from './reconciler.service';

export const FILE_JOB_HANDLERS = [FileProcessJob, ImportUrlJob, DeleteObjectJob, LifecycleSweepJob];

// The media port, sized from the configuration.
const mediaProcessor = {
  provide: MediaProcessor,
  inject: [APP_CONFIG],
  useFactory: (config: AppConfig) =>
    new MediaProcessor({ thumbnailSizes: config.media.thumbnailSizes, maxInputPixels: config.media.maxImagePixels }),
};

// Where tus keeps uploads in progress (the local directory or the S3 bucket of the storage driver).
const resumableStore = { provide: RESUMABLE_STORE, inject: [APP_CONFIG], useFactory: createResumableStore };
const directUploads = [resumableStore, ResumableUploadsRepository, ResumableUploadsService, MultipartUploadsRepository, MultipartUploadsService];

@Module({
  imports: [ScanningModule],
  providers: [mediaProcessor, FilesRepository, FilesService, FileUploadService, FileSharesService, FilePreviewsService, QuotasService, FileCategoriesRepository, FileCategoriesService, MaintenanceRepository, ReconcileKeySpaces, Reconciler, StoredContentScanner, ContentQuarantine, FileRescanService, ...directUploads, ...FILE_JOB_HANDLERS],
  exports: [ReconcileKeySpaces, Reconciler, FilesRepository, FilesService, FileUploadService, FileSharesService, FilePreviewsService, QuotasService, FileCategoriesService, RESUMABLE_STORE, ResumableUploadsService, MultipartUploadsService, ...FILE_JOB_HANDLERS],
})
export class FilesModule {}
