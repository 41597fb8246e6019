import type { Command } from "commander";
import type { GwsyncConfig } from "../config/types.js";
import { networkEngineOf } from "../store/connection.js";
import { migrateStore, sqlitePathOf } from "../store/migrate-store.js";
import { addJsonOption, cliLogger, EXIT_USAGE, ExitError, loadConfigOrExit } from "./common.js";

interface MigrateOptions {
  from: string;
  to?: string;
  toConfig?: string;
  json?: boolean;
}

/** The destination: a URL (postgres://, jdbc:postgresql://, mysql://, jdbc:mysql://) or a config file's database. */
function destination(opts: MigrateOptions): GwsyncConfig["database"] {
  if ((opts.to === undefined) === (opts.toConfig === undefined)) {
    throw new ExitError(
      EXIT_USAGE,
      "gwsync store migrate: give exactly one of --to URL and --to-config FILE",
    );
  }
  if (opts.toConfig !== undefined) {
    const { config } = loadConfigOrExit({ file: opts.toConfig }, cliLogger(opts));
    if (networkEngineOf(config.database.type) === undefined) {
      throw new ExitError(
        EXIT_USAGE,
        `gwsync store migrate: ${opts.toConfig} stores in ${config.database.type}; the destination must be PostgreSQL or MySQL/MariaDB`,
      );
    }
    return config.database;
  }
  const url = opts.to ?? "";
  const scheme = /^(?:jdbc:)?([a-z]+):/i.exec(url)?.[1]?.toLowerCase() ?? "";
  if (networkEngineOf(scheme) === undefined) {
    throw new ExitError(
      EXIT_USAGE,
      `gwsync store migrate: --to must be a postgres://, jdbc:postgresql://, mysql:// or jdbc:mysql:// URL, got ${JSON.stringify(url.replace(/\/\/[^@/]*@/, "//***@"))}`,
    );
  }
  // The password may come from the environment instead of the command line (visible in `ps`).
  const password = process.env.GWSYNC_DATABASE_PASSWORD;
  return { type: scheme, url, ...(password ? { password } : {}) };
}

export function registerStore(program: Command): void {
  const store = program.command("store").description("store tools");
  addJsonOption(
    store
      .command("migrate")
      .description(
        "copy a region's SQLite store into an empty PostgreSQL or MySQL/MariaDB database, keeping its sequence numbers (stop the publisher first)",
      )
      .requiredOption("--from <sqlite>", "the source store: sqlite:<path>")
      .option("--to <url>", "the destination database URL (password: in the URL or GWSYNC_DATABASE_PASSWORD)")
      .option(
        "--to-config <file>",
        "the destination: the [database.sync_runtime_artifacts_db] of this configuration",
      ),
  ).action(async (opts: MigrateOptions) => {
    const from = sqlitePathOf(opts.from);
    if (from === undefined) {
      throw new ExitError(
        EXIT_USAGE,
        `gwsync store migrate: --from must be sqlite:<path>, got ${JSON.stringify(opts.from)}`,
      );
    }
    const report = await migrateStore(from, destination(opts));
    if (opts.json) {
      process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
      return;
    }
    const lines = [
      `copied ${report.from} to ${report.to}; the changelog continues after seq ${report.lastSeq}`,
    ];
    for (const [table, n] of Object.entries(report.rows)) lines.push(`  ${table.padEnd(28)} ${n}`);
    process.stdout.write(`${lines.join("\n")}\n`);
  });
}
