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
