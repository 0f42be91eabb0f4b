-- A user's live files, newest first, with what the access filter reads (organization, status): every list that
-- names an owner (Chainsite's GET /v1/upload) counts the user's files for its total on each page, and without
-- this index that count visited one heap page per file. At 1 000 000 files (25 000 per user) the count took
-- 100–150 ms and the endpoint managed 5 requests/s under 50 connections; with it the count is an index-only scan
-- of about 7 ms (see docs/benchmarks.md). Partial and covering, so Prisma's schema cannot declare it; it is
-- declared here only.
CREATE INDEX "File_ownerId_live_idx" ON "File" ("ownerId", "createdAt" DESC, "id") INCLUDE ("organizationId", "status")
  WHERE "deletedAt" IS NULL AND "quarantined" = false;
