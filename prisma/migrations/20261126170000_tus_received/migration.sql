-- A tus upload whose bytes are all in but which is not a file yet (its commit met an outage): the `finish-resumable`
-- lifecycle task commits those the client does not come back for.
ALTER TABLE "ResumableUpload" ADD COLUMN "receivedAt" TIMESTAMP(3);
CREATE INDEX "ResumableUpload_receivedAt_idx" ON "ResumableUpload"("receivedAt");

-- Who is making it a file, until when: the final PATCH, a HEAD retry, another replica and the sweep take turns, so a
-- second finisher never removes an upload the first is still reading.
ALTER TABLE "ResumableUpload" ADD COLUMN "finishingUntil" TIMESTAMP(3);
