import pino, { type Logger } from "pino";

export type { Logger };

/** Paths pino masks wherever they appear in a log record (a second line of defence behind scrub()). */
export const REDACT_PATHS = [
  "password",
  "*.password",
  "*.*.password",
  "secret",
  "*.secret",
  "*.*.secret",
  "token",
  "*.token",
  "revokedToken",
  "*.revokedToken",
  "authorization",
  "*.authorization",
  "headers.authorization",
  "req.headers.authorization",
  "*.headers.authorization",
  "credentials",
  "*.credentials",
];

const CENSOR = "***";
/**
 * Keys whose value is a secret, at any depth and in any case: password, Authorization, revokedToken,
 * accessToken, clientSecret, apiKey... but not password_file (a path) or tokenType.
 */
export const SECRET_LOG_KEY =
  /(password|passwd|secret|token|authorization|credentials?|api[-_]?key|cookie)$/i;
/** Deeper than this a log record is cut; a bounded walk keeps a huge object from stalling the logger. */
const MAX_SCRUB_DEPTH = 10;

/**
 * Credential parameters of a URL query (JDBC: `?user=app&password=x`, SQL Server: `;password=x`).
 * Names compared whole, so `password_file=` (a path) is left alone.
 */
const SECRET_URL_PARAM =
  /([?&;](?:password|passwd|pwd|sslpassword|secret|client_secret|token|access_token|api_?key)=)[^&;\s"']*/gi;

/** amqp://user:pass@host → amqp://user:***@host (also http, https, amqps); jdbc:...?password=x → password=***. */
export function maskUrl(url: string): string {
  return url
    .replace(/(\b[a-z][a-z0-9+.-]*:\/\/[^:/@\s]*:)[^@\s]*@/gi, "$1***@")
    .replace(SECRET_URL_PARAM, "$1***");
}

/** An Error with its message, stack, cause and own fields scrubbed; same prototype, so pino's serializer still sees an Error. */
function scrubError(err: Error, depth: number, seen: WeakSet<object>): Error {
  const copy = Object.create(Object.getPrototypeOf(err)) as Error;
  for (const [k, v] of Object.entries(err))
    (copy as unknown as Record<string, unknown>)[k] = scrubEntry(k, v, depth + 1, seen);
  Object.defineProperty(copy, "message", { value: maskUrl(err.message), enumerable: false, writable: true });
  Object.defineProperty(copy, "stack", {
    value: maskUrl(err.stack ?? ""),
    enumerable: false,
    writable: true,
  });
  if (err.name !== copy.name)
    Object.defineProperty(copy, "name", { value: err.name, enumerable: false, writable: true });
  if ("cause" in err)
    Object.defineProperty(copy, "cause", {
      value: scrub(err.cause, depth + 1, seen),
      enumerable: false,
      writable: true,
    });
  return copy;
}

function scrubEntry(key: string, value: unknown, depth: number, seen: WeakSet<object>): unknown {
  if (SECRET_LOG_KEY.test(key) && value !== undefined && value !== null) return CENSOR;
  return scrub(value, depth, seen);
}

/** A copy of a log argument with secret-named fields censored and credentials in URLs masked, at any depth. */
export function scrub(value: unknown, depth = 0, seen: WeakSet<object> = new WeakSet()): unknown {
  if (typeof value === "string") return maskUrl(value);
  if (typeof value !== "object" || value === null) return value;
  if (seen.has(value)) return "[Circular]";
  if (depth >= MAX_SCRUB_DEPTH) return "[Object]";
  seen.add(value);
  try {
    if (value instanceof Error) return scrubError(value, depth, seen);
    if (Array.isArray(value)) return value.map((v) => scrub(v, depth + 1, seen));
    if (Buffer.isBuffer(value) || value instanceof Date || value instanceof URL) {
      return value instanceof URL ? maskUrl(value.href) : value;
    }
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, scrubEntry(k, v, depth + 1, seen)]));
  } finally {
    seen.delete(value);
  }
}

export interface LogOptions {
  level?: string;
  /** Where records go; tests pass a capture stream. Default: stderr (pretty on a TTY), so stdout carries only results. */
  destination?: NodeJS.WritableStream;
  pretty?: boolean;
}

export function createLogger(options: LogOptions = {}): Logger {
  const level = options.level ?? process.env.GWSYNC_LOG_LEVEL ?? "info";
  const base = {
    level,
    base: { pid: process.pid },
    redact: { paths: REDACT_PATHS, censor: CENSOR },
    formatters: {
      level: (label: string) => ({ level: label }),
      // child({ ... }) bindings never pass through logMethod.
      bindings: (bindings: Record<string, unknown>) => scrub(bindings) as Record<string, unknown>,
    },
    hooks: {
      // Secrets can sit at any depth (a whole config, an Error whose message quotes a broker URL):
      // scrub every argument at the last edge, before pino serializes it.
      logMethod(this: Logger, args: unknown[], method: (...a: unknown[]) => void) {
        method.apply(
          this,
          args.map((a) => scrub(a)),
        );
      },
    },
  };
  if (options.destination) return pino(base, options.destination as pino.DestinationStream);
  const pretty =
    options.pretty ?? (process.stderr.isTTY === true && process.env.GWSYNC_LOG_FORMAT !== "json");
  if (pretty) {
    return pino({
      ...base,
      transport: { target: "pino-pretty", options: { colorize: true, destination: 2 } },
    });
  }
  return pino(base, pino.destination({ dest: 2, sync: true }));
}

/** A logger that drops everything: the default for library use and for unit tests. */
export const silentLogger: Logger = pino({ level: "silent" });
