import { ArgsType, Field, ID, InputType, Int, registerEnumType } from '@nestjs/graphql';
import { FileStatusEnum } from './file.models';

@InputType()
export class CreateFileUploadInput {
  @Field({ description: 'Name of the uploaded file' }) name!: string;
  @Field({ description: 'MIME type of the file' }) contentType!: string;
  @Field({ description: 'Key of the file category', nullable: true }) fileCategory?: string;
}

@InputType()
export class CreateFileAssociationDto {
  @Field({ description: 'Reference (or ID) of the related entity in your database' }) entityReference!: string;
  @Field({ description: 'Name of the object, e.g. "contract"' }) entityName!: string;
  @Field(() => ID, { description: 'UUID of the file' }) fileId!: string;
}

@InputType()
export class UploadFileInput {
  @Field({ nullable: true }) fileCategory?: string;
  @Field({ nullable: true }) isPublic?: boolean;
}

@InputType()
export class StringFilter {
  @Field({ nullable: true }) equalTo?: string;
  @Field(() => [String], { nullable: true }) valueIn?: string[];
}

@InputType()
export class StatusFilter {
  @Field(() => FileStatusEnum, { nullable: true }) equalTo?: FileStatusEnum;
  @Field(() => [FileStatusEnum], { nullable: true }) valueIn?: FileStatusEnum[];
}

@InputType()
export class NameFilter {
  @Field({ nullable: true, description: 'Case-insensitive substring' }) contains?: string;
}

@InputType()
export class FileFilter {
  @Field(() => StringFilter, { nullable: true }) entityName?: StringFilter;
  @Field(() => StringFilter, { nullable: true }) entityIdentifiers?: StringFilter;
  @Field(() => StatusFilter, { nullable: true }) status?: StatusFilter;
  @Field(() => NameFilter, { nullable: true }) name?: NameFilter;
  @Field(() => StringFilter, { nullable: true }) fileCategory?: StringFilter;
}

export enum FileSortField {
  createdAt = 'createdAt',
  name = 'name',
  size = 'size',
}
registerEnumType(FileSortField, { name: 'FileSortField' });

export enum SortOrder {
  ASC = 'ASC',
  DESC = 'DESC',
}
registerEnumType(SortOrder, { name: 'SortOrder' });

@InputType()
export class FileOrderBy {
  @Field(() => FileSortField, { defaultValue: FileSortField.createdAt }) sort!: FileSortField;
  @Field(() => SortOrder, { defaultValue: SortOrder.DESC }) order!: SortOrder;
}

export const MAX_PAGE_SIZE = 100;

@ArgsType()
export class FilesArgs {
  @Field(() => FileFilter, { nullable: true }) filter?: FileFilter;
  @Field(() => Int, { defaultValue: 20, description: `1 to ${MAX_PAGE_SIZE}` }) limit!: number;
  @Field(() => Int, { defaultValue: 0 }) offset!: number;
  @Field(() => FileOrderBy, { nullable: true }) orderBy?: FileOrderBy;
}
