import { buildSchema, parse, validate } from 'graphql';
import { depthLimit } from './depth-limit.rule';

// A schema with a cycle, so documents can nest without end.
const schema = buildSchema(`type Node { id: ID, child: Node } type Query { node: Node }`);

function depthErrors(query: string, max: number) {
  return validate(schema, parse(query), [depthLimit(max)]).map((e) => e.message);
}

describe('depthLimit', () => {
  it('accepts documents up to the limit and refuses deeper ones with a message', () => {
    expect(depthErrors('{ node { child { id } } }', 3)).toEqual([]);
    expect(depthErrors('{ node { child { child { id } } } }', 3)).toEqual(['The query is nested 4 levels deep; the limit is 3']);
  });

  it('follows fragments and does not loop on fragment cycles', () => {
    const q = 'query { node { ...A } } fragment A on Node { child { child { id } } }';
    expect(depthErrors(q, 3)).toEqual(['The query is nested 4 levels deep; the limit is 3']);
  });

  it('does not count introspection', () => {
    expect(depthErrors('{ __schema { types { fields { type { ofType { ofType { name } } } } } } }', 2)).toEqual([]);
  });
});
