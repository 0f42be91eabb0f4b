-- Image transforms on request: a derived object's SHA-256 is its strong ETag, read from the row so that a cached
-- transform (and a 304) costs no read of the bytes. Rows written before this migration have none; their variant
-- is rendered again on its next request and the row updated.
ALTER TABLE "Thumbnail" ADD COLUMN "sha256" TEXT;
