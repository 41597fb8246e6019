import Database from "better-sqlite3";
import { GwsyncError } from "../../errors.js";

/**
 * SQLite result codes that mean "the disk cannot take it" (SQLITE_FULL: disk full or max_page_count
 * reached; SQLITE_IOERR_WRITE/FSYNC can also stem from ENOSPC on some file systems, but we cannot tell,
 * so those stay STORE_FAILED).
 */
const FULL_CODES = new Set(["SQLITE_FULL"]);
/** Codes where waiting can help: another connection holds a lock. */
const BUSY_CODES = new Set(["SQLITE_BUSY", "SQLITE_LOCKED"]);

/**
 * Turn better-sqlite3's SqliteError into a coded GwsyncError naming the store file, the operation and
 * the fix. Anything else (our own GwsyncErrors, a throwing buildMessages) passes through untouched.
 */
export function toStoreError(err: unknown, file: string, operation: string): unknown {
  if (!(err instanceof Database.SqliteError)) return err;
  const code = err.code;
  const details = { file, operation, sqlite: code };
  if (FULL_CODES.has(code)) {
    return new GwsyncError(
      "GWSYNC_STORE_FULL",
      `store ${file} is full (${code}) during ${operation}: free disk space or raise the size limit; nothing was written`,
      { cause: err, details },
    );
  }
  const base = code.replace(/^(SQLITE_[A-Z]+)_.*$/, "$1");
  const hint = BUSY_CODES.has(base)
    ? "another process holds a write lock; only the publisher may write"
    : base === "SQLITE_READONLY"
      ? "the file or its folder is not writable"
      : base === "SQLITE_CORRUPT" || base === "SQLITE_NOTADB"
        ? "the file is damaged or not a SQLite database; restore it from a backup"
        : "check the disk and the file's permissions";
  return new GwsyncError(
    "GWSYNC_STORE_FAILED",
    `store ${file} failed during ${operation} (${code}): ${hint}`,
    {
      cause: err,
      // A lock or an I/O hiccup can pass; a damaged or read-only file will not.
      retryable: BUSY_CODES.has(base) || base === "SQLITE_IOERR",
      details,
    },
  );
}

/** Run `fn`, mapping SQLite failures to coded errors. */
export function guard<T>(file: string, operation: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw toStoreError(err, file, operation);
  }
}
