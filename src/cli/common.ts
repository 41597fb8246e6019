import { DEFAULT_SHUTDOWN_TIMEOUT_MS } from "../config/defaults.js";
import { loadConfig } from "../config/load-config.js";
import type { GwsyncConfig, Role } from "../config/types.js";
import { GwsyncError, isGwsyncError } from "../errors.js";
import { createLogger, type Logger } from "../log.js";

/** Exit codes (docs/architecture.md#exit-codes): 0 success, 1 runtime failure, 2 bad usage or bad configuration. */
export const EXIT_OK = 0;
export const EXIT_RUNTIME = 1;
export const EXIT_USAGE = 2;

export class ExitError extends Error {
  constructor(
    readonly exitCode: number,
    message: string,
  ) {
    super(message);
  }
}

export function loadConfigOrExit(file: string | undefined, role: Role): { config: GwsyncConfig; log: Logger } {
  const log = createLogger();
  try {
    const r = loadConfig({ ...(file ? { file } : {}), role, env: process.env });
    for (const w of r.warnings) log.warn(w);
    for (const d of r.debug) log.debug(d);
    return { config: r.config, log };
  } catch (err) {
    throw toExit(err);
  }
}

/** Map an error to the exit code and the one line the user sees. */
export function toExit(err: unknown): ExitError {
  if (err instanceof ExitError) return err;
  if (isGwsyncError(err)) {
    const usage = err.code === "GWSYNC_CONFIG_INVALID" || err.code === "GWSYNC_USAGE" || err.code === "GWSYNC_JNDI_INVALID";
    const problems = (err as GwsyncError & { problems?: { key: string; message: string }[] }).problems;
    const detail = problems?.length ? `\n${problems.map((p) => `  - ${p.key}: ${p.message}`).join("\n")}` : "";
    return new ExitError(usage ? EXIT_USAGE : EXIT_RUNTIME, `gwsync: ${err.code}: ${err.message}${detail}`);
  }
  return new ExitError(EXIT_RUNTIME, `gwsync: ${(err as Error)?.message ?? String(err)}`);
}

/** After a stop, how long the process may take to let go of what is left before it is ended. */
const EXIT_GRACE_MS = 2000;

/**
 * Run a long-lived service until SIGTERM/SIGINT, then stop it gracefully and exit 0. A stop that does
 * not end within `timeoutMs` ([gwsync] shutdown_timeout_ms), or leaves something holding the event loop
 * (a socket a failed step could not close), ends the process anyway: SIGTERM always stops it.
 */
export async function runService(
  name: string,
  log: Logger,
  stop: () => Promise<void>,
  timeoutMs = DEFAULT_SHUTDOWN_TIMEOUT_MS,
): Promise<void> {
  let failed = false;
  await new Promise<void>((resolve) => {
    let stopping = false;
    const onSignal = (signal: NodeJS.Signals) => {
      if (stopping) return;
      stopping = true;
      log.info({ signal }, `${name} shutting down`);
      const deadline = setTimeout(() => {
        log.error({ timeoutMs }, `${name} did not stop within shutdown_timeout_ms; exiting`);
        process.exit(EXIT_RUNTIME);
      }, timeoutMs);
      deadline.unref();
      stop()
        .catch((err: unknown) => {
          log.error({ err: (err as Error).message }, "error during shutdown");
          failed = true;
        })
        .finally(() => {
          clearTimeout(deadline);
          log.info(`${name} stopped`);
          setTimeout(() => process.exit(), EXIT_GRACE_MS).unref();
          resolve();
        });
    };
    process.once("SIGTERM", onSignal);
    process.once("SIGINT", onSignal);
  });
  if (failed) throw new ExitError(EXIT_RUNTIME, `gwsync: ${name} stopped, but not cleanly (see the error above)`);
}

export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

export { GwsyncError };
