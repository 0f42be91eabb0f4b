import { Field, Float, ID, Int, ObjectType, registerEnumType } from '@nestjs/graphql';
import { JsonObjectScalar } from './json.scalar';

export enum FileStatusEnum {
  UPLOADING = 'UPLOADING',
  PROCESSING = 'PROCESSING',
  READY = 'READY',
  FAILED = 'FAILED',
  QUARANTINED = 'QUARANTINED',
}
registerEnumType(FileStatusEnum, {
  name: 'FileStatus',
  description: 'UPLOADING → PROCESSING → READY | FAILED, or QUARANTINED when the virus scanner finds a signature (never served; see docs/virus-scanning.md)',
});

@ObjectType('FileAssociation')
export class FileAssociationModel {
  @Field(() => ID) id!: string;
  @Field(() => ID) fileId!: string;
  @Field() entityName!: string;
  @Field() entityReference!: string;
  @Field() createdAt!: Date;
}

@ObjectType('Thumbnail')
export class ThumbnailModel {
  @Field() variant!: string;
  @Field(() => Int) width!: number;
  @Field(() => Int) height!: number;
  @Field() contentType!: string;
}

@ObjectType('File')
export class FileModel {
  @Field(() => ID) id!: string;
  @Field({ description: 'Original file name' }) name!: string;
  @Field({ description: 'The type sniffed from the bytes when known, else a safe declared one' }) contentType!: string;
  @Field(() => String, {
    nullable: true,
    description: 'Static for public files; a short-lived signed URL for private ones; null while there is nothing to serve (before the bytes arrive, while a virus scan is pending, QUARANTINED, FAILED)',
  })
  url!: string | null;
  @Field() isPublic!: boolean;
  @Field(() => FileStatusEnum) status!: FileStatusEnum;
  @Field(() => String, { nullable: true }) failureReason!: string | null;
  @Field(() => Float, { nullable: true }) size!: number | null;
  @Field(() => String, { nullable: true }) sha256!: string | null;
  @Field(() => String, { nullable: true }) category!: string | null;
  @Field(() => Int, { nullable: true }) pageCount!: number | null;
  @Field(() => Int, { nullable: true }) width!: number | null;
  @Field(() => Int, { nullable: true }) height!: number | null;
  @Field(() => [FileAssociationModel]) associations!: FileAssociationModel[];
  @Field(() => [ThumbnailModel]) thumbnails!: ThumbnailModel[];
  @Field() createdAt!: Date;
  @Field() updatedAt!: Date;
}

@ObjectType('FilePage')
export class FilePageModel {
  @Field(() => [FileModel]) data!: FileModel[];
  @Field(() => Int) totalCount!: number;
}

@ObjectType('FileUpload', { description: 'Where to POST the bytes: every formFields entry, then the part `file`' })
export class FileUploadModel {
  @Field(() => ID) id!: string;
  @Field() uploadUrl!: string;
  @Field(() => JsonObjectScalar) formFields!: Record<string, string>;
  @Field() expiresAt!: Date;
}
