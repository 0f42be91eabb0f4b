import { applyDecorators } from '@nestjs/common';
import { ApiBody, ApiConsumes, ApiQuery } from '@nestjs/swagger';
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

/** The query parameters of an image transform (docs/image-transforms.md), plus any others the route takes. */
export function TransformQuery(extra: Record<string, string> = {}): MethodDecorator {
  const params: Record<string, { description: string; schema: Record<string, unknown> }> = {
    w: { description: 'width in pixels (1–4096)', schema: { type: 'integer', minimum: 1, maximum: 4096 } },
    h: { description: 'height in pixels (1–4096)', schema: { type: 'integer', minimum: 1, maximum: 4096 } },
    fit: { description: 'how the image fills w×h (default inside)', schema: { type: 'string', enum: ['inside', 'cover', 'contain', 'outside', 'fill'] } },
    format: { description: 'output format (default webp)', schema: { type: 'string', enum: ['webp', 'avif', 'jpeg', 'png', 'original', 'auto'] } },
    q: { description: 'quality of webp, avif and jpeg (1–100)', schema: { type: 'integer', minimum: 1, maximum: 100 } },
    ...Object.fromEntries(Object.entries(extra).map(([name, description]) => [name, { description, schema: { type: 'string' } }])),
  };
  return applyDecorators(...Object.entries(params).map(([name, p]) => ApiQuery({ name, required: false, description: p.description, schema: p.schema })));
}
