import { Injectable } from '@nestjs/common';
import type { Principal } from '@app/auth';
import type { FileCategory } from '@app/database';
import { AppError, Errors } from '@app/errors';
import { FileCategoriesRepository } from './file-categories.repository';

export interface FileCategoryInput {
  key: string;
  name: string;
  mimeTypes?: string[];
  extensions?: string[];
  /** Null or absent: the global MAX_UPLOAD_BYTES. */
  maxBytes?: number | null;
  defaultVisibility?: 'PRIVATE' | 'PUBLIC';
}

/** The key is what clients send (ROQ's fileCategory), so it stays fixed once created. */
export type FileCategoryPatch = Partial<Omit<FileCategoryInput, 'key'>>;

// The category uploads fall back to; deleting it would break every upload that names none.
const DEFAULT_KEY = 'default';
const KEY = /^[a-z0-9][a-z0-9_-]{0,62}$/;
const MIME = /^[a-z0-9][a-z0-9!#$&^_.+-]{0,126}\/(\*|[a-z0-9][a-z0-9!#$&^_.+-]{0,126})$/;
const EXTENSION = /^[a-z0-9][a-z0-9_+-]{0,15}$/;
const MAX_LIST = 100;

/** The admin-editable registry of file categories (CONTRACT section 4): anyone reads, admins write. */
@Injectable()
export class FileCategoriesService {
  constructor(private readonly categories: FileCategoriesRepository) {}

  list(): Promise<FileCategory[]> {
    return this.categories.list();
  }

  /** Null when there is no such category (for inputs that name one, where that is a bad request). */
  find(id: string): Promise<FileCategory | null> {
    return this.categories.findById(id);
  }

  async get(id: string): Promise<FileCategory> {
    const category = await this.categories.findById(id);
    if (!category) throw Errors.notFound('File type', id);
    return category;
  }

  async create(principal: Principal, input: FileCategoryInput): Promise<FileCategory> {
    assertAdmin(principal);
    const key = input.key.trim().toLowerCase();
    if (!KEY.test(key)) throw Errors.badRequest('key must be 1 to 63 characters of a-z, 0-9, "-" and "_", starting with a letter or digit');
    const created = await this.categories.create({
      key,
      name: checkName(input.name),
      mimeTypes: checkMimeTypes(input.mimeTypes ?? []),
      extensions: checkExtensions(input.extensions ?? []),
      maxBytes: checkMaxBytes(input.maxBytes ?? null),
      defaultVisibility: input.defaultVisibility ?? 'PRIVATE',
    });
    if (!created) throw new AppError('CONFLICT', `A file type with key '${key}' already exists`);
    return created;
  }

  async update(principal: Principal, id: string, patch: FileCategoryPatch): Promise<FileCategory> {
    assertAdmin(principal);
    await this.get(id);
    return this.categories.update(id, {
      ...(patch.name !== undefined ? { name: checkName(patch.name) } : {}),
      ...(patch.mimeTypes !== undefined ? { mimeTypes: checkMimeTypes(patch.mimeTypes) } : {}),
      ...(patch.extensions !== undefined ? { extensions: checkExtensions(patch.extensions) } : {}),
      ...(patch.maxBytes !== undefined ? { maxBytes: checkMaxBytes(patch.maxBytes) } : {}),
      ...(patch.defaultVisibility !== undefined ? { defaultVisibility: patch.defaultVisibility } : {}),
    });
  }

  /** Only a category no file uses; files keep their category for life (their checks were made against it). */
  async delete(principal: Principal, id: string): Promise<FileCategory> {
    assertAdmin(principal);
    const category = await this.get(id);
    if (category.key === DEFAULT_KEY) throw new AppError('CONFLICT', `The '${DEFAULT_KEY}' file type cannot be deleted`);
    if (!(await this.categories.deleteIfUnused(id))) {
      throw new AppError('CONFLICT', `File type '${category.key}' is still used by files and cannot be deleted`);
    }
    return category;
  }
}

function assertAdmin(principal: Principal): void {
  if (principal.role !== 'admin') throw Errors.forbidden('Managing file types needs an admin token');
}

function checkName(name: string): string {
  const trimmed = name.trim();
  if (!trimmed || trimmed.length > 200) throw Errors.badRequest('name must be 1 to 200 characters');
  return trimmed;
}

function checkMimeTypes(values: string[]): string[] {
  if (values.length > MAX_LIST) throw Errors.badRequest(`mimeTypes takes at most ${MAX_LIST} entries`);
  const normalized = values.map((v) => v.trim().toLowerCase());
  const bad = normalized.find((v) => !MIME.test(v));
  if (bad !== undefined) throw Errors.badRequest(`mimeTypes: ${JSON.stringify(bad)} is not a MIME type like "application/pdf" or "image/*"`);
  return [...new Set(normalized)];
}

function checkExtensions(values: string[]): string[] {
  if (values.length > MAX_LIST) throw Errors.badRequest(`extensions takes at most ${MAX_LIST} entries`);
  // ".PDF" and "pdf" are the same extension.
  const normalized = values.map((v) => v.trim().toLowerCase().replace(/^\./, ''));
  const bad = normalized.find((v) => !EXTENSION.test(v));
  if (bad !== undefined) throw Errors.badRequest(`extensions: ${JSON.stringify(bad)} is not a file extension like "pdf"`);
  return [...new Set(normalized)];
}

function checkMaxBytes(value: number | null): bigint | null {
  if (value === null) return null;
  if (!Number.isSafeInteger(value) || value < 1) throw Errors.badRequest('maxBytes must be a positive whole number of bytes, or null');
  return BigInt(value);
}
