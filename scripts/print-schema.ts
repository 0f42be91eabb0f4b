import 'reflect-metadata';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { printGraphqlSchema } from '../apps/api/src/graphql/print-schema';

// npm run schema:print — rewrites schema.gql at the repository root.
printGraphqlSchema()
  .then((sdl) => writeFile(join(__dirname, '..', '..', 'schema.gql'), sdl))
  .then(() => process.stdout.write('schema.gql written\n'))
  .catch((error: unknown) => {
    process.stderr.write(`${String(error)}\n`);
    process.exit(1);
  });
