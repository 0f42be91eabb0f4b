-- Signed REST flow: identical bytes within a tenant share one object (content addressed by SHA-256), and a
-- shared file points at its source's object. Storage keys are therefore no longer unique per record; an object
-- is removed only when no record (file, version or thumbnail) references it any more.
DROP INDEX "File_storageKey_key";
CREATE INDEX "File_storageKey_idx" ON "File"("storageKey");
DROP INDEX "FileVersion_storageKey_key";
CREATE INDEX "FileVersion_storageKey_idx" ON "FileVersion"("storageKey");
DROP INDEX "Thumbnail_storageKey_key";
CREATE INDEX "Thumbnail_storageKey_idx" ON "Thumbnail"("storageKey");

-- Finding earlier bytes of the same tenant by their hash.
CREATE INDEX "File_sha256_idx" ON "File"("sha256");

-- Progress of housekeeping tasks that walk storage a page at a time (the orphan collector's cursor).
CREATE TABLE "MaintenanceState" (
    "key" TEXT NOT NULL,
    "value" JSONB NOT NULL,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "MaintenanceState_pkey" PRIMARY KEY ("key")
);

-- epilot surface: uploads from unauthenticated callers wait in quarantine until a member of the organization saves
-- them; relation tags place files in collections; delete grants of `_acl`.
ALTER TABLE "File" ADD COLUMN "quarantined" BOOLEAN NOT NULL DEFAULT false;
ALTER TABLE "FileAssociation" ADD COLUMN "tags" TEXT[] DEFAULT ARRAY[]::TEXT[];
ALTER TYPE "GrantPermission" ADD VALUE 'DELETE';

ALTER TABLE "Collection" ADD COLUMN "schemaSlug" TEXT NOT NULL DEFAULT '';
ALTER TABLE "Collection" ADD COLUMN "scope" TEXT NOT NULL DEFAULT 'user';
ALTER TABLE "Collection" ADD COLUMN "starred" BOOLEAN NOT NULL DEFAULT false;
ALTER TABLE "Collection" ADD COLUMN "order" INTEGER NOT NULL DEFAULT 0;
ALTER TABLE "Collection" ADD COLUMN "parentSlugs" TEXT[] DEFAULT ARRAY[]::TEXT[];
ALTER TABLE "Collection" ADD COLUMN "enabledLocations" TEXT[] DEFAULT ARRAY[]::TEXT[];
ALTER TABLE "Collection" ADD COLUMN "enabledPurposes" TEXT[] DEFAULT ARRAY[]::TEXT[];
CREATE INDEX "Collection_organizationId_schemaSlug_scope_idx" ON "Collection"("organizationId", "schemaSlug", "scope");

-- Webhooks: an organization's subscriptions to file events, and every delivery attempt's outcome.
CREATE TYPE "DeliveryStatus" AS ENUM ('PENDING', 'SUCCEEDED', 'FAILED');

CREATE TABLE "Webhook" (
    "id" TEXT NOT NULL,
    "organizationId" TEXT NOT NULL,
    "url" TEXT NOT NULL,
    "events" TEXT[],
    "secretEncrypted" TEXT NOT NULL,
    "active" BOOLEAN NOT NULL DEFAULT true,
    "createdBy" TEXT NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "Webhook_pkey" PRIMARY KEY ("id")
);
CREATE INDEX "Webhook_organizationId_idx" ON "Webhook"("organizationId");

CREATE TABLE "WebhookDelivery" (
    "id" TEXT NOT NULL,
    "webhookId" TEXT NOT NULL,
    "event" TEXT NOT NULL,
    "payload" JSONB NOT NULL,
    "status" "DeliveryStatus" NOT NULL DEFAULT 'PENDING',
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "lastStatusCode" INTEGER,
    "lastError" TEXT,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "deliveredAt" TIMESTAMP(3),

    CONSTRAINT "WebhookDelivery_pkey" PRIMARY KEY ("id")
);
CREATE INDEX "WebhookDelivery_webhookId_createdAt_idx" ON "WebhookDelivery"("webhookId", "createdAt" DESC);
ALTER TABLE "WebhookDelivery" ADD CONSTRAINT "WebhookDelivery_webhookId_fkey" FOREIGN KEY ("webhookId") REFERENCES "Webhook"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- Quotas set for one organization or one user (the defaults come from QUOTA_* settings).
CREATE TABLE "Quota" (
    "scope" TEXT NOT NULL,
    "subjectId" TEXT NOT NULL,
    "maxBytes" BIGINT,
    "maxFiles" INTEGER,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "Quota_pkey" PRIMARY KEY ("scope", "subjectId")
);
CREATE INDEX "File_ownerId_idx" ON "File"("ownerId");
