import { Args, ID, Query, Resolver } from '@nestjs/graphql';
import { CurrentPrincipal, type Principal } from '@app/auth';
import { FilesService, servedContentType } from '@app/files';
import { FileModel } from './file.model';

@Resolver(() => FileModel)
export class FileResolver {
  constructor(private readonly files: FilesService) {}

  @Query(() => FileModel, { description: 'One file the caller may read' })
  async file(@CurrentPrincipal() principal: Principal, @Args('fileId', { type: () => ID }) fileId: string): Promise<FileModel> {
    const file = await this.files.get(principal, fileId);
    return {
      id: file.id,
      name: file.originalFilename,
      contentType: servedContentType(file),
      status: file.status,
      size: file.size === null ? null : Number(file.size),
      sha256: file.sha256,
      isPublic: file.visibility === 'PUBLIC',
      pageCount: file.pageCount,
      createdAt: file.createdAt,
    };
  }
}
