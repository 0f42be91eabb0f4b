import { Body, Controller, Delete, Get, HttpCode, Param, Post, Put, UseFilters } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { CurrentPrincipal, isPrivileged, type Principal } from '@app/auth';
import type { Collection } from '@app/database';
import { AppError, Errors } from '@app/errors';
import { parseOrThrow } from '../http/zod-validation.pipe';
import { EpilotErrorFilter } from './epilot-error.filter';
import { collectionAttributesSchema, collectionCreateSchema, type CollectionAttributes } from './epilot.dto';
import { EpilotRepository } from './epilot.repository';
import { EpilotService } from './epilot.service';
import type { FileEntityView } from './epilot.view';
import { ZodBody } from '../http/openapi';

interface CollectionView {
  id: string;
  slug: string;
  name: string;
  parents: string[];
  starred: boolean;
  order: number;
  enabled_locations: string[];
  enabled_purposes: string[];
  created_at: string;
  updated_at: string;
}

function view(c: Collection): CollectionView {
  return {
    id: c.id,
    slug: c.slug ?? '',
    name: c.name,
    parents: c.parentSlugs ?? [],
    starred: c.starred,
    order: c.order,
    enabled_locations: c.enabledLocations ?? [],
    enabled_purposes: c.enabledPurposes ?? [],
    created_at: c.createdAt.toISOString(),
    updated_at: c.updatedAt.toISOString(),
  };
}

const SLUG = /^[A-Za-z0-9_-]{1,100}$/;

function schemaSlug(slug: string): string {
  if (!SLUG.test(slug)) throw Errors.badRequest('The schema slug must be 1 to 100 letters, digits, dashes or underscores', { field: 'slug' });
  return slug;
}

function nameSlug(name: string): string {
  return (
    name
      .normalize('NFKD')
      .replace(/[\u0300-\u036f]/g, '')
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '_')
      .replace(/^_+|_+$/g, '')
      .slice(0, 80) || 'collection'
  );
}

/**
 * File collections (epilot): a user's own per entity schema, and global ones per schema (created by service or
 * admin tokens). A file is in a collection for an entity when its relation to that entity carries the collection's
 * slug among its `_tags`. Slugs follow epilot's pattern: `_system_files_collection_<schema>_<user>:<name>` for a
 * user's, `_system_files_collection_schema_<schema>:<name>` for global ones.
 */
@Controller()
@UseFilters(EpilotErrorFilter)
export class EpilotCollectionsController {
  constructor(
    private readonly repo: EpilotRepository,
    private readonly epilot: EpilotService,
  ) {}

  @Get('v1/:slug/collections')
  async list(@CurrentPrincipal() principal: Principal, @Param('slug') slug: string): Promise<CollectionView[]> {
    const rows = await this.repo.collections({ organizationId: principal.orgId, schemaSlug: schemaSlug(slug), scope: 'user', ownerId: principal.userId });
    return rows.map(view);
  }

  @Post('v1/:slug/collections')
  @HttpCode(201)
  @ZodBody(collectionCreateSchema)
  async create(@CurrentPrincipal() principal: Principal, @Param('slug') slug: string, @Body() body: unknown): Promise<CollectionView> {
    const input = parseOrThrow(collectionCreateSchema, body, 'body');
    const schema = schemaSlug(slug);
    const fullSlug = `_system_files_collection_${schema}_${principal.userId}:${nameSlug(input.name)}`;
    return view(await this.insert(principal, { schema, scope: 'user', slug: fullSlug, ownerId: principal.userId }, input));
  }

  @Put('v1/:slug/collections/:collectionSlug')
  @ZodBody(collectionAttributesSchema)
  async update(@CurrentPrincipal() principal: Principal, @Param('slug') slug: string, @Param('collectionSlug') collectionSlug: string, @Body() body: unknown): Promise<CollectionView> {
    const input = parseOrThrow(collectionAttributesSchema, body, 'body');
    const row = await this.own(principal, schemaSlug(slug), collectionSlug);
    return view(await this.repo.updateCollection(row.id, this.attributes(input)));
  }

  @Delete('v1/:slug/collections/:collectionSlug')
  @HttpCode(200)
  async remove(@CurrentPrincipal() principal: Principal, @Param('slug') slug: string, @Param('collectionSlug') collectionSlug: string): Promise<CollectionView> {
    const row = await this.own(principal, schemaSlug(slug), collectionSlug);
    await this.repo.deleteCollection(row.id);
    return view(row);
  }

  @Get('v1/collections/:schemaSlug')
  async listGlobal(@CurrentPrincipal() principal: Principal, @Param('schemaSlug') slug: string): Promise<CollectionView[]> {
    const rows = await this.repo.collections({ organizationId: principal.orgId, schemaSlug: schemaSlug(slug), scope: 'global' });
    return rows.map(view);
  }

  /** Not in the epilot client: how global collections come to exist (service or admin tokens of the organization). */
  @Post('v1/collections/:schemaSlug')
  @HttpCode(201)
  @ZodBody(collectionCreateSchema)
  async createGlobal(@CurrentPrincipal() principal: Principal, @Param('schemaSlug') slug: string, @Body() body: unknown): Promise<CollectionView> {
    if (!isPrivileged(principal) || !principal.orgId) throw Errors.forbidden('Global collections are created with a service or admin token of the organization');
    const input = parseOrThrow(collectionCreateSchema, body, 'body');
    const schema = schemaSlug(slug);
    return view(await this.insert(principal, { schema, scope: 'global', slug: `_system_files_collection_schema_${schema}:${nameSlug(input.name)}`, ownerId: principal.userId }, input));
  }

  @Get('v1/entity/:id/collections/:collectionSlug/files')
  async files(@CurrentPrincipal() principal: Principal, @Param('id') entityId: string, @Param('collectionSlug') collectionSlug: string): Promise<FileEntityView[]> {
    const collection =
      (await this.repo.findCollection({ organizationId: principal.orgId, slug: collectionSlug, ownerId: principal.userId })) ??
      (await this.repo.findCollection({ organizationId: principal.orgId, slug: collectionSlug }).then((c) => (c?.scope === 'global' ? c : null)));
    if (!collection) throw Errors.notFound('Collection', collectionSlug);
    const files = await this.repo.filesInCollection(principal, entityId, collection.slug ?? collectionSlug);
    return files.map((f) => this.epilot.view(f));
  }

  private async own(principal: Principal, schema: string, collectionSlug: string): Promise<Collection> {
    const row = await this.repo.findCollection({ organizationId: principal.orgId, slug: collectionSlug, ownerId: principal.userId });
    if (!row || row.schemaSlug !== schema || row.scope !== 'user') throw Errors.notFound('Collection', collectionSlug);
    return row;
  }

  private async insert(
    principal: Principal,
    where: { schema: string; scope: 'user' | 'global'; slug: string; ownerId: string },
    input: CollectionAttributes & { name: string },
  ): Promise<Collection> {
    if (await this.repo.findCollection({ organizationId: principal.orgId, slug: where.slug })) {
      throw new AppError('CONFLICT', `A collection '${input.name}' already exists (${where.slug})`);
    }
    const order = await this.repo.countCollections({ organizationId: principal.orgId, schemaSlug: where.schema, scope: where.scope, ...(where.scope === 'user' ? { ownerId: where.ownerId } : {}) });
    return this.repo.createCollection({
      id: randomUUID(),
      ownerId: where.ownerId,
      organizationId: principal.orgId,
      slug: where.slug,
      schemaSlug: where.schema,
      scope: where.scope,
      order,
      ...this.attributes(input),
      name: input.name,
    });
  }

  private attributes(input: CollectionAttributes) {
    return {
      ...(input.name !== undefined ? { name: input.name } : {}),
      ...(input.parents !== undefined ? { parentSlugs: input.parents } : {}),
      ...(input.starred !== undefined ? { starred: input.starred } : {}),
      ...(input.enabled_locations !== undefined ? { enabledLocations: input.enabled_locations } : {}),
      ...(input.enabled_purposes !== undefined ? { enabledPurposes: input.enabled_purposes } : {}),
    };
  }
}
