import type { Command } from "commander";
import { DEFAULT_SHUTDOWN_TIMEOUT_MS } from "../config/defaults.js";
import { isConfigError, type LoadConfigResult, loadConfig } from "../config/load-config.js";
import type { GwsyncConfig, Role } from "../config/types.js";
import { GwsyncError, isGwsyncError } from "../errors.js";
import { createLogger, type Logger } from "../log.js";
import { EXIT_RUNTIME, EXIT_USAGE, exitCodeOf } from "./exit-codes.js";

export { EXIT_OK, EXIT_RUNTIME, EXIT_USAGE } from "./exit-codes.js";

/** The configuration file when --config is not given (containers set it once for every command). */
export const CONFIG_ENV = "GWSYNC_CONFIG";

export class ExitError extends Error {
  constructor(
    readonly exitCode: number,
    message: string,
  ) {
    super(message);
  }
}

/** Options every command has. */
export interface CommonOptions {
  config?: string;
  json?: boolean;
  strict?: boolean;
}

/** --json: results as JSON on stdout; for services, log records as JSON lines even on a terminal. */
export function addJsonOption(cmd: Command, what = "machine-readable output (JSON on stdout)"): Command {
  return cmd.option("--json", what);
}

/** --strict: what would be a warning about the configuration (an unknown key near a known one) is an error. */
export function addStrictOption(cmd: Command): Command {
  return cmd.option(
    "--strict",
    "treat configuration warnings (did-you-mean, unreadable secret files) as errors",
  );
}

/** Logs go to stderr, always: stdout carries results only. */
export function cliLogger(options: { json?: boolean } = {}): Logger {
  return createLogger(options.json ? { pretty: false } : {});
}

/** The configuration file named by --config or GWSYNC_CONFIG, if any. */
export function configFileOf(opts: { config?: string }): string | undefined {
  return opts.config ?? (process.env[CONFIG_ENV] || undefined);
}

/**
 * Load the configuration a service runs on. A service needs a file: without one it would run on
 * defaults nobody chose (and a publisher would create ./data/artifacts.db), so that is an error.
 */
export function loadServiceConfig(
  command: string,
  role: Role,
  opts: CommonOptions,
  log: Logger,
): GwsyncConfig {
  const file = configFileOf(opts);
  if (file === undefined) {
    throw new ExitError(
      EXIT_USAGE,
      `gwsync ${command}: no configuration: give --config FILE (or set ${CONFIG_ENV}); examples/${role}.toml is a commented one`,
    );
  }
  return loadConfigOrExit({ file, role, strict: opts.strict === true }, log).config;
}

/** loadConfig, with its warnings logged and its errors turned into exit code 2 and one line per problem. */
export function loadConfigOrExit(
  options: { file?: string; role?: Role; strict?: boolean },
  log: Logger,
): LoadConfigResult {
  try {
    const r = loadConfig({ ...options, env: process.env });
    for (const w of r.warnings) log.warn(w);
    for (const d of r.debug) log.debug(d);
    return r;
  } catch (err) {
    throw toExit(err);
  }
}

/** Map an error to the exit code and the one line the user sees. */
export function toExit(err: unknown): ExitError {
  if (err instanceof ExitError) return err;
  if (isGwsyncError(err)) {
    if (isConfigError(err) && err.problems.length > 0) {
      const where = err.source === undefined ? "configuration" : err.source;
      const n = err.problems.length;
      const lines = err.problems.map((p) => `  - ${p.message}`).join("\n");
      return new ExitError(
        exitCodeOf(err),
        `gwsync: ${where}: ${n === 1 ? "1 problem" : `${n} problems`} (gwsync config check shows them all):\n${lines}`,
      );
    }
    return new ExitError(exitCodeOf(err), `gwsync: ${err.code}: ${err.message}`);
  }
  return new ExitError(EXIT_RUNTIME, `gwsync: ${(err as Error)?.message ?? String(err)}`);
}

/** What a long-lived service offers the CLI. */
export interface Service {
  start(): Promise<void>;
  close(): Promise<void>;
  /** Rejects when the service hits an error it cannot recover from (a refused broker login). */
  readonly fatal?: Promise<never>;
}

/** After a stop, how long the process may take to let go of what is left before it is ended. */
const EXIT_GRACE_MS = 2000;

/**
 * Run a service until SIGTERM/SIGINT, then stop it gracefully and exit 0 — in every state, also while
 * it is still connecting or loading: the handlers are installed before start() is called. A second
 * signal of the same kind ends the process at once. A fatal error stops the service and fails. A stop
 * that does not end within `timeoutMs` ([gwsync] shutdown_timeout_ms), or leaves something holding
 * the event loop (a socket a failed step could not close), ends the process anyway.
 */
export async function runService(
  name: string,
  log: Logger,
  svc: Service,
  started: () => void = () => undefined,
  timeoutMs = DEFAULT_SHUTDOWN_TIMEOUT_MS,
): Promise<void> {
  let onSignal: (signal: NodeJS.Signals) => void = () => undefined;
  const signalled = new Promise<NodeJS.Signals>((resolve) => {
    onSignal = resolve;
  });
  process.once("SIGTERM", onSignal);
  process.once("SIGINT", onSignal);
  const fatal = svc.fatal ?? new Promise<never>(() => undefined);
  const stop = async (why: string) => {
    log.info(`${name} shutting down (${why})`);
    const deadline = setTimeout(() => {
      log.error({ timeoutMs }, `${name} did not stop within shutdown_timeout_ms; exiting`);
      process.exit(EXIT_RUNTIME);
    }, timeoutMs);
    deadline.unref();
    let failed = false;
    await svc.close().catch((err: unknown) => {
      log.error({ err: (err as Error).message }, "error during shutdown");
      failed = true;
    });
    clearTimeout(deadline);
    log.info(`${name} stopped`);
    setTimeout(() => process.exit(), EXIT_GRACE_MS).unref();
    if (failed)
      throw new ExitError(EXIT_RUNTIME, `gwsync: ${name} stopped, but not cleanly (see the error above)`);
  };
  const starting = svc.start().then(
    () => ({ kind: "started" as const }),
    (err: unknown) => ({ kind: "failed" as const, err }),
  );
  const first = await Promise.race([
    starting,
    signalled.then((signal) => ({ kind: "signal" as const, signal })),
    fatal.catch((err: unknown) => ({ kind: "failed" as const, err })),
  ]);
  if (first.kind === "signal") {
    await stop(`${first.signal} while starting`);
    return;
  }
  if (first.kind === "failed") {
    await svc.close().catch(() => undefined);
    // A fatal error while starting: the start stops at its next step once closed; let it settle so
    // nothing it began outlives the service.
    await starting;
    throw first.err;
  }
  started();
  const next = await Promise.race([
    signalled.then((signal) => ({ kind: "signal" as const, signal })),
    fatal.catch((err: unknown) => ({ kind: "failed" as const, err })),
  ]);
  if (next.kind === "failed") {
    log.error({ err: (next.err as Error).message }, `${name} cannot go on`);
    await svc.close().catch(() => undefined);
    throw next.err;
  }
  await stop(next.signal);
}

export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

export { GwsyncError };
