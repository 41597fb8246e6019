import { type ErrorCode, isGwsyncError } from "../errors.js";

/**
 * gwsync's exit codes (docs/architecture.md#exit-codes), the same for every command. A script can
 * tell "fix the input" (3) from "not there" (4) from "fix the credentials" (5) from "try again" (1).
 */
export const EXIT_OK = 0;
/** A runtime failure: publisher or broker unreachable, I/O error, internal error. Retrying may help. */
export const EXIT_RUNTIME = 1;
/** Bad usage or configuration, one line per problem. */
export const EXIT_USAGE = 2;
/** An input was refused (an invalid artifact, a bad request): nothing of it was stored. */
export const EXIT_REJECTED = 3;
/** What the command names does not exist (an API, a gateway). */
export const EXIT_NOT_FOUND = 4;
/** Credentials refused, by the publisher (HTTP 401/403) or the broker (ACCESS_REFUSED). */
export const EXIT_AUTH = 5;

const BY_CODE: Partial<Record<ErrorCode, number>> = {
  GWSYNC_CONFIG_INVALID: EXIT_USAGE,
  GWSYNC_USAGE: EXIT_USAGE,
  GWSYNC_JNDI_INVALID: EXIT_USAGE,
  GWSYNC_ARTIFACT_INVALID: EXIT_REJECTED,
  GWSYNC_ARTIFACT_NAME_UNSAFE: EXIT_REJECTED,
  GWSYNC_XML_DOCTYPE: EXIT_REJECTED,
  GWSYNC_XML_MALFORMED: EXIT_REJECTED,
  GWSYNC_EVENT_INVALID: EXIT_REJECTED,
  GWSYNC_EVENT_TOO_LARGE: EXIT_REJECTED,
  GWSYNC_HTTP_BAD_REQUEST: EXIT_REJECTED,
  GWSYNC_REPLICATION_REFUSED: EXIT_REJECTED,
  GWSYNC_NOT_FOUND: EXIT_NOT_FOUND,
  GWSYNC_HTTP_UNAUTHORIZED: EXIT_AUTH,
  GWSYNC_FETCH_UNAUTHORIZED: EXIT_AUTH,
  GWSYNC_BROKER_ACCESS_REFUSED: EXIT_AUTH,
};

export function exitCodeOf(err: unknown): number {
  return isGwsyncError(err) ? (BY_CODE[err.code] ?? EXIT_RUNTIME) : EXIT_RUNTIME;
}
