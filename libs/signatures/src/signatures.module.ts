import { Module } from '@nestjs/common';
import { FileClientsService } from './file-clients.service';
import { FileSignaturesService } from './file-signatures.service';

@Module({
  providers: [FileClientsService, FileSignaturesService],
  exports: [FileClientsService, FileSignaturesService],
})
export class SignaturesModule {}
