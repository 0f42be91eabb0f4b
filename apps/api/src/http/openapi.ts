import { applyDecorators } from '@nestjs/common';
import { ApiBody, ApiConsumes } from '@nestjs/swagger';
import { z } from 'zod';

/** The request body's JSON Schema in the OpenAPI document, taken from the zod schema that validates it. */
export function ZodBody(schema: z.ZodType, description?: string): MethodDecorator {
  const json = z.toJSONSchema(schema, { unrepresentable: 'any', io: 'input' }) as Record<string, unknown>;
  delete json.$schema;
  return applyDecorators(ApiBody({ schema: json, description }));
}

/** A multipart body: its parts, described for the document (the handler streams them itself). */
export function MultipartBody(properties: Record<string, { type: 'string'; format?: 'binary'; description?: string }>, required: string[] = []): MethodDecorator {
  return applyDecorators(ApiConsumes('multipart/form-data'), ApiBody({ schema: { type: 'object', properties, required } }));
}
