-- CreateEnum
CREATE TYPE "FileStatus" AS ENUM ('UPLOADING', 'PROCESSING', 'READY', 'FAILED');
CREATE TYPE "Visibility" AS ENUM ('PRIVATE', 'PUBLIC');
CREATE TYPE "OutboxStatus" AS ENUM ('PENDING', 'SENT');
CREATE TYPE "GrantPermission" AS ENUM ('READ', 'WRITE');

-- CreateTable
CREATE TABLE "FileCategory" (
    "id" TEXT NOT NULL,
    "key" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "mimeTypes" TEXT[],
    "extensions" TEXT[],
    "maxBytes" BIGINT,
    "defaultVisibility" "Visibility" NOT NULL DEFAULT 'PRIVATE',
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,
    CONSTRAINT "FileCategory_pkey" PRIMARY KEY ("id")
);

CREATE TABLE "File" (
    "id" TEXT NOT NULL,
    "ownerId" TEXT NOT NULL,
    "organizationId" TEXT,
    "fileClientId" TEXT,
    "sourceFileClientId" TEXT,
    "sourceFileId" TEXT,
    "originalFilename" TEXT NOT NULL,
    "encoding" TEXT,
    "storageKey" TEXT NOT NULL,
    "declaredMime" TEXT,
    "sniffedMime" TEXT,
    "declaredSize" BIGINT,
    "size" BIGINT,
    "sha256" TEXT,
    "status" "FileStatus" NOT NULL DEFAULT 'UPLOADING',
    "failureReason" TEXT,
    "visibility" "Visibility" NOT NULL DEFAULT 'PRIVATE',
    "categoryId" TEXT,
    "externalId" TEXT,
    "tags" TEXT[],
    "purposes" TEXT[],
    "metadata" JSONB NOT NULL DEFAULT '{}',
    "pageCount" INTEGER,
    "width" INTEGER,
    "height" INTEGER,
    "currentVersion" INTEGER NOT NULL DEFAULT 1,
    "temporaryUntil" TIMESTAMP(3),
    "uploadedAt" TIMESTAMP(3),
    "processedAt" TIMESTAMP(3),
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,
    "deletedAt" TIMESTAMP(3),
    CONSTRAINT "File_pkey" PRIMARY KEY ("id")
);

CREATE TABLE "FileVersion" (
    "id" TEXT NOT NULL,
    "fileId" TEXT NOT NULL,
    "version" INTEGER NOT NULL,
    "storageKey" TEXT NOT NULL,
    "originalFilename" TEXT NOT NULL,
    "mime" TEXT,
    "size" BIGINT,
    "sha256" TEXT,
    "createdBy" TEXT NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "FileVersion_pkey" PRIMARY KEY ("id")
);

CREATE TABLE "FileAssociation" (
    "id" TEXT NOT NULL,
    "fileId" TEXT NOT NULL,
    "organizationId" TEXT,
    "entityName" TEXT NOT NULL,
    "entityReference" TEXT NOT NULL,
    "createdBy" TEXT NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "FileAssociation_pkey" PRIMARY KEY ("id")
);

CREATE TABLE "FileGrant" (
    "id" TEXT NOT NULL,
    "fileId" TEXT NOT NULL,
    "principalType" TEXT NOT NULL,
    "principalId" TEXT NOT NULL,
    "permission" "GrantPermission" NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "FileGrant_pkey" PRIMARY KEY ("id")
);

CREATE TABLE "Collection" (
    "id" TEXT NOT NULL,
    "ownerId" TEXT NOT NULL,
    "organizationId" TEXT,
    "slug" TEXT,
    "name" TEXT NOT NULL,
    "parentId" TEXT,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,
    CONSTRAINT "Collection_pkey" PRIMARY KEY ("id")
);

CREATE TABLE "CollectionItem" (
    "collectionId" TEXT NOT NULL,
    "fileId" TEXT NOT NULL,
    "addedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "CollectionItem_pkey" PRIMARY KEY ("collectionId", "fileId")
);

CREATE TABLE "PublicLink" (
    "id" TEXT NOT NULL,
    "fileId" TEXT NOT NULL,
    "tokenHash" TEXT NOT NULL,
    "createdBy" TEXT NOT NULL,
    "expiresAt" TIMESTAMP(3),
    "lastAccessedAt" TIMESTAMP(3),
    "accessCount" INTEGER NOT NULL DEFAULT 0,
    "revokedAt" TIMESTAMP(3),
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "PublicLink_pkey" PRIMARY KEY ("id")
);

CREATE TABLE "Thumbnail" (
    "id" TEXT NOT NULL,
    "fileId" TEXT NOT NULL,
    "variant" TEXT NOT NULL,
    "storageKey" TEXT NOT NULL,
    "mime" TEXT NOT NULL,
    "width" INTEGER NOT NULL,
    "height" INTEGER NOT NULL,
    "size" BIGINT NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "Thumbnail_pkey" PRIMARY KEY ("id")
);

CREATE TABLE "FileClient" (
    "id" TEXT NOT NULL,
    "name" TEXT,
    "organizationId" TEXT,
    "secretEncrypted" TEXT NOT NULL,
    "previousSecretEncrypted" TEXT,
    "previousValidUntil" TIMESTAMP(3),
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,
    CONSTRAINT "FileClient_pkey" PRIMARY KEY ("id")
);

CREATE TABLE "OutboxJob" (
    "id" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "payload" JSONB NOT NULL,
    "status" "OutboxStatus" NOT NULL DEFAULT 'PENDING',
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "availableAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "sentAt" TIMESTAMP(3),
    "lastError" TEXT,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "OutboxJob_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "FileCategory_key_key" ON "FileCategory"("key");
CREATE UNIQUE INDEX "File_storageKey_key" ON "File"("storageKey");
CREATE INDEX "File_ownerId_createdAt_idx" ON "File"("ownerId", "createdAt" DESC);
CREATE INDEX "File_organizationId_createdAt_idx" ON "File"("organizationId", "createdAt" DESC);
CREATE INDEX "File_createdAt_idx" ON "File"("createdAt" DESC);
CREATE INDEX "File_status_updatedAt_idx" ON "File"("status", "updatedAt");
CREATE INDEX "File_temporaryUntil_idx" ON "File"("temporaryUntil");
CREATE UNIQUE INDEX "FileVersion_storageKey_key" ON "FileVersion"("storageKey");
CREATE UNIQUE INDEX "FileVersion_fileId_version_key" ON "FileVersion"("fileId", "version");
CREATE INDEX "FileAssociation_entityName_entityReference_idx" ON "FileAssociation"("entityName", "entityReference");
CREATE INDEX "FileAssociation_organizationId_entityName_entityReference_idx" ON "FileAssociation"("organizationId", "entityName", "entityReference");
CREATE UNIQUE INDEX "FileAssociation_fileId_entityName_entityReference_key" ON "FileAssociation"("fileId", "entityName", "entityReference");
CREATE INDEX "FileGrant_principalType_principalId_idx" ON "FileGrant"("principalType", "principalId");
CREATE UNIQUE INDEX "FileGrant_fileId_principalType_principalId_permission_key" ON "FileGrant"("fileId", "principalType", "principalId", "permission");
CREATE INDEX "Collection_ownerId_createdAt_idx" ON "Collection"("ownerId", "createdAt" DESC);
CREATE INDEX "Collection_organizationId_slug_idx" ON "Collection"("organizationId", "slug");
CREATE INDEX "CollectionItem_fileId_idx" ON "CollectionItem"("fileId");
CREATE UNIQUE INDEX "PublicLink_tokenHash_key" ON "PublicLink"("tokenHash");
CREATE INDEX "PublicLink_fileId_idx" ON "PublicLink"("fileId");
CREATE UNIQUE INDEX "Thumbnail_storageKey_key" ON "Thumbnail"("storageKey");
CREATE UNIQUE INDEX "Thumbnail_fileId_variant_key" ON "Thumbnail"("fileId", "variant");
CREATE INDEX "OutboxJob_status_availableAt_idx" ON "OutboxJob"("status", "availableAt");

-- AddForeignKey
ALTER TABLE "File" ADD CONSTRAINT "File_categoryId_fkey" FOREIGN KEY ("categoryId") REFERENCES "FileCategory"("id") ON DELETE SET NULL ON UPDATE CASCADE;
ALTER TABLE "FileVersion" ADD CONSTRAINT "FileVersion_fileId_fkey" FOREIGN KEY ("fileId") REFERENCES "File"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "FileAssociation" ADD CONSTRAINT "FileAssociation_fileId_fkey" FOREIGN KEY ("fileId") REFERENCES "File"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "FileGrant" ADD CONSTRAINT "FileGrant_fileId_fkey" FOREIGN KEY ("fileId") REFERENCES "File"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "CollectionItem" ADD CONSTRAINT "CollectionItem_collectionId_fkey" FOREIGN KEY ("collectionId") REFERENCES "Collection"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "CollectionItem" ADD CONSTRAINT "CollectionItem_fileId_fkey" FOREIGN KEY ("fileId") REFERENCES "File"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "PublicLink" ADD CONSTRAINT "PublicLink_fileId_fkey" FOREIGN KEY ("fileId") REFERENCES "File"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "Thumbnail" ADD CONSTRAINT "Thumbnail_fileId_fkey" FOREIGN KEY ("fileId") REFERENCES "File"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- Seed the file categories every install starts with (CONTRACT section 4).
INSERT INTO "FileCategory" ("id", "key", "name", "mimeTypes", "extensions", "maxBytes", "defaultVisibility", "updatedAt") VALUES
  ('00000000-0000-4000-8000-000000000001', 'default', 'Any file', ARRAY[]::TEXT[], ARRAY[]::TEXT[], NULL, 'PRIVATE', CURRENT_TIMESTAMP),
  ('00000000-0000-4000-8000-000000000002', 'image', 'Image', ARRAY['image/*'], ARRAY['jpg','jpeg','png','gif','webp','avif','heic','tif','tiff','bmp'], NULL, 'PRIVATE', CURRENT_TIMESTAMP),
  ('00000000-0000-4000-8000-000000000003', 'pdf', 'PDF document', ARRAY['application/pdf'], ARRAY['pdf'], NULL, 'PRIVATE', CURRENT_TIMESTAMP),
  ('00000000-0000-4000-8000-000000000004', 'document', 'Document', ARRAY['application/pdf','application/msword','application/vnd.openxmlformats-officedocument.wordprocessingml.document','application/vnd.ms-excel','application/vnd.openxmlformats-officedocument.spreadsheetml.sheet','application/vnd.ms-powerpoint','application/vnd.openxmlformats-officedocument.presentationml.presentation','application/vnd.oasis.opendocument.text','application/vnd.oasis.opendocument.spreadsheet','text/plain','text/csv','application/rtf'], ARRAY['pdf','doc','docx','xls','xlsx','ppt','pptx','odt','ods','txt','csv','rtf'], NULL, 'PRIVATE', CURRENT_TIMESTAMP);
