import type { Command } from "commander";
import { renderConfigCheck } from "../config/check.js";
import { loadConfig } from "../config/load-config.js";
import type { Role } from "../config/types.js";
import { EXIT_USAGE, ExitError } from "./common.js";

const ROLES = ["publisher", "gateway", "relay"];

export function registerConfigCheck(program: Command): void {
  const config = program.command("config").description("configuration tools");
  config
    .command("check")
    .description("print the effective configuration (secrets masked) and every problem; exit 0 or 2")
    .argument("<file>", "configuration file")
    .option("-r, --role <role>", "check for a role: publisher | gateway | relay")
    .action((file: string, opts: { role?: string }) => {
      if (opts.role !== undefined && !ROLES.includes(opts.role)) {
        throw new ExitError(EXIT_USAGE, `gwsync: --role must be one of ${ROLES.join(", ")}, got "${opts.role}"`);
      }
      const role = opts.role as Role | undefined;
      try {
        const result = loadConfig({ file, ...(role ? { role } : {}), env: process.env });
        process.stdout.write(`${renderConfigCheck(result, role)}\n`);
      } catch (err) {
        process.stdout.write(`${renderConfigCheck(err as never, role)}\n`);
        throw new ExitError(EXIT_USAGE, `gwsync: ${file}: configuration has problems (see above)`);
      }
    });
}
