import { Inject, Injectable } from '@nestjs/common';
import type { Principal } from '@app/auth';
import { PRISMA, type Db, type Prisma, type ResumableUpload } from '@app/database';

/** Only queries. Reads for a caller are scoped to the owner: the same user in the same organization. */
@Injectable()
export class ResumableUploadsRepository {
  constructor(@Inject(PRISMA) private readonly db: Db) {}

  create(data: Prisma.ResumableUploadUncheckedCreateInput): Promise<ResumableUpload> {
    return this.db.resumableUpload.create({ data });
  }

  findOwned(principal: Principal, id: string): Promise<ResumableUpload | null> {
    return this.db.resumableUpload.findFirst({ where: { id, ownerId: principal.userId, organizationId: principal.orgId } });
  }

  /** For the tus store's write path, which has only the id (the caller's access was checked on the way in). */
  findById(id: string): Promise<ResumableUpload | null> {
    return this.db.resumableUpload.findUnique({ where: { id } });
  }

  /** System-wide, for the lifecycle sweep. */
  expired(now: Date, limit: number): Promise<ResumableUpload[]> {
    return this.db.resumableUpload.findMany({ where: { expiresAt: { lt: now } }, take: limit, orderBy: { expiresAt: 'asc' } });
  }

  /** System-wide, for the lifecycle sweep: uploads holding all their bytes since before `before`, not yet a file. */
  received(before: Date, limit: number): Promise<ResumableUpload[]> {
    return this.db.resumableUpload.findMany({ where: { receivedAt: { lt: before }, finishedAt: null }, take: limit, orderBy: { receivedAt: 'asc' } });
  }

  async markReceived(id: string): Promise<void> {
    await this.db.resumableUpload.updateMany({ where: { id, receivedAt: null }, data: { receivedAt: new Date() } });
  }

  /** Takes the upload's finish lease for `token` until `until`, unless another finisher holds an unexpired one. */
  async claimFinish(id: string, token: string, now: Date, until: Date): Promise<boolean> {
    const { count } = await this.db.resumableUpload.updateMany({
      where: { id, OR: [{ finishingUntil: null }, { finishingUntil: { lt: now } }] },
      data: { finishingUntil: until, finishingToken: token },
    });
    return count === 1;
  }

  /** Extends `token`'s lease; false when it is no longer held by `token`. */
  async renewFinish(id: string, token: string, until: Date): Promise<boolean> {
    const { count } = await this.db.resumableUpload.updateMany({ where: { id, finishingToken: token }, data: { finishingUntil: until } });
    return count === 1;
  }

  async releaseFinish(id: string, token: string): Promise<void> {
    await this.db.resumableUpload.updateMany({ where: { id, finishingToken: token }, data: { finishingUntil: null, finishingToken: null } });
  }

  /** Whether a finisher holds an unexpired lease on the upload. */
  async finishing(id: string, now: Date): Promise<boolean> {
    return (await this.db.resumableUpload.count({ where: { id, finishingUntil: { gte: now } } })) > 0;
  }

  async markFinished(id: string): Promise<void> {
    await this.db.resumableUpload.updateMany({ where: { id, finishedAt: null }, data: { finishedAt: new Date() } });
  }

  async delete(id: string): Promise<void> {
    await this.db.resumableUpload.deleteMany({ where: { id } });
  }
}
