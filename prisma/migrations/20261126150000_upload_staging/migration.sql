-- Direct uploads write to a staging key that is never served; completion copies the bytes to a fresh key only the
-- service writes. The staging key stays on the record: bucket notifications and epilot's s3ref name the bytes by it.
ALTER TABLE "File" ADD COLUMN "uploadKey" TEXT;
CREATE INDEX "File_uploadKey_idx" ON "File"("uploadKey");
