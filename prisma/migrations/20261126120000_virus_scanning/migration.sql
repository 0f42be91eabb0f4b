-- Virus scanning (docs/virus-scanning.md): infected uploads end QUARANTINED and keep the signature clamd named.
-- The migrator runs each migration in a transaction: ADD VALUE is allowed there (PostgreSQL 12+, PGlite), but the
-- new value cannot be used before the commit, so nothing below refers to it.
ALTER TYPE "FileStatus" ADD VALUE 'QUARANTINED';

-- The signature of an infected file; when and with what engine/database the bytes were last scanned. A verdict is
-- reused for the same bytes (sha256) only when it came from the same clamd database version (see FileScanner).
ALTER TABLE "File" ADD COLUMN "virusSignature" TEXT;
ALTER TABLE "File" ADD COLUMN "scannedAt" TIMESTAMP(3);
ALTER TABLE "File" ADD COLUMN "scannedWith" TEXT;
