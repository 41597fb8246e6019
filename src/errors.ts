/**
 * One registry of coded errors: area then what. Every error carries a stable code, an optional cause,
 * and whether a retry can help (so retry loops read it as data instead of guessing at the call site).
 */
export const ERROR_CODES = {
  GWSYNC_CONFIG_INVALID: { retryable: false, status: 400 },
  GWSYNC_USAGE: { retryable: false, status: 400 },
  GWSYNC_ARTIFACT_INVALID: { retryable: false, status: 400 },
  GWSYNC_ARTIFACT_NAME_UNSAFE: { retryable: false, status: 400 },
  GWSYNC_XML_DOCTYPE: { retryable: false, status: 400 },
  GWSYNC_XML_MALFORMED: { retryable: false, status: 400 },
  GWSYNC_EVENT_INVALID: { retryable: false, status: 400 },
  GWSYNC_EVENT_TOO_LARGE: { retryable: false, status: 413 },
  GWSYNC_HTTP_UNAUTHORIZED: { retryable: false, status: 401 },
  GWSYNC_HTTP_BAD_REQUEST: { retryable: false, status: 400 },
  GWSYNC_NOT_FOUND: { retryable: false, status: 404 },
  GWSYNC_STORE_FULL: { retryable: false, status: 507 },
  GWSYNC_STORE_FAILED: { retryable: true, status: 500 },
  GWSYNC_FETCH_FAILED: { retryable: true, status: 502 },
  GWSYNC_FETCH_NOT_FOUND: { retryable: false, status: 404 },
  GWSYNC_FETCH_UNAUTHORIZED: { retryable: false, status: 502 },
  GWSYNC_DEPLOY_IO: { retryable: true, status: 500 },
  GWSYNC_DEPLOY_DISK_FULL: { retryable: true, status: 507 },
  GWSYNC_BROKER_UNREACHABLE: { retryable: true, status: 503 },
  /** The broker refused the login (wrong user or password, no access to the vhost): retrying cannot help. */
  GWSYNC_BROKER_ACCESS_REFUSED: { retryable: false, status: 503 },
  GWSYNC_BROKER_NACK: { retryable: true, status: 503 },
  GWSYNC_BROKER_TIMEOUT: { retryable: true, status: 504 },
  GWSYNC_SHUTTING_DOWN: { retryable: true, status: 503 },
  /** The data API holds data_api_max_in_flight requests already: 503 with Retry-After, come back later. */
  GWSYNC_BUSY: { retryable: true, status: 503 },
  GWSYNC_JNDI_INVALID: { retryable: false, status: 400 },
  /** Local state (runtime state files, revocation journal) could not be written; kept in memory, retried. */
  GWSYNC_STATE_SAVE_FAILED: { retryable: true, status: 500 },
  /** The artifact would write a file another API owns on the same label (one file, one API). */
  GWSYNC_ARTIFACT_CONFLICT: { retryable: false, status: 409 },
  /** A gateway has no tenant id for the artifact's tenant ([gwsync.tenants]): it writes it nowhere. */
  GWSYNC_TENANT_UNKNOWN: { retryable: false, status: 422 },
  /** A file refused before it was read: not a regular file, a symlink, or over its size limit. */
  GWSYNC_FILE_REFUSED: { retryable: false, status: 400 },
  /**
   * A replication agreement forbids it: a local change to a label a clone replicates from its master, a
   * pull of a disabled agreement, an agreement between two data centers of the same region name.
   */
  GWSYNC_REPLICATION_REFUSED: { retryable: false, status: 409 },
  /** Input over one of the configured limits (docs/production.md, "Limits"); details.limit names the key. */
  GWSYNC_LIMIT_EXCEEDED: { retryable: false, status: 413 },
} as const satisfies Record<string, { retryable: boolean; status: number }>;

export type ErrorCode = keyof typeof ERROR_CODES;

export class GwsyncError extends Error {
  readonly code: ErrorCode;
  readonly retryable: boolean;
  readonly status: number;
  /** Extra facts for logs and API replies (never secrets, never artifact bodies). */
  readonly details: Record<string, unknown> | undefined;

  constructor(
    code: ErrorCode,
    message: string,
    options: { cause?: unknown; retryable?: boolean; details?: Record<string, unknown> } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "GwsyncError";
    this.code = code;
    this.retryable = options.retryable ?? ERROR_CODES[code].retryable;
    this.status = ERROR_CODES[code].status;
    this.details = options.details;
  }

  toJSON(): { code: ErrorCode; message: string; details?: Record<string, unknown> } {
    return this.details === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, details: this.details };
  }
}

export function isGwsyncError(err: unknown, code?: ErrorCode): err is GwsyncError {
  return err instanceof GwsyncError && (code === undefined || err.code === code);
}

/** Errors of the file system that mean "the disk cannot take it" rather than a bug. */
export function fsErrorCode(err: unknown): ErrorCode {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code === "ENOSPC" || code === "EDQUOT" ? "GWSYNC_DEPLOY_DISK_FULL" : "GWSYNC_DEPLOY_IO";
}
