import type { FileRow, FilesService, FileWithRelations } from '@app/files';
import { servedContentType } from '@app/files';
import type { FileAssociation } from '@app/database';
import { FileStatusEnum, type FileAssociationModel, type FileModel } from './file.models';

export function toAssociationModel(a: FileAssociation): FileAssociationModel {
  return { id: a.id, fileId: a.fileId, entityName: a.entityName, entityReference: a.entityReference, createdAt: a.createdAt };
}

/** Builds the GraphQL file from a row; URLs are computed (signing needs no I/O), relations come preloaded. */
export async function toFileModel(files: FilesService, file: FileRow | FileWithRelations): Promise<FileModel> {
  const relations = 'associations' in file ? (file as FileWithRelations) : undefined;
  return {
    id: file.id,
    name: file.originalFilename,
    contentType: servedContentType(file),
    url: await files.urlFor(file),
    isPublic: file.visibility === 'PUBLIC',
    status: FileStatusEnum[file.status],
    failureReason: file.failureReason,
    size: file.size === null ? null : Number(file.size),
    sha256: file.sha256,
    category: file.category?.key ?? null,
    pageCount: file.pageCount,
    width: file.width,
    height: file.height,
    associations: relations?.associations.map(toAssociationModel) ?? [],
    thumbnails: relations?.thumbnails.map((t) => ({ variant: t.variant, width: t.width, height: t.height, contentType: t.mime })) ?? [],
    createdAt: file.createdAt,
    updatedAt: file.updatedAt,
  };
}
