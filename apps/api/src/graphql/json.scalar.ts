import { Scalar, type CustomScalar } from '@nestjs/graphql';
import { Kind, type ValueNode } from 'graphql';

function literal(node: ValueNode): unknown {
  switch (node.kind) {
    case Kind.STRING:
    case Kind.BOOLEAN:
      return node.value;
    case Kind.INT:
    case Kind.FLOAT:
      return Number(node.value);
    case Kind.NULL:
      return null;
    case Kind.LIST:
      return node.values.map(literal);
    case Kind.OBJECT:
      return Object.fromEntries(node.fields.map((f) => [f.name.value, literal(f.value)]));
    default:
      return undefined;
  }
}

/** A JSON object, as ROQ returns `formFields`. */
@Scalar('JSONObject')
export class JsonObjectScalar implements CustomScalar<Record<string, unknown>, Record<string, unknown>> {
  description = 'A JSON object';
  parseValue(value: unknown): Record<string, unknown> {
    return value as Record<string, unknown>;
  }
  serialize(value: unknown): Record<string, unknown> {
    return value as Record<string, unknown>;
  }
  parseLiteral(node: ValueNode): Record<string, unknown> {
    return literal(node) as Record<string, unknown>;
  }
}
