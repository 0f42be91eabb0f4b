import { Module } from '@nestjs/common';
import { FilesModule } from '@app/files';
import { RateLimitModule } from '@app/rate-limit';
import { SignaturesModule } from '@app/signatures';
import { FileClientsController } from './file-clients.controller';
import { SignedFilesController } from './signed-files.controller';
import { SignedFlowService } from './signed-flow.service';

@Module({
  imports: [FilesModule, SignaturesModule, RateLimitModule],
  controllers: [SignedFilesController, FileClientsController],
  providers: [SignedFlowService],
})
export class SignedFlowModule {}
