-- Rescans after signature updates (docs/virus-scanning.md): the clamd signature database version (the 27000 of
-- `ClamAV 1.4.6/27000/…`) a file's bytes were last checked against. The `rescan-outdated` task rescans READY files
-- whose version is older than the scanner's, or unknown.
ALTER TABLE "File" ADD COLUMN "scanDatabaseVersion" INTEGER;

-- Files scanned before this migration: the version is in their VERSION answer.
UPDATE "File" SET "scanDatabaseVersion" = substring("scannedWith" from '^ClamAV [^/ ]+/([0-9]+)')::integer
WHERE "scannedWith" ~ '^ClamAV [^/ ]+/[0-9]+';

-- The task's query: READY files, oldest database first.
CREATE INDEX "File_status_scanDatabaseVersion_idx" ON "File"("status", "scanDatabaseVersion");
