import type { INestApplication } from '@nestjs/common';
import { DocumentBuilder, SwaggerModule, type OpenAPIObject } from '@nestjs/swagger';

/**
 * The OpenAPI 3.1 document of every REST surface, generated from the controllers (@nestjs/swagger) and served at
 * /docs (UI) and /docs/openapi.json. `npm run openapi:print` writes it to openapi.json, which a test keeps in step
 * with the code. GraphQL is described by schema.gql instead.
 */
export function buildOpenApiDocument(app: INestApplication): OpenAPIObject {
  const config = new DocumentBuilder()
    .setOpenAPIVersion('3.1.0')
    .setTitle('filehub')
    .setDescription(
      'A self-hosted file service for applications. Surfaces: our own /files; ROQ GraphQL at /graphql (see schema.gql); ' +
        "Condo's signed REST flow under /api/files; Chainsite under /v1/upload; facilioo under /api/files and /api/file-types; " +
        "epilot under /v1/files, /v2/files and collections. Authenticate with Authorization: Bearer <JWT>.",
    )
    .setVersion('1')
    .addBearerAuth({ type: 'http', scheme: 'bearer', bearerFormat: 'JWT' })
    .addSecurityRequirements('bearer')
    .build();
  return SwaggerModule.createDocument(app, config, {
    operationIdFactory: (controllerKey, methodKey) => `${controllerKey.replace(/Controller$/, '')}_${methodKey}`,
  });
}

export function serveOpenApi(app: INestApplication, document: OpenAPIObject): void {
  SwaggerModule.setup('docs', app, document, { jsonDocumentUrl: 'docs/openapi.json', yamlDocumentUrl: 'docs/openapi.yaml' });
}
