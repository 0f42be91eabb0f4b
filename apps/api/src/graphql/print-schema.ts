import { NestFactory } from '@nestjs/core';
import { GraphQLSchemaBuilderModule, GraphQLSchemaFactory } from '@nestjs/graphql';
import { lexicographicSortSchema, printSchema } from 'graphql';
import { FilesResolver } from './files.resolver';
import { JsonObjectScalar } from './json.scalar';

/** The SDL of the code-first schema, as committed in schema.gql; built from metadata, no database needed. */
export async function printGraphqlSchema(): Promise<string> {
  const app = await NestFactory.create(GraphQLSchemaBuilderModule, { logger: false });
  try {
    await app.init();
    const schema = await app.get(GraphQLSchemaFactory).create([FilesResolver], [JsonObjectScalar]);
    return `# Generated from the code-first resolvers by \`npm run schema:print\`; a test keeps it in step.\n\n${printSchema(lexicographicSortSchema(schema))}\n`;
  } finally {
    await app.close();
  }
}
