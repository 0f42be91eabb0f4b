-- Direct multipart uploads to S3 with pre-signed part URLs: the store's upload id and the agreed part layout of a
-- file still UPLOADING. The row goes when the upload completes or is aborted; rows older than
-- RESUMABLE_UPLOAD_TTL_SECONDS are aborted by the lifecycle sweep together with their file record.
CREATE TABLE "MultipartUpload" (
    "fileId" TEXT NOT NULL,
    "uploadId" TEXT NOT NULL,
    "size" BIGINT NOT NULL,
    "partSize" INTEGER NOT NULL,
    "partCount" INTEGER NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "MultipartUpload_pkey" PRIMARY KEY ("fileId")
);

CREATE INDEX "MultipartUpload_createdAt_idx" ON "MultipartUpload"("createdAt");

ALTER TABLE "MultipartUpload" ADD CONSTRAINT "MultipartUpload_fileId_fkey" FOREIGN KEY ("fileId") REFERENCES "File"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- tus uploads: who started them and what the file will be. The id is the file's id once finished; the row then
-- stays until it expires (finishedAt set), so a client that lost the final answer still learns the upload is
-- complete. Terminated uploads lose their row at once; the lifecycle sweep removes expired ones with their data.
CREATE TABLE "ResumableUpload" (
    "id" TEXT NOT NULL,
    "ownerId" TEXT NOT NULL,
    "organizationId" TEXT,
    "filename" TEXT NOT NULL,
    "contentType" TEXT,
    "categoryKey" TEXT NOT NULL,
    "visibility" "Visibility" NOT NULL,
    "size" BIGINT NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "expiresAt" TIMESTAMP(3) NOT NULL,
    "finishedAt" TIMESTAMP(3),

    CONSTRAINT "ResumableUpload_pkey" PRIMARY KEY ("id")
);

CREATE INDEX "ResumableUpload_expiresAt_idx" ON "ResumableUpload"("expiresAt");
