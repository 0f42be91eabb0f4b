import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { printGraphqlSchema } from './print-schema';

describe('schema.gql', () => {
  it('matches the schema the resolvers define (run `npm run schema:print` after changing them)', async () => {
    const committed = readFileSync(join(__dirname, '../../../../schema.gql'), 'utf8');
    expect(await printGraphqlSchema()).toBe(committed);
  });
});
