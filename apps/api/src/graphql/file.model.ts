import { Field, Float, ID, Int, ObjectType } from '@nestjs/graphql';

@ObjectType('File')
export class FileModel {
  @Field(() => ID) id!: string;
  @Field() name!: string;
  @Field() contentType!: string;
  @Field() status!: string;
  @Field(() => Float, { nullable: true }) size!: number | null;
  @Field(() => String, { nullable: true }) sha256!: string | null;
  @Field() isPublic!: boolean;
  @Field(() => Int, { nullable: true }) pageCount!: number | null;
  @Field() createdAt!: Date;
}
