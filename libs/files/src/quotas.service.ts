import { Inject, Injectable } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '@app/config';
import { PRISMA, type Db, type Prisma } from '@app/database';
import { AppError, Errors } from '@app/errors';

export type QuotaScope = 'org' | 'user';

export interface QuotaLimits {
  maxBytes: number | null;
  maxFiles: number | null;
}

export interface QuotaReport {
  scope: QuotaScope;
  id: string;
  usedBytes: number;
  usedFiles: number;
  maxBytes: number | null;
  maxFiles: number | null;
}

/** Files that count: not deleted, not failed (a failed upload's bytes are gone or going). */
const COUNTED: Prisma.FileWhereInput = { deletedAt: null, status: { not: 'FAILED' } };

/**
 * Quotas per organization and per user: bytes and file counts of the files that count (not deleted, not failed).
 * Limits are the QUOTA_* defaults unless an admin set others for that organization or user. Uploads are admitted at
 * their start (one more file must fit, and the stream is cut at the bytes left), and bytes that arrive straight
 * in storage are checked when the upload completes. Concurrent uploads are checked against the same usage, so a
 * burst can pass a limit by what it uploads at once; the next upload is refused.
 */
@Injectable()
export class QuotasService {
  constructor(
    @Inject(PRISMA) private readonly db: Db,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  private defaults(scope: QuotaScope): QuotaLimits {
    const q = this.config.quotas;
    const [bytes, files] = scope === 'org' ? [q.orgBytes, q.orgFiles] : [q.userBytes, q.userFiles];
    return { maxBytes: bytes || null, maxFiles: files || null };
  }

  async limits(scope: QuotaScope, id: string): Promise<QuotaLimits> {
    const row = await this.db.quota.findUnique({ where: { scope_subjectId: { scope, subjectId: id } } });
    const defaults = this.defaults(scope);
    return {
      maxBytes: row?.maxBytes !== null && row?.maxBytes !== undefined ? Number(row.maxBytes) : defaults.maxBytes,
      maxFiles: row?.maxFiles ?? defaults.maxFiles,
    };
  }

  async setLimits(scope: QuotaScope, id: string, limits: { maxBytes?: number | null; maxFiles?: number | null }): Promise<QuotaReport> {
    const data = {
      ...(limits.maxBytes !== undefined ? { maxBytes: limits.maxBytes === null ? null : BigInt(limits.maxBytes) } : {}),
      ...(limits.maxFiles !== undefined ? { maxFiles: limits.maxFiles } : {}),
    };
    await this.db.quota.upsert({ where: { scope_subjectId: { scope, subjectId: id } }, create: { scope, subjectId: id, ...data }, update: data });
    return this.report(scope, id);
  }

  async report(scope: QuotaScope, id: string, excludeFileId?: string, limits?: QuotaLimits): Promise<QuotaReport> {
    const where: Prisma.FileWhereInput = { ...COUNTED, ...(scope === 'org' ? { organizationId: id } : { ownerId: id }), ...(excludeFileId ? { id: { not: excludeFileId } } : {}) };
    const [usage, known] = await Promise.all([this.db.file.aggregate({ where, _sum: { size: true }, _count: { _all: true } }), limits ?? this.limits(scope, id)]);
    return { scope, id, usedBytes: Number(usage._sum.size ?? 0), usedFiles: usage._count._all, ...known };
  }

  /**
   * The reports of the owner's scopes that have a limit. Usage is summed only for those: on an upload's path an
   * installation without quotas pays one key lookup per scope, not an aggregate over every file.
   */
  private async limited(owner: { userId: string; orgId: string | null }, excludeFileId?: string): Promise<QuotaReport[]> {
    const reports: QuotaReport[] = [];
    for (const [scope, id] of this.scopes(owner)) {
      const limits = await this.limits(scope, id);
      if (limits.maxBytes !== null || limits.maxFiles !== null) reports.push(await this.report(scope, id, excludeFileId, limits));
    }
    return reports;
  }

  private scopes(owner: { userId: string; orgId: string | null }): [QuotaScope, string][] {
    return [...(owner.orgId ? [['org', owner.orgId] as [QuotaScope, string]] : []), ['user', owner.userId]];
  }

  /**
   * One more file for this owner: refused (413, QUOTA_EXCEEDED) when a file count is reached or no bytes are left;
   * otherwise the bytes left under the tightest limit (Infinity when none), to cut the upload stream at.
   */
  async admit(owner: { userId: string; orgId: string | null }, incomingBytes = 0): Promise<{ remainingBytes: number; quotaError: () => AppError }> {
    let remaining = Infinity;
    let binding: QuotaReport | undefined;
    for (const report of await this.limited(owner)) {
      if (report.maxFiles !== null && report.usedFiles + 1 > report.maxFiles) throw quotaError(report, 'files');
      if (report.maxBytes !== null) {
        const left = report.maxBytes - report.usedBytes;
        if (left <= 0 || left < incomingBytes) throw quotaError(report, 'bytes');
        if (left < remaining) {
          remaining = left;
          binding = report;
        }
      }
    }
    return { remainingBytes: remaining, quotaError: () => (binding ? quotaError(binding, 'bytes') : Errors.badRequest('Quota exceeded')) };
  }

  /** Bytes that arrived straight in storage (pre-signed uploads), checked when the upload completes. */
  async checkCompleted(owner: { userId: string; orgId: string | null }, fileId: string, size: number): Promise<string | null> {
    for (const report of await this.limited(owner, fileId)) {
      if (report.maxBytes !== null && report.usedBytes + size > report.maxBytes) return quotaError(report, 'bytes').message;
    }
    return null;
  }
}

function quotaError(report: QuotaReport, what: 'bytes' | 'files'): AppError {
  const who = report.scope === 'org' ? `organization ${report.id}` : `user ${report.id}`;
  const message =
    what === 'files'
      ? `Quota exceeded: ${who} has ${report.usedFiles} of ${report.maxFiles} files`
      : `Quota exceeded: ${who} uses ${report.usedBytes} of ${report.maxBytes} bytes`;
  return new AppError('QUOTA_EXCEEDED', message, { scope: report.scope, id: report.id, usedBytes: report.usedBytes, maxBytes: report.maxBytes, usedFiles: report.usedFiles, maxFiles: report.maxFiles });
}
