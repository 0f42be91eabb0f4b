import { Body, Controller, HttpCode, Post, UseGuards } from '@nestjs/common';
import { Public } from '@app/auth';
import { storageEventSchema, type StorageEvent, type StorageEventOutcome } from './storage-events.dto';
import { StorageEventsTokenGuard } from './storage-events.guard';
import { StorageEventsService } from './storage-events.service';
import { ZodValidationPipe } from '../http/zod-validation.pipe';
import { ZodBody } from '../http/openapi';

/** The webhook target of S3 bucket notifications (MinIO); see docs/operations.md for the wiring. */
@Public()
@UseGuards(StorageEventsTokenGuard)
@Controller('api/storage-events')
export class StorageEventsController {
  constructor(private readonly events: StorageEventsService) {}

  @Post()
  @HttpCode(200)
  @ZodBody(storageEventSchema)
  receive(@Body(new ZodValidationPipe(storageEventSchema)) event: StorageEvent): Promise<{ records: StorageEventOutcome[] }> {
    return this.events.receive(event);
  }
}
