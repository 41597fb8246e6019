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

/** Run a long-lived service until SIGTERM/SIGINT, then stop it gracefully and exit 0. */
export async function runService(name: string, log: Logger, stop: () => Promise<void>): Promise<void> {
  await new Promise<void>((resolve) => {
    let stopping = false;
    const onSignal = (signal: NodeJS.Signals) => {
      if (stopping) return;
      stopping = true;
      log.info({ signal }, `${name} shutting down`);
      stop()
        .catch((err: unknown) => log.error({ err: (err as Error).message }, "error during shutdown"))
        .finally(() => {
          log.info(`${name} stopped`);
          resolve();
        });
    };
    process.once("SIGTERM", onSignal);
    process.once("SIGINT", onSignal);
  });
}

export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

export { GwsyncError };
