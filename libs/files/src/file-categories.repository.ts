import { Inject, Injectable } from '@nestjs/common';
import { PRISMA, Prisma, type Db, type FileCategory } from '@app/database';

/**
 * The category registry (ROQ's fileCategory, facilioo's file types). Reference data shared by every tenant, so
 * these queries take no tenant; only queries, no rules.
 */
@Injectable()
export class FileCategoriesRepository {
  constructor(@Inject(PRISMA) private readonly db: Db) {}

  list(): Promise<FileCategory[]> {
    return this.db.fileCategory.findMany({ orderBy: [{ createdAt: 'asc' }, { key: 'asc' }] });
  }

  findById(id: string): Promise<FileCategory | null> {
    return this.db.fileCategory.findUnique({ where: { id } });
  }

  /** Null when the key is taken (checked by the unique index, so two admins racing can't both win). */
  async create(data: Prisma.FileCategoryCreateInput): Promise<FileCategory | null> {
    try {
      return await this.db.fileCategory.create({ data });
    } catch (error) {
      if (error instanceof Prisma.PrismaClientKnownRequestError && error.code === 'P2002') return null;
      throw error;
    }
  }

  update(id: string, data: Prisma.FileCategoryUpdateInput): Promise<FileCategory> {
    return this.db.fileCategory.update({ where: { id }, data });
  }

  /** Deletes the category only while no file (soft-deleted ones included) points at it; false otherwise. */
  async deleteIfUnused(id: string): Promise<boolean> {
    return this.db.$transaction(async (tx) => {
      // Lock the category row so a file can't be created in it between the count and the delete.
      await tx.$queryRaw`SELECT "id" FROM "FileCategory" WHERE "id" = ${id} FOR UPDATE`;
      if ((await tx.file.count({ where: { categoryId: id } })) > 0) return false;
      await tx.fileCategory.delete({ where: { id } });
      return true;
    });
  }
}
