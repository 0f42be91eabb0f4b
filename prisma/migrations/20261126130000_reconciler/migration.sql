-- The reconciler walks storage in key order (byte order, as S3 lists keys) and asks, page by page, which records
-- expect an object between two keys. These indexes compare keys byte-wise (COLLATE "C"), so each page's question
-- is an index range scan whatever the database's default collation.
CREATE INDEX "File_storageKey_c_idx" ON "File"("storageKey" COLLATE "C");
CREATE INDEX "Thumbnail_storageKey_c_idx" ON "Thumbnail"("storageKey" COLLATE "C");
