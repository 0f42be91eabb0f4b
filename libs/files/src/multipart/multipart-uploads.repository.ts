import { Inject, Injectable } from '@nestjs/common';
import type { Principal } from '@app/auth';
import { PRISMA, type Db, type File, type MultipartUpload, type Prisma } from '@app/database';

export type MultipartUploadRow = MultipartUpload & { file: Pick<File, 'id' | 'storageKey' | 'status' | 'ownerId' | 'organizationId'> };

const FILE_FIELDS = { select: { id: true, storageKey: true, status: true, ownerId: true, organizationId: true } } as const;

/** Only queries. Reads for a caller are scoped to the file's owner: the same user in the same organization. */
@Injectable()
export class MultipartUploadsRepository {
  constructor(@Inject(PRISMA) private readonly db: Db) {}

  async create(data: Prisma.MultipartUploadUncheckedCreateInput): Promise<void> {
    await this.db.multipartUpload.create({ data });
  }

  findOwned(principal: Principal, fileId: string): Promise<MultipartUploadRow | null> {
    return this.db.multipartUpload.findFirst({
      where: { fileId, file: { ownerId: principal.userId, organizationId: principal.orgId, deletedAt: null } },
      include: { file: FILE_FIELDS },
    });
  }

  /** System-wide, for the lifecycle sweep: uploads started before `before` and never completed. */
  stale(before: Date, limit: number): Promise<MultipartUploadRow[]> {
    return this.db.multipartUpload.findMany({ where: { createdAt: { lt: before } }, include: { file: FILE_FIELDS }, take: limit, orderBy: { createdAt: 'asc' } });
  }

  /** The upload is over (completed): its row goes, the file stays. */
  async delete(fileId: string): Promise<void> {
    await this.db.multipartUpload.deleteMany({ where: { fileId } });
  }

  /** Aborted: the file record goes too (with the row, ON DELETE CASCADE), unless it got its bytes meanwhile. */
  async deleteWithFile(fileId: string): Promise<boolean> {
    const { count } = await this.db.file.deleteMany({ where: { id: fileId, status: { in: ['UPLOADING', 'FAILED'] } } });
    await this.delete(fileId);
    return count === 1;
  }
}
