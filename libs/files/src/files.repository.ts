import { Inject, Injectable } from '@nestjs/common';
import type { Principal } from '@app/auth';
import { addOutboxJob } from '@app/queue';
import { PRISMA, type Db, type File, type FileAssociation, type FileCategory, type Prisma, type Thumbnail, type Tx } from '@app/database';

export type FileRow = File & { category: FileCategory | null };

/** Variants of the thumbnails made after upload; on-demand previews (`preview-…`) share the table, not the lists. */
export const THUMBNAIL_PREFIX = 'thumb-';
export type FileWithRelations = FileRow & { associations: FileAssociation[]; thumbnails: Thumbnail[] };

export interface FileListFilter {
  entityName?: string;
  entityReferences?: string[];
  status?: File['status'][];
  nameContains?: string;
  categoryKey?: string;
  /** Files carrying this tag. */
  tag?: string;
  /** Sniffed (else declared) MIME type starting with this, e.g. `image/`. */
  mimePrefix?: string;
  /** Only files this user uploaded (Chainsite's "my files"); readability still applies. */
  ownerId?: string;
}

export interface FileListPage {
  limit: number;
  offset: number;
  orderBy: 'createdAt' | 'name' | 'size';
  direction: 'asc' | 'desc';
}

/** The tenant a file's bytes and jobs belong to: its organization, or its owner when it has none. */
export function tenantIdOf(file: Pick<File, 'organizationId' | 'ownerId'>): string {
  return file.organizationId ?? `user:${file.ownerId}`;
}

export function tenantIdOfPrincipal(principal: Principal): string {
  return principal.orgId ?? `user:${principal.userId}`;
}

export function whereTenant(tenantId: string): Prisma.FileWhereInput {
  return tenantId.startsWith('user:')
    ? { ownerId: tenantId.slice('user:'.length), organizationId: null }
    : { organizationId: tenantId };
}

// Who may read: the owner within the same tenant, anyone in the file's organization, explicit grants
// (CONTRACT section 2). A token of another organization matches none of these, so the file is "not found".
export function readableBy(principal: Principal): Prisma.FileWhereInput {
  const or: Prisma.FileWhereInput[] = [
    { ownerId: principal.userId, organizationId: principal.orgId },
    { grants: { some: { principalType: 'user', principalId: principal.userId } } },
  ];
  if (principal.orgId) {
    or.push({ organizationId: principal.orgId });
    or.push({ grants: { some: { principalType: 'org', principalId: principal.orgId } } });
  }
  return { deletedAt: null, quarantined: false, OR: or };
}

// Grants (epilot `_acl`) name a user (`user:<id>`) or a whole organization (`org:<id>`).
function granted(principal: Principal, permission: 'WRITE' | 'DELETE'): Prisma.FileWhereInput[] {
  const grants: Prisma.FileWhereInput[] = [{ grants: { some: { principalType: 'user', principalId: principal.userId, permission } } }];
  if (principal.orgId) grants.push({ grants: { some: { principalType: 'org', principalId: principal.orgId, permission } } });
  return grants;
}

// Who may write: the owner within the same tenant, a service/admin token of the file's organization,
// explicit WRITE grants.
export function writableBy(principal: Principal, permission: 'WRITE' | 'DELETE' = 'WRITE'): Prisma.FileWhereInput {
  const or: Prisma.FileWhereInput[] = [{ ownerId: principal.userId, organizationId: principal.orgId }, ...granted(principal, permission)];
  if (principal.orgId && principal.role !== 'user') or.push({ organizationId: principal.orgId });
  return { deletedAt: null, quarantined: false, OR: or };
}

// Smallest first; a small image's larger boxes come out the same width, so ties go by the box they were made for.
function withOrderedThumbnails<T extends { thumbnails: Thumbnail[] }>(row: T): T {
  const box = (variant: string) => Number(/(\d+)/.exec(variant)?.[1] ?? 0);
  row.thumbnails.sort((a, b) => a.width - b.width || a.height - b.height || box(a.variant) - box(b.variant));
  return row;
}

/** Only queries; no product rules. Every read is scoped by a principal or a tenant id. */
@Injectable()
export class FilesRepository {
  constructor(@Inject(PRISMA) private readonly db: Db) {}

  /** For compare-and-set updates outside a transaction. */
  get client(): Db {
    return this.db;
  }

  transaction<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
    return this.db.$transaction(fn);
  }

  findReadable(principal: Principal, id: string): Promise<FileRow | null> {
    return this.db.file.findFirst({ where: { id, ...readableBy(principal) }, include: { category: true } });
  }

  findWritable(principal: Principal, id: string): Promise<FileRow | null> {
    return this.db.file.findFirst({ where: { id, ...writableBy(principal) }, include: { category: true } });
  }

  /** Who may delete: like write, with `delete` grants instead of `edit` ones. */
  findDeletable(principal: Principal, id: string): Promise<FileRow | null> {
    return this.db.file.findFirst({ where: { id, ...writableBy(principal, 'DELETE') }, include: { category: true } });
  }

  /** One page of readable files with their associations and thumbnails: three queries, whatever the page size. */
  async list(principal: Principal, filter: FileListFilter, page: FileListPage): Promise<{ rows: FileWithRelations[]; total: number }> {
    const and: Prisma.FileWhereInput[] = [readableBy(principal)];
    if (filter.entityName || filter.entityReferences) {
      and.push({
        associations: {
          some: {
            ...(filter.entityName ? { entityName: filter.entityName } : {}),
            ...(filter.entityReferences ? { entityReference: { in: filter.entityReferences } } : {}),
          },
        },
      });
    }
    if (filter.status?.length) and.push({ status: { in: filter.status } });
    if (filter.nameContains) and.push({ originalFilename: { contains: filter.nameContains, mode: 'insensitive' } });
    if (filter.categoryKey) and.push({ category: { key: filter.categoryKey } });
    if (filter.tag) and.push({ tags: { has: filter.tag } });
    if (filter.mimePrefix) {
      and.push({ OR: [{ sniffedMime: { startsWith: filter.mimePrefix } }, { sniffedMime: null, declaredMime: { startsWith: filter.mimePrefix } }] });
    }
    if (filter.ownerId) and.push({ ownerId: filter.ownerId });
    const where: Prisma.FileWhereInput = { AND: and };
    const orderField = page.orderBy === 'name' ? 'originalFilename' : page.orderBy;
    const [rows, total] = await this.db.$transaction([
      this.db.file.findMany({
        where,
        include: { category: true, associations: { orderBy: { createdAt: 'asc' } }, thumbnails: { where: { variant: { startsWith: THUMBNAIL_PREFIX } }, orderBy: { width: 'asc' } } },
        orderBy: [{ [orderField]: page.direction }, { id: 'asc' }],
        skip: page.offset,
        take: page.limit,
      }),
      this.db.file.count({ where }),
    ]);
    return { rows: rows.map(withOrderedThumbnails), total };
  }

  async findReadableWithRelations(principal: Principal, id: string): Promise<FileWithRelations | null> {
    const row = await this.db.file.findFirst({
      where: { id, ...readableBy(principal) },
      include: { category: true, associations: { orderBy: { createdAt: 'asc' } }, thumbnails: { where: { variant: { startsWith: THUMBNAIL_PREFIX } }, orderBy: { width: 'asc' } } },
    });
    return row && withOrderedThumbnails(row);
  }

  /**
   * A live file by id alone, for requests that prove their right by a signature of the file's own client (the
   * signed REST flow); the caller checks the signature before using the row.
   */
  findForSignature(id: string): Promise<FileRow | null> {
    return this.db.file.findFirst({ where: { id, deletedAt: null }, include: { category: true } });
  }

  versionsOf(fileId: string) {
    return this.db.fileVersion.findMany({ where: { fileId }, orderBy: { version: 'desc' } });
  }

  /** Public content needs no principal: only the file's own visibility decides. */
  findPublic(id: string): Promise<FileRow | null> {
    return this.db.file.findFirst({ where: { id, visibility: 'PUBLIC', deletedAt: null }, include: { category: true } });
  }

  async upsertAssociation(
    file: Pick<File, 'id' | 'organizationId'>,
    entityName: string,
    entityReference: string,
    createdBy: string,
  ): Promise<FileAssociation> {
    // The same triple twice is the same association.
    return this.db.fileAssociation.upsert({
      where: { fileId_entityName_entityReference: { fileId: file.id, entityName, entityReference } },
      create: { fileId: file.id, organizationId: file.organizationId, entityName, entityReference, createdBy },
      update: {},
    });
  }

  /** The association with its file, only when the principal may write that file. */
  findWritableAssociation(principal: Principal, id: string): Promise<FileAssociation | null> {
    return this.db.fileAssociation.findFirst({ where: { id, file: writableBy(principal) } });
  }

  async deleteAssociation(id: string): Promise<void> {
    await this.db.fileAssociation.deleteMany({ where: { id } });
  }

  async update(id: string, data: Prisma.FileUncheckedUpdateInput): Promise<FileRow> {
    return this.db.file.update({ where: { id }, data, include: { category: true } });
  }

  /**
   * The live record a bucket notification's key names: the key it serves from, or the staging key its direct upload
   * was given (which it keeps after completion moved the bytes).
   */
  findByStorageKey(key: string): Promise<FileRow | null> {
    return this.db.file.findFirst({
      where: { OR: [{ storageKey: key }, { uploadKey: key }], deletedAt: null },
      include: { category: true },
      orderBy: { createdAt: 'asc' },
    });
  }

  /** For jobs, which carry the tenant id with the file id. */
  findForTenant(tenantId: string, id: string): Promise<FileRow | null> {
    return this.db.file.findFirst({ where: { id, ...whereTenant(tenantId) }, include: { category: true } });
  }

  async isKeyReferenced(key: string): Promise<boolean> {
    const [file, version, thumbnail] = await Promise.all([
      this.db.file.count({ where: { storageKey: key } }),
      this.db.fileVersion.count({ where: { storageKey: key } }),
      this.db.thumbnail.count({ where: { storageKey: key } }),
    ]);
    return file + version + thumbnail > 0;
  }

  /** Serialises uploads of the same bytes in one tenant until the transaction ends (see FileUploadService.commit). */
  async lockContent(tx: Tx, tenantId: string, sha256: string): Promise<void> {
    await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtextextended(${`content:${tenantId}:${sha256}`}, 0))`;
  }

  /**
   * The object already holding these bytes in this tenant, if a live file has them. Files still uploading or
   * failed are not trusted as a source; deleted ones are left to the purge.
   */
  async findStoredContent(tx: Tx, tenantId: string, sha256: string): Promise<string | null> {
    const row = await tx.file.findFirst({
      where: { sha256, ...whereTenant(tenantId), deletedAt: null, status: { in: ['PROCESSING', 'READY'] } },
      select: { storageKey: true },
      orderBy: { createdAt: 'asc' },
    });
    return row?.storageKey ?? null;
  }

  /**
   * A verdict already given for these bytes by the same clamd database (`engineKey`: engine and database version):
   * a READY file scanned clean, or a QUARANTINED one with its signature. Across tenants on purpose: a verdict is a
   * property of the bytes, and nothing of the other record but the verdict is returned.
   */
  async findScanVerdict(sha256: string, engineKey: string): Promise<{ infected: string | null } | null> {
    const row = await this.db.file.findFirst({
      where: { sha256, scannedWith: { startsWith: `${engineKey}/` }, status: { in: ['READY', 'QUARANTINED'] } },
      select: { status: true, virusSignature: true },
      orderBy: { scannedAt: 'desc' },
    });
    if (!row) return null;
    return { infected: row.status === 'QUARANTINED' ? (row.virusSignature ?? 'unknown signature') : null };
  }

  findCategoryByKey(key: string): Promise<FileCategory | null> {
    return this.db.fileCategory.findUnique({ where: { key } });
  }

  create(tx: Tx, data: Prisma.FileUncheckedCreateInput): Promise<File> {
    return tx.file.create({ data });
  }

  addVersion(tx: Tx, data: Prisma.FileVersionUncheckedCreateInput) {
    return tx.fileVersion.create({ data });
  }

  findDerived(fileId: string, variant: string): Promise<Thumbnail | null> {
    return this.db.thumbnail.findUnique({ where: { fileId_variant: { fileId, variant } } });
  }

  countDerived(fileId: string, prefix: string): Promise<number> {
    return this.db.thumbnail.count({ where: { fileId, variant: { startsWith: prefix } } });
  }

  /** Records one derived object of an on-request transform; the same variant again replaces its row (no race). */
  async saveDerived(
    fileId: string,
    derived: { variant: string; storageKey: string; mime: string; width: number; height: number; size: number; sha256: string },
  ): Promise<void> {
    const data = { storageKey: derived.storageKey, mime: derived.mime, width: derived.width, height: derived.height, size: BigInt(derived.size), sha256: derived.sha256 };
    await this.db.thumbnail.upsert({ where: { fileId_variant: { fileId, variant: derived.variant } }, create: { fileId, variant: derived.variant, ...data }, update: data });
  }

  /** Records derived images; the same variant twice is one row (a job that runs again overwrites it). */
  async saveThumbnails(
    tx: Tx,
    fileId: string,
    thumbnails: { variant: string; storageKey: string; mime: string; width: number; height: number; size: number }[],
  ): Promise<void> {
    if (thumbnails.length === 0) return;
    // Two statements whatever the count: the variants' old rows go, the new ones come in.
    await tx.thumbnail.deleteMany({ where: { fileId, variant: { in: thumbnails.map((t) => t.variant) } } });
    await tx.thumbnail.createMany({
      data: thumbnails.map((t) => ({ fileId, variant: t.variant, storageKey: t.storageKey, mime: t.mime, width: t.width, height: t.height, size: BigInt(t.size) })),
    });
  }

  /**
   * The end of post-upload work in one statement: the file moves PROCESSING → `status` with what was measured, and
   * its thumbnails are recorded (the same variant again replaces its row), only if the file was still PROCESSING
   * in this tenant. One round trip instead of a transaction of four: this runs once per upload. False when another
   * run got there first.
   */
  async completeProcessing(
    tenantId: string,
    id: string,
    status: File['status'],
    data: { sniffedMime: string | null; size: number; sha256: string; pageCount: number | null; width: number | null; height: number | null },
    thumbnails: { variant: string; storageKey: string; mime: string; width: number; height: number; size: number }[],
    /** The clean scan (clamd's VERSION answer and its database version), or null when the bytes were not scanned. */
    scan: { scannedWith: string; database: number | null } | null = null,
  ): Promise<boolean> {
    const [orgId, ownerId] = tenantId.startsWith('user:') ? [null, tenantId.slice('user:'.length)] : [tenantId, null];
    const rows = await this.db.$queryRaw<{ moved: number }[]>`
      WITH moved AS (
        UPDATE "File" SET
          "status" = ${status}::"FileStatus", "sniffedMime" = ${data.sniffedMime}, "size" = ${data.size}, "sha256" = ${data.sha256},
          "pageCount" = ${data.pageCount}, "width" = ${data.width}, "height" = ${data.height},
          "processedAt" = now(), "failureReason" = NULL, "updatedAt" = now(),
          "virusSignature" = NULL, "scannedWith" = ${scan?.scannedWith ?? null}, "scannedAt" = ${scan ? new Date() : null},
          "scanDatabaseVersion" = ${scan?.database ?? null}::int
        WHERE "id" = ${id} AND "status" = 'PROCESSING' AND "deletedAt" IS NULL
          AND (("organizationId" = ${orgId}) OR (${orgId}::text IS NULL AND "organizationId" IS NULL AND "ownerId" = ${ownerId}))
        RETURNING "id"
      ), thumbs AS (
        INSERT INTO "Thumbnail" ("id", "fileId", "variant", "storageKey", "mime", "width", "height", "size", "createdAt")
        SELECT gen_random_uuid()::text, moved."id", t.variant, t.key, t.mime, t.w, t.h, t.size, now()
        FROM moved, unnest(
          ${thumbnails.map((t) => t.variant)}::text[], ${thumbnails.map((t) => t.storageKey)}::text[], ${thumbnails.map((t) => t.mime)}::text[],
          ${thumbnails.map((t) => t.width)}::int[], ${thumbnails.map((t) => t.height)}::int[], ${thumbnails.map((t) => t.size)}::bigint[]
        ) AS t(variant, key, mime, w, h, size)
        ON CONFLICT ("fileId", "variant") DO UPDATE SET
          "storageKey" = EXCLUDED."storageKey", "mime" = EXCLUDED."mime", "width" = EXCLUDED."width", "height" = EXCLUDED."height", "size" = EXCLUDED."size"
        RETURNING 1
      )
      SELECT (SELECT count(*) FROM moved)::int AS moved`;
    return (rows[0]?.moved ?? 0) === 1;
  }

  /**
   * Points a PROCESSING file (and its version rows) from `fromKey` to `toKey`, in one transaction that also queues
   * the removal of `fromKey` (the delete job removes it only once no record points at it). False when the file
   * moved on meanwhile.
   */
  async repointProcessing(tenantId: string, id: string, fromKey: string, toKey: string): Promise<boolean> {
    return this.db.$transaction(async (tx) => {
      const { count } = await tx.file.updateMany({ where: { id, status: 'PROCESSING', storageKey: fromKey, ...whereTenant(tenantId) }, data: { storageKey: toKey } });
      if (count !== 1) return false;
      await tx.fileVersion.updateMany({ where: { fileId: id, storageKey: fromKey }, data: { storageKey: toKey } });
      await addOutboxJob(tx, 'storage.delete-object', { key: fromKey, reason: 'released from quarantine: the file has a key of its own' });
      return true;
    });
  }

  /** Queues the removal of `keys` (the delete job removes a key only once no record points at it). */
  async queueObjectDeletes(keys: string[], reason: string): Promise<void> {
    if (keys.length === 0) return;
    await this.db.$transaction(async (tx) => {
      for (const key of new Set(keys)) await addOutboxJob(tx, 'storage.delete-object', { key, reason });
    });
  }

  /** Compare-and-set on status: returns false when another writer moved the file first. */
  async updateIfStatus(
    tx: Tx | Db,
    tenantId: string,
    id: string,
    expected: File['status'],
    data: Prisma.FileUncheckedUpdateManyInput,
  ): Promise<boolean> {
    const { count } = await tx.file.updateMany({ where: { id, status: expected, ...whereTenant(tenantId) }, data });
    return count === 1;
  }
}
