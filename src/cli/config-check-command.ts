import type { Command } from "commander";
import { configCheckReport, renderConfigCheck } from "../config/check.js";
import { checkDatabase, type DatabaseCheck } from "../store/check-database.js";
import { checkGitStore, type GitStoreCheck } from "../store/git/check-git-store.js";
import { sqliteFileOf } from "../store/open-store.js";
import { ConfigError, loadConfig } from "../config/load-config.js";
import type { Role } from "../config/types.js";
import { addJsonOption, addStrictOption, ExitError } from "./common.js";
import { EXIT_RUNTIME, EXIT_USAGE } from "./exit-codes.js";

const ROLES = ["publisher", "gateway", "relay"];

export function registerConfigCheck(program: Command): void {
  const config = program.command("config").description("configuration tools");
  const check = config
    .command("check")
    .description("print the effective configuration (secrets masked) and every problem; exit 0 or 2")
    .argument("<file>", "configuration file")
    .option("-r, --role <role>", "check for a role: publisher | gateway | relay")
    .option(
      "--offline",
      "do not connect to a PostgreSQL/MySQL database or a Git store's remote (checked by default)",
    );
  addStrictOption(check);
  addJsonOption(check).action(async (file: string, opts: ConfigCheckOptions) => {
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
    // The store's database answers (publisher, relay and status use it; gateways do not).
    const usesStore = role === undefined || role === "publisher" || role === "relay";
    const database =
      result instanceof ConfigError || !usesStore || opts.offline === true
        ? undefined
        : await checkDatabase(result.config.database);
    // A Git store: the repository and its branch where the check runs, and the remote unless --offline.
    const git =
      result instanceof ConfigError || !usesStore || result.config.database.git === undefined
        ? undefined
        : await checkGitStore(result.config.database.git, sqliteFileOf(result.config.database.url), {
            offline: opts.offline === true,
          });
    process.stdout.write(
      opts.json
        ? `${JSON.stringify({ ...configCheckReport(result, role), ...(database ? { database } : {}), ...(git ? { gitStore: git } : {}) }, null, 2)}\n`
        : `${renderConfigCheck(result, role)}${database ? renderDatabase(database) : ""}${git ? renderGitStore(git) : ""}\n`,
    );
    if (result instanceof ConfigError) {
      throw new ExitError(EXIT_USAGE, `gwsync: ${file}: configuration has problems (see above)`);
    }
    if (git !== undefined && !git.ok) {
      throw new ExitError(
        EXIT_RUNTIME,
        `gwsync: ${file}: the Git store at ${git.repository} cannot be used (see above)`,
      );
    }
    if (database !== undefined && !database.ok) {
      throw new ExitError(
        EXIT_RUNTIME,
        `gwsync: ${file}: the database at ${database.location} cannot be used (see above)`,
      );
    }
  });
}

interface ConfigCheckOptions {
  role?: string;
  json?: boolean;
  strict?: boolean;
  offline?: boolean;
}

function renderDatabase(d: DatabaseCheck): string {
  const lines = [
    `database: ${d.ok ? "OK" : "FAILED"} ${d.engine} ${d.location} (${d.latencyMs.toFixed(0)} ms): ${d.detail}`,
  ];
  if (d.ignoredParams.length > 0) {
    lines.push(`  URL parameters gwsync does not use: ${d.ignoredParams.join(", ")}`);
  }
  return `${lines.join("\n")}\n`;
}

function renderGitStore(g: GitStoreCheck): string {
  const lines = [
    `git store: ${g.ok && (g.remote?.ok ?? true) ? "OK" : "FAILED"} ${g.repository} branch ${g.branch}: ${g.detail}`,
  ];
  if (g.remote !== undefined)
    lines.push(`  remote ${g.remote.url}: ${g.remote.ok ? "OK" : "FAILED"}, ${g.remote.detail}`);
  return `${lines.join("\n")}\n`;
}
