import type { Command } from "commander";
import { configCheckReport, renderConfigCheck } from "../config/check.js";
import { ConfigError, loadConfig } from "../config/load-config.js";
import type { Role } from "../config/types.js";
import { addJsonOption, addStrictOption, ExitError } from "./common.js";
import { EXIT_USAGE } from "./exit-codes.js";

const ROLES = ["publisher", "gateway", "relay"];

export function registerConfigCheck(program: Command): void {
  const config = program.command("config").description("configuration tools");
  const check = config
    .command("check")
    .description("print the effective configuration (secrets masked) and every problem; exit 0 or 2")
    .argument("<file>", "configuration file")
    .option("-r, --role <role>", "check for a role: publisher | gateway | relay");
  addStrictOption(check);
  addJsonOption(check).action((file: string, opts: { role?: string; json?: boolean; strict?: boolean }) => {
    if (opts.role !== undefined && !ROLES.includes(opts.role)) {
      throw new ExitError(
        EXIT_USAGE,
        `gwsync: --role must be one of ${ROLES.join(", ")}, got "${opts.role}"`,
      );
    }
    const role = opts.role as Role | undefined;
    let result: ReturnType<typeof loadConfig> | ConfigError;
    try {
      result = loadConfig({
        file,
        ...(role ? { role } : {}),
        env: process.env,
        strict: opts.strict === true,
        checkOnly: true,
      });
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      result = err;
    }
    process.stdout.write(
      opts.json
        ? `${JSON.stringify(configCheckReport(result, role), null, 2)}\n`
        : `${renderConfigCheck(result, role)}\n`,
    );
    if (result instanceof ConfigError) {
      throw new ExitError(EXIT_USAGE, `gwsync: ${file}: configuration has problems (see above)`);
    }
  });
}
