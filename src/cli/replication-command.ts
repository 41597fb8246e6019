import { readFileSync, writeFileSync } from "node:fs";
import { extname } from "node:path";
import type { Command } from "commander";
import { parse as parseToml } from "smol-toml";
import { GwsyncError } from "../errors.js";
import { Publisher } from "../publisher/publisher.js";
import { exportBundle } from "../replication/bundle.js";
import { parseOamRules } from "../replication/oam-rules.js";
import { ReplicationService } from "../replication/service.js";
import { openStore } from "../store/open-store.js";
import { cliLogger, collect, ExitError } from "./common.js";
import { EXIT_USAGE } from "./exit-codes.js";
import { addTargetOptions, resolveTarget, type Target, type TargetOptions } from "./target.js";

/**
 * `gwsync replication ...`: replication agreements over the publisher's REST API, and export/import
 * of bundles when no link joins the data centers (docs/replication.md).
 */

const AGREEMENTS = "/api/v1/replication/agreements";
/** The master's password for `agreements create/update`: from the environment or a file, never argv. */
export const MASTER_PASSWORD_ENV = "GWSYNC_MASTER_PASSWORD";

interface AgreementOptions extends TargetOptions {
  type?: string;
  masterUrl?: string;
  masterUser?: string;
  masterPasswordFile?: string;
  label?: string[];
  pollInterval?: string;
  rules?: string;
  disabled?: boolean;
}

function out(opts: { json?: boolean }, value: unknown, text: string): void {
  process.stdout.write(opts.json ? `${JSON.stringify(value, null, 2)}\n` : text);
}

function rest(command: string, opts: TargetOptions): Extract<Target, { kind: "rest" }> {
  if (opts.local) {
    throw new ExitError(
      EXIT_USAGE,
      `gwsync ${command}: agreements live in the running publisher: drop --local`,
    );
  }
  const t = resolveTarget(command, opts, cliLogger(opts));
  if (t.kind !== "rest") throw new ExitError(EXIT_USAGE, `gwsync ${command} calls the publisher's REST API`);
  return t;
}

/** Rules from a file: gwsync's JSON or TOML form, or OAM's `<mdc-transform-rule>` XML. */
export function readRulesFile(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new ExitError(
      EXIT_USAGE,
      `cannot read the rules file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    );
  }
  const ext = extname(file).toLowerCase();
  try {
    if (ext === ".xml" || text.trimStart().startsWith("<")) return parseOamRules(text);
    if (ext === ".toml") return parseToml(text);
    return JSON.parse(text);
  } catch (err) {
    if (err instanceof GwsyncError) throw err;
    throw new ExitError(EXIT_USAGE, `rules file ${file}: ${(err as Error).message}`);
  }
}

function masterPassword(opts: AgreementOptions): string | undefined {
  if (opts.masterPasswordFile !== undefined) {
    try {
      return readFileSync(opts.masterPasswordFile, "utf8").replace(/\r?\n$/, "");
    } catch (err) {
      throw new ExitError(
        EXIT_USAGE,
        `cannot read --master-password-file ${opts.masterPasswordFile}: ${(err as NodeJS.ErrnoException).code ?? "error"}`,
      );
    }
  }
  return process.env[MASTER_PASSWORD_ENV] || undefined;
}

function typeQuery(opts: AgreementOptions): string {
  if (opts.type === undefined) return "";
  const t = opts.type.toLowerCase();
  if (t !== "consumer" && t !== "supplier") throw new ExitError(EXIT_USAGE, "--type is consumer or supplier");
  return `?type=${t}`;
}

function pollInterval(opts: AgreementOptions): number | undefined {
  if (opts.pollInterval === undefined) return undefined;
  const n = Number(opts.pollInterval);
  if (!Number.isFinite(n) || n <= 0)
    throw new ExitError(EXIT_USAGE, "--poll-interval is a number of seconds");
  return n;
}

interface View {
  identifier: string;
  replicaType: string;
  state: string;
  reason?: string;
  enabled: boolean;
  labels: string[];
  pollInterval: number;
  startingSequenceNumber: number;
  lastSequenceNumber: number;
  lag?: { sequence: number; seconds: number };
  master?: { url: string; region: string };
  clone?: { region: string };
  puller?: { nodeId: string; since: string; thisNode?: boolean };
}

function line(v: View): string {
  const peer = v.master ? `master ${v.master.region} ${v.master.url}` : `clone ${v.clone?.region ?? "?"}`;
  const lag = v.lag ? ` lag ${v.lag.sequence} seq / ${v.lag.seconds.toFixed(1)} s` : "";
  const reason = v.reason ? ` (${v.reason})` : "";
  const puller = v.puller
    ? `  pulled by ${v.puller.nodeId}${v.puller.thisNode ? " (this node)" : ""} since ${v.puller.since}`
    : "";
  return `${v.identifier}  ${v.replicaType}  ${v.state}${reason}  ${peer}  labels ${v.labels.map((l) => `"${l}"`).join(",")}  seq ${v.lastSequenceNumber}${lag}  every ${v.pollInterval}s${puller}\n`;
}

export function registerReplication(program: Command): void {
  const replication = program
    .command("replication")
    .description(
      "replication agreements between data centers (pull mode, OAM's master/clone), export and import",
    );
  const agreements = replication.command("agreements").description("the publisher's replication agreements");

  addTargetOptions(
    agreements.command("list").description("every agreement, both sides, with state and lag"),
  ).action(async (_o: AgreementOptions, cmd: Command) => {
    const opts = cmd.optsWithGlobals<AgreementOptions>();
    const r = (await rest("replication agreements list", opts).client.request("GET", AGREEMENTS)) as {
      list: View[];
    };
    out(opts, r, r.list.length === 0 ? "no replication agreements\n" : r.list.map(line).join(""));
  });

  addTargetOptions(
    agreements
      .command("show")
      .description("one agreement")
      .argument("<id>")
      .option("--type <type>", "consumer (the clone's record) or supplier (the master's)"),
  ).action(async (id: string, _o: AgreementOptions, cmd: Command) => {
    const opts = cmd.optsWithGlobals<AgreementOptions>();
    const r = await rest("replication agreements show", opts).client.request(
      "GET",
      `${AGREEMENTS}/${encodeURIComponent(id)}${typeQuery(opts)}`,
    );
    out(opts, r, `${JSON.stringify(r, null, 2)}\n`);
  });

  addTargetOptions(
    agreements
      .command("create")
      .description("on the clone: create an agreement with a master (it bootstraps, then follows the master)")
      .requiredOption("--master-url <url>", "the master publisher's REST API")
      .requiredOption("--master-user <name>", "the master's HTTP user")
      .option(
        "--master-password-file <file>",
        `the master's HTTP password (default: $${MASTER_PASSWORD_ENV})`,
      )
      .option("-l, --label <label>", "a label to replicate (repeatable)", collect, [])
      .option("--poll-interval <seconds>", "how often the clone polls the master (default 60)")
      .option("--rules <file>", "transformation rules: JSON, TOML, or OAM's <mdc-transform-rule> XML")
      .option("--disabled", "create it disabled"),
  ).action(async (_o: AgreementOptions, cmd: Command) => {
    const opts = cmd.optsWithGlobals<AgreementOptions>();
    const password = masterPassword(opts);
    if (password === undefined) {
      throw new ExitError(
        EXIT_USAGE,
        `the master's password: give --master-password-file FILE or set ${MASTER_PASSWORD_ENV}`,
      );
    }
    if ((opts.label ?? []).length === 0) throw new ExitError(EXIT_USAGE, "give at least one --label");
    const poll = pollInterval(opts);
    const body = {
      master: { url: opts.masterUrl, username: opts.masterUser, password },
      labels: opts.label,
      ...(poll === undefined ? {} : { pollInterval: poll }),
      ...(opts.disabled ? { enabled: false } : {}),
      ...(opts.rules === undefined ? {} : { rules: readRulesFile(opts.rules) }),
    };
    const r = (await rest("replication agreements create", opts).client.request(
      "POST",
      AGREEMENTS,
      body,
    )) as View;
    out(
      opts,
      r,
      `created agreement ${r.identifier} (${r.state}) from sequence ${r.startingSequenceNumber}\n`,
    );
  });

  addTargetOptions(
    agreements
      .command("update")
      .description("change an agreement: poll interval, rules, the master's address or credentials")
      .argument("<id>")
      .option("--type <type>", "consumer or supplier")
      .option("--poll-interval <seconds>", "how often the clone polls")
      .option("--rules <file>", "new transformation rules (replace the old ones)")
      .option("--master-url <url>", "the master's new address")
      .option("--master-user <name>", "the master's HTTP user")
      .option("--master-password-file <file>", `the master's new password (or $${MASTER_PASSWORD_ENV})`),
  ).action(async (id: string, _o: AgreementOptions, cmd: Command) => {
    const opts = cmd.optsWithGlobals<AgreementOptions>();
    const poll = pollInterval(opts);
    const password =
      opts.masterPasswordFile !== undefined || opts.masterUser !== undefined
        ? masterPassword(opts)
        : undefined;
    const master = {
      ...(opts.masterUrl === undefined ? {} : { url: opts.masterUrl }),
      ...(opts.masterUser === undefined ? {} : { username: opts.masterUser }),
      ...(password === undefined ? {} : { password }),
    };
    const body = {
      ...(poll === undefined ? {} : { pollInterval: poll }),
      ...(opts.rules === undefined ? {} : { rules: readRulesFile(opts.rules) }),
      ...(Object.keys(master).length === 0 ? {} : { master }),
    };
    if (Object.keys(body).length === 0) throw new ExitError(EXIT_USAGE, "nothing to change: give an option");
    const r = (await rest("replication agreements update", opts).client.request(
      "PUT",
      `${AGREEMENTS}/${encodeURIComponent(id)}${typeQuery(opts)}`,
      body,
    )) as View;
    out(opts, r, line(r));
  });

  for (const [name, enabled] of [
    ["enable", true],
    ["disable", false],
  ] as const) {
    addTargetOptions(
      agreements
        .command(name)
        .description(enabled ? "resume pulling" : "stop pulling (the master's side follows)")
        .argument("<id>")
        .option("--type <type>", "consumer or supplier"),
    ).action(async (id: string, _o: AgreementOptions, cmd: Command) => {
      const opts = cmd.optsWithGlobals<AgreementOptions>();
      const r = (await rest(`replication agreements ${name}`, opts).client.request(
        "PUT",
        `${AGREEMENTS}/${encodeURIComponent(id)}${typeQuery(opts)}`,
        { enabled },
      )) as View;
      out(opts, r, line(r));
    });
  }

  addTargetOptions(
    agreements
      .command("delete")
      .description("delete an agreement (on the clone: the master's record too)")
      .argument("<id>")
      .option("--type <type>", "consumer or supplier"),
  ).action(async (id: string, _o: AgreementOptions, cmd: Command) => {
    const opts = cmd.optsWithGlobals<AgreementOptions>();
    const r = (await rest("replication agreements delete", opts).client.request(
      "DELETE",
      `${AGREEMENTS}/${encodeURIComponent(id)}${typeQuery(opts)}`,
    )) as { master?: string };
    out(opts, r, `deleted agreement ${id}${r.master ? ` (master: ${r.master})` : ""}\n`);
  });

  addTargetOptions(
    agreements.command("pull").description("on the clone: pull from the master now").argument("<id>"),
  ).action(async (id: string, _o: AgreementOptions, cmd: Command) => {
    const opts = cmd.optsWithGlobals<AgreementOptions>();
    const r = (await rest("replication agreements pull", opts).client.request(
      "POST",
      `${AGREEMENTS}/${encodeURIComponent(id)}/pull`,
    )) as {
      applied: number;
      skipped: number;
      refused: number;
      bootstrapped: number;
      lastSequenceNumber: number;
      state: string;
      reason?: string;
    };
    out(
      opts,
      r,
      `${r.state}${r.reason ? ` (${r.reason})` : ""}: applied ${r.applied}, bootstrapped ${r.bootstrapped}, skipped ${r.skipped}, refused ${r.refused}; at sequence ${r.lastSequenceNumber}\n`,
    );
  });

  addTargetOptions(
    replication
      .command("export")
      .description("on the master: write its state (or its changes since a sequence) to a bundle file")
      .option("-l, --label <label>", "a label to export (repeatable)", collect, [])
      .option("--since <seq>", "only the changes after this sequence (default: the full state)")
      .requiredOption("-o, --output <file>", "the bundle file to write"),
  ).action(async (opts: TargetOptions & { label: string[]; since?: string; output: string }) => {
    if (opts.label.length === 0) throw new ExitError(EXIT_USAGE, "give at least one --label");
    const since = opts.since === undefined ? undefined : Number(opts.since);
    if (since !== undefined && (!Number.isSafeInteger(since) || since < 0)) {
      throw new ExitError(EXIT_USAGE, "--since is a sequence number (0 or more)");
    }
    const target = resolveTarget("replication export", opts, cliLogger(opts));
    let bundle: {
      manifest: { sequence: number; entries: unknown[]; masterRegion: string };
      digest: string;
      signature?: string;
    };
    if (target.kind === "rest") {
      const q = new URLSearchParams();
      for (const l of opts.label) q.append("label", l);
      if (since !== undefined) q.set("since", String(since));
      bundle = (await target.client.request("GET", `/api/v1/replication/export?${q}`)) as typeof bundle;
    } else {
      const { database, gwsync } = target.config;
      const store = openStore(database, { readonly: true, region: gwsync.region });
      try {
        bundle = await exportBundle(store, {
          region: gwsync.region,
          labels: opts.label,
          ...(since === undefined ? {} : { since }),
          ...(gwsync.signing.privateKeyPem === undefined
            ? {}
            : { privateKeyPem: gwsync.signing.privateKeyPem }),
        });
      } finally {
        await store.close();
      }
    }
    writeFileSync(opts.output, `${JSON.stringify(bundle)}\n`, { mode: 0o600 });
    const summary = {
      file: opts.output,
      masterRegion: bundle.manifest.masterRegion,
      sequence: bundle.manifest.sequence,
      entries: bundle.manifest.entries.length,
      digest: bundle.digest,
      signed: bundle.signature !== undefined,
    };
    out(
      opts,
      summary,
      `wrote ${summary.entries} entries of region ${summary.masterRegion} up to sequence ${summary.sequence} to ${summary.file} (sha256 ${summary.digest}${summary.signed ? ", signed" : ""})\n`,
    );
  });

  addTargetOptions(
    replication
      .command("import")
      .description(
        "on the clone: verify a bundle and apply it (idempotent); with --agreement, pull on from its sequence",
      )
      .argument("<file>", "the bundle file")
      .option("--agreement <id>", "the clone agreement whose rules apply and whose sequence moves on"),
  ).action(async (file: string, _o: TargetOptions, cmd: Command) => {
    const opts = cmd.optsWithGlobals<TargetOptions & { agreement?: string }>();
    let bundle: unknown;
    try {
      bundle = JSON.parse(readFileSync(file, "utf8"));
    } catch (err) {
      throw new ExitError(EXIT_USAGE, `cannot read the bundle ${file}: ${(err as Error).message}`);
    }
    const target = resolveTarget("replication import", opts, cliLogger(opts));
    let report: {
      applied: number;
      unchanged: number;
      skipped: number;
      removedNotOnMaster: number;
      refused: unknown[];
      sequence: number;
      agreement?: { lastSequenceNumber: number; advanced: boolean; why?: string };
    };
    if (target.kind === "rest") {
      const q = opts.agreement === undefined ? "" : `?agreement=${encodeURIComponent(opts.agreement)}`;
      report = (await target.client.request(
        "POST",
        `/api/v1/replication/import${q}`,
        bundle,
      )) as typeof report;
    } else {
      // The publisher must not run meanwhile: it keeps the agreements in memory.
      const publisher = new Publisher({ config: target.config, logger: cliLogger(opts) });
      const svc = new ReplicationService({ publisher });
      try {
        await svc.load();
        report = await svc.importBundle(
          bundle,
          opts.agreement === undefined ? {} : { agreement: opts.agreement },
        );
      } finally {
        await svc.close();
        await publisher.close();
      }
    }
    const a = report.agreement;
    out(
      opts,
      report,
      `imported up to sequence ${report.sequence}: applied ${report.applied}, unchanged ${report.unchanged}, skipped ${report.skipped}, removed ${report.removedNotOnMaster}, refused ${report.refused.length}` +
        (a
          ? a.advanced
            ? `; the agreement pulls on from ${a.lastSequenceNumber}`
            : `; the agreement stays at ${a.lastSequenceNumber}: ${a.why}`
          : "") +
        "\n",
    );
    if (report.refused.length > 0) process.exitCode = 3;
  });
}
