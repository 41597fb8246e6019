import pino, { type Logger } from "pino";

export type { Logger };

/** Paths pino masks wherever they appear in a log record. */
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

/** amqp://user:pass@host → amqp://user:***@host (also http, https, amqps). */
export function maskUrl(url: string): string {
  return url.replace(/(\b[a-z][a-z0-9+.-]*:\/\/[^:/@\s]*:)[^@\s]*@/gi, "$1***@");
}

export interface LogOptions {
  level?: string;
  /** Where records go; tests pass a capture stream. Default: stdout (pretty on a TTY). */
  destination?: NodeJS.WritableStream;
  pretty?: boolean;
}

export function createLogger(options: LogOptions = {}): Logger {
  const level = options.level ?? process.env.GWSYNC_LOG_LEVEL ?? "info";
  const base = {
    level,
    base: { pid: process.pid },
    redact: { paths: REDACT_PATHS, censor: "***" },
    formatters: { level: (label: string) => ({ level: label }) },
    hooks: {
      // Broker and service URLs can carry credentials in any message; mask them at the last edge.
      logMethod(this: Logger, args: unknown[], method: (...a: unknown[]) => void) {
        method.apply(
          this,
          args.map((a) => (typeof a === "string" ? maskUrl(a) : a)),
        );
      },
    },
  };
  if (options.destination) return pino(base, options.destination as pino.DestinationStream);
  const pretty = options.pretty ?? (process.stdout.isTTY === true && process.env.GWSYNC_LOG_FORMAT !== "json");
  if (pretty) {
    return pino({ ...base, transport: { target: "pino-pretty", options: { colorize: true, destination: 1 } } });
  }
  return pino(base);
}

/** A logger that drops everything: the default for library use and for unit tests. */
export const silentLogger: Logger = pino({ level: "silent" });
