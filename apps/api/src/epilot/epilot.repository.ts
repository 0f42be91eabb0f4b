import { Inject, Injectable } from '@nestjs/common';
import type { Principal } from '@app/auth';
import { PRISMA, type Collection, type Db, type GrantPermission, type PublicLink, type Tx } from '@app/database';
import { readableBy, tenantIdOfPrincipal, whereTenant, writableBy, type FileRow } from '@app/files';
import type { EpilotFile } from './epilot.view';

const ENTITY_INCLUDE = { category: true, versions: true, grants: true, associations: true } as const;

/**
 * Queries of the epilot surface. Access is decided by the same rules as every other surface (readableBy /
 * writableBy from the files repository), here with the relations an epilot file entity shows.
 */
@Injectable()
export class EpilotRepository {
  constructor(@Inject(PRISMA) private readonly db: Db) {}

  transaction<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
    return this.db.$transaction(fn);
  }

  findReadable(principal: Principal, id: string): Promise<EpilotFile | null> {
    return this.db.file.findFirst({ where: { id, ...readableBy(principal) }, include: ENTITY_INCLUDE });
  }

  findWritable(principal: Principal, id: string, permission: 'WRITE' | 'DELETE' = 'WRITE'): Promise<EpilotFile | null> {
    return this.db.file.findFirst({ where: { id, ...writableBy(principal, permission) }, include: ENTITY_INCLUDE });
  }

  findPublic(id: string): Promise<EpilotFile | null> {
    return this.db.file.findFirst({ where: { id, deletedAt: null, quarantined: false }, include: ENTITY_INCLUDE });
  }

  /** The record an upload URL was issued for (the URL's signature is the credential). */
  findUploadTarget(id: string): Promise<FileRow | null> {
    return this.db.file.findFirst({ where: { id, deletedAt: null }, include: { category: true } });
  }

  /**
   * A readable file whose current bytes or one of whose versions live under `key`, or whose upload was given `key`
   * as its s3ref (uploadKey: the bytes moved to a fresh key when they arrived).
   */
  findReadableByKey(principal: Principal, key: string): Promise<EpilotFile | null> {
    return this.db.file.findFirst({
      where: { AND: [readableBy(principal), { OR: [{ storageKey: key }, { versions: { some: { storageKey: key } } }, { uploadKey: key }] }] },
      include: ENTITY_INCLUDE,
      orderBy: { createdAt: 'asc' },
    });
  }

  /**
   * A temporary upload of the caller's tenant (quarantined ones included: saving them is how they leave it), by the
   * s3ref its upload handed out (uploadKey) or the key it serves from.
   */
  findTemporaryByKey(principal: Principal, key: string): Promise<EpilotFile | null> {
    return this.db.file.findFirst({
      where: { OR: [{ uploadKey: key }, { storageKey: key }], ...whereTenant(tenantIdOfPrincipal(principal)), deletedAt: null, temporaryUntil: { not: null } },
      include: ENTITY_INCLUDE,
    });
  }

  reload(id: string): Promise<EpilotFile> {
    return this.db.file.findUniqueOrThrow({ where: { id }, include: ENTITY_INCLUDE });
  }

  async replaceGrants(tx: Tx, fileId: string, grants: { principalType: string; principalId: string; permission: GrantPermission }[]): Promise<void> {
    await tx.fileGrant.deleteMany({ where: { fileId } });
    if (grants.length) await tx.fileGrant.createMany({ data: grants.map((g) => ({ fileId, ...g })), skipDuplicates: true });
  }

  async addRelations(tx: Tx, file: { id: string; organizationId: string | null }, relations: { entityName: string; entityReference: string; tags: string[] }[], createdBy: string): Promise<void> {
    for (const r of relations) {
      await tx.fileAssociation.upsert({
        where: { fileId_entityName_entityReference: { fileId: file.id, entityName: r.entityName, entityReference: r.entityReference } },
        create: { fileId: file.id, organizationId: file.organizationId, entityName: r.entityName, entityReference: r.entityReference, tags: r.tags, createdBy },
        update: { tags: r.tags },
      });
    }
  }

  /** Files readable by the principal, linked to the entity and tagged with the collection's slug on that link. */
  filesInCollection(principal: Principal, entityId: string, collectionSlug: string): Promise<EpilotFile[]> {
    return this.db.file.findMany({
      where: { AND: [readableBy(principal), { associations: { some: { entityReference: entityId, tags: { has: collectionSlug } } } }] },
      include: ENTITY_INCLUDE,
      orderBy: [{ createdAt: 'desc' }, { id: 'asc' }],
      take: 1000,
    });
  }

  // ——— public links ———

  createLink(data: { id: string; fileId: string; tokenHash: string; createdBy: string }): Promise<PublicLink> {
    return this.db.publicLink.create({ data });
  }

  activeLinks(fileId: string): Promise<PublicLink[]> {
    return this.db.publicLink.findMany({ where: { fileId, revokedAt: null }, orderBy: { createdAt: 'asc' } });
  }

  findActiveLink(id: string): Promise<(PublicLink & { file: EpilotFile }) | null> {
    return this.db.publicLink.findFirst({
      where: { id, revokedAt: null, OR: [{ expiresAt: null }, { expiresAt: { gt: new Date() } }], file: { deletedAt: null, quarantined: false } },
      include: { file: { include: ENTITY_INCLUDE } },
    });
  }

  async recordAccess(id: string): Promise<void> {
    await this.db.publicLink.update({ where: { id }, data: { lastAccessedAt: new Date(), accessCount: { increment: 1 } } });
  }

  async revokeLink(id: string): Promise<void> {
    await this.db.publicLink.update({ where: { id }, data: { revokedAt: new Date() } });
  }

  findLink(id: string): Promise<PublicLink | null> {
    return this.db.publicLink.findFirst({ where: { id, revokedAt: null } });
  }

  // ——— collections ———

  collections(where: { organizationId: string | null; schemaSlug: string; scope: 'user' | 'global'; ownerId?: string }): Promise<Collection[]> {
    return this.db.collection.findMany({ where, orderBy: [{ order: 'asc' }, { createdAt: 'asc' }] });
  }

  findCollection(where: { organizationId: string | null; slug: string; ownerId?: string }): Promise<Collection | null> {
    return this.db.collection.findFirst({ where });
  }

  countCollections(where: { organizationId: string | null; schemaSlug: string; scope: string; ownerId?: string }): Promise<number> {
    return this.db.collection.count({ where });
  }

  createCollection(data: Parameters<Db['collection']['create']>[0]['data']): Promise<Collection> {
    return this.db.collection.create({ data });
  }

  updateCollection(id: string, data: Parameters<Db['collection']['update']>[0]['data']): Promise<Collection> {
    return this.db.collection.update({ where: { id }, data });
  }

  async deleteCollection(id: string): Promise<void> {
    await this.db.collection.delete({ where: { id } });
  }
}
