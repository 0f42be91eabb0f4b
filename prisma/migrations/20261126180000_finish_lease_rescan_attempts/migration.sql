-- Who is making a received tus upload a file, until when: the final PATCH, a HEAD retry, another replica and the
-- sweep take turns (a lease, renewed while the commit runs; the token tells a holder its own lease from a later one),
-- so a second finisher, or a termination, never removes an upload the first is still reading.
ALTER TABLE "ResumableUpload" ADD COLUMN "finishingUntil" TIMESTAMP(3);
ALTER TABLE "ResumableUpload" ADD COLUMN "finishingToken" TEXT;

-- When a rescan last failed on a file's object (clamd answered ERROR or timed out on it): such files go after the
-- ones not tried yet, so a few objects clamd chokes on never hold up every rescan batch.
ALTER TABLE "File" ADD COLUMN "rescanFailedAt" TIMESTAMP(3);
