import { Args, ID, Mutation, Query, Resolver } from '@nestjs/graphql';
import GraphQLUpload from 'graphql-upload/GraphQLUpload.mjs';
import type { FileUpload } from 'graphql-upload/processRequest.mjs';
import { CurrentPrincipal, ServerSideOnly, type Principal } from '@app/auth';
import { Errors } from '@app/errors';
import { FilesService, FileUploadService } from '@app/files';
import { CreateFileAssociationDto, CreateFileUploadInput, FilesArgs, MAX_PAGE_SIZE, UploadFileInput } from './file.inputs';
import { toAssociationModel, toFileModel } from './file.mapper';
import { FileAssociationModel, FileModel, FilePageModel, FileStatusEnum, FileUploadModel } from './file.models';

/** ROQ's Files API (seed 001): thin resolvers over the file domain. */
@Resolver(() => FileModel)
export class FilesResolver {
  constructor(
    private readonly fileService: FilesService,
    private readonly uploads: FileUploadService,
  ) {}

  @Query(() => FilePageModel, { description: 'Files the caller may read, optionally those associated with entities' })
  async files(@CurrentPrincipal() principal: Principal, @Args() args: FilesArgs): Promise<FilePageModel> {
    if (args.limit < 1 || args.limit > MAX_PAGE_SIZE) throw Errors.badRequest(`limit must be between 1 and ${MAX_PAGE_SIZE}`);
    if (args.offset < 0) throw Errors.badRequest('offset must not be negative');
    const f = args.filter;
    const pick = (x?: { equalTo?: string; valueIn?: string[] }) =>
      x?.valueIn ?? (x?.equalTo !== undefined ? [x.equalTo] : undefined);
    const entityNames = pick(f?.entityName);
    if (entityNames && entityNames.length !== 1) throw Errors.badRequest('entityName takes exactly one value');
    const { rows, total } = await this.fileService.list(
      principal,
      {
        entityName: entityNames?.[0],
        entityReferences: pick(f?.entityIdentifiers),
        status: (f?.status?.valueIn ?? (f?.status?.equalTo ? [f.status.equalTo] : undefined)) as FileStatusEnum[] | undefined,
        nameContains: f?.name?.contains,
        categoryKey: pick(f?.fileCategory)?.[0],
      },
      {
        limit: args.limit,
        offset: args.offset,
        orderBy: args.orderBy?.sort ?? 'createdAt',
        direction: args.orderBy?.order === 'ASC' ? 'asc' : 'desc',
      },
    );
    return { data: await Promise.all(rows.map((row) => toFileModel(this.fileService, row))), totalCount: total };
  }

  @Query(() => FileModel, { description: 'One file the caller may read' })
  async file(@CurrentPrincipal() principal: Principal, @Args('fileId', { type: () => ID }) fileId: string): Promise<FileModel> {
    return toFileModel(this.fileService, await this.fileService.getWithRelations(principal, fileId));
  }

  @ServerSideOnly()
  @Mutation(() => FileUploadModel, { description: 'A file record in UPLOADING and a pre-signed POST for its bytes' })
  async createFileUpload(@CurrentPrincipal() principal: Principal, @Args('file') input: CreateFileUploadInput): Promise<FileUploadModel> {
    const { file, category } = await this.uploads.createIntent(principal, {
      filename: input.name,
      contentType: input.contentType,
      categoryKey: input.fileCategory,
    });
    const post = await this.uploads.presignPost(file, category);
    return { id: file.id, uploadUrl: post.url, formFields: post.fields, expiresAt: post.expiresAt };
  }

  @Mutation(() => FileModel, { description: 'READY: the bytes are uploaded; the server checks them, then processes them' })
  async updateFileStatus(
    @CurrentPrincipal() principal: Principal,
    @Args('fileId', { type: () => ID }) fileId: string,
    @Args('status', { type: () => FileStatusEnum }) status: FileStatusEnum,
  ): Promise<FileModel> {
    return toFileModel(this.fileService, await this.uploads.requestStatus(principal, fileId, status));
  }

  @Mutation(() => FileModel, { description: 'Streams a file (GraphQL multipart request) like every other upload' })
  async uploadFile(
    @CurrentPrincipal() principal: Principal,
    @Args('file', { type: () => GraphQLUpload }) upload: Promise<FileUpload>,
    @Args('input', { nullable: true }) input?: UploadFileInput,
  ): Promise<FileModel> {
    const { createReadStream, filename, mimetype, encoding } = await upload;
    const row = await this.uploads.uploadStream(principal, {
      stream: createReadStream(),
      filename,
      declaredMime: mimetype,
      encoding,
      categoryKey: input?.fileCategory,
      visibility: input?.isPublic === undefined ? undefined : input.isPublic ? 'PUBLIC' : 'PRIVATE',
    });
    return toFileModel(this.fileService, row);
  }

  @ServerSideOnly()
  @Mutation(() => FileAssociationModel)
  async createFileAssociation(
    @CurrentPrincipal() principal: Principal,
    @Args('createFileAssociationDto') dto: CreateFileAssociationDto,
  ): Promise<FileAssociationModel> {
    return toAssociationModel(await this.fileService.associate(principal, dto.fileId, dto.entityName, dto.entityReference));
  }

  @ServerSideOnly()
  @Mutation(() => FileAssociationModel)
  async deleteFileAssociation(@CurrentPrincipal() principal: Principal, @Args('id', { type: () => ID }) id: string): Promise<FileAssociationModel> {
    return toAssociationModel(await this.fileService.dissociate(principal, id));
  }

  @ServerSideOnly()
  @Mutation(() => FileModel)
  async makeFilePublic(@CurrentPrincipal() principal: Principal, @Args('id', { type: () => ID }) id: string): Promise<FileModel> {
    return toFileModel(this.fileService, await this.fileService.setVisibility(principal, id, 'PUBLIC'));
  }

  @ServerSideOnly()
  @Mutation(() => FileModel)
  async makeFilePrivate(@CurrentPrincipal() principal: Principal, @Args('id', { type: () => ID }) id: string): Promise<FileModel> {
    return toFileModel(this.fileService, await this.fileService.setVisibility(principal, id, 'PRIVATE'));
  }

  @Mutation(() => FileModel, { description: 'Soft delete: the file disappears from every read at once' })
  async deleteFile(@CurrentPrincipal() principal: Principal, @Args('fileId', { type: () => ID }) fileId: string): Promise<FileModel> {
    return toFileModel(this.fileService, await this.fileService.softDelete(principal, fileId));
  }
}
