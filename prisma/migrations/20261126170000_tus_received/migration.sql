-- A tus upload whose bytes are all in but which is not a file yet (its commit met an outage): the `finish-resumable`
-- lifecycle task commits those the client does not come back for.
ALTER TABLE "ResumableUpload" ADD COLUMN "receivedAt" TIMESTAMP(3);
CREATE INDEX "ResumableUpload_receivedAt_idx" ON "ResumableUpload"("receivedAt");
