import { GwsyncError } from "../errors.js";
import type { ConfigProblem } from "./types.js";

/** Every problem found in one load, so a user fixes the file in one pass instead of one error per run. */
export class ConfigError extends GwsyncError {
  readonly problems: ConfigProblem[];
  readonly warnings: string[];
  readonly debug: string[];
  /** The configuration file, when there was one. */
  readonly source: string | undefined;

  constructor(
    problems: ConfigProblem[],
    options: { source?: string; warnings?: string[]; debug?: string[] } = {},
  ) {
    const where = options.source === undefined ? "configuration" : `configuration ${options.source}`;
    const count = problems.length === 1 ? "1 problem" : `${problems.length} problems`;
    super(
      "GWSYNC_CONFIG_INVALID",
      `${where} is invalid (${count}): ${problems.map((p) => p.message).join("; ")}`,
      // Problem messages never carry secret values (see fieldGot), so they may travel in details.
      { details: { problems } },
    );
    this.name = "ConfigError";
    this.problems = problems;
    this.warnings = options.warnings ?? [];
    this.debug = options.debug ?? [];
    this.source = options.source;
  }
}

export function isConfigError(err: unknown): err is ConfigError {
  return err instanceof ConfigError;
}
