import pino, { type Logger } from "pino";
import { MASK, maskSecrets } from "./security/secrets.js";

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

const CENSOR = MASK;
/** Deeper than this a log record is cut (masked); a bounded walk keeps a huge object from stalling the logger. */
const MAX_SCRUB_DEPTH = 10;

/**
 * A copy of a log argument with its secrets masked at any depth (src/security/secrets.ts: secret-named
 * fields, credentials in values and inside URLs, Errors' messages, stacks and causes).
 */
export function scrub(value: unknown): unknown {
  return maskSecrets(value, { mask: CENSOR, maxDepth: MAX_SCRUB_DEPTH });
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
