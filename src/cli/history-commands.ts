import type { Command } from "commander";
import { GwsyncError } from "../errors.js";
import type { Logger } from "../log.js";
import { Publisher, type RollbackResult } from "../publisher/publisher.js";
import type { ApiHistory, RevisionDiff } from "../publisher/revisions.js";
import { openStore } from "../store/open-store.js";
import { cliLogger, collect } from "./common.js";
import { type Announced, announce, announcedLine } from "./publish-command.js";
import { addTargetOptions, resolveTarget, type Target, type TargetOptions } from "./target.js";

interface RevisionOptions extends TargetOptions {
  tenantDomain?: string;
}

/** A revision (or a count) given on the command line: a positive decimal integer, else exit 2 naming it. */
function revisionArg(what: string, text: string, kind = "a revision number"): number {
  const n = /^[1-9][0-9]{0,15}$/.test(text.trim()) ? Number(text.trim()) : Number.NaN;
  if (!Number.isSafeInteger(n)) {
    throw new GwsyncError("GWSYNC_USAGE", `${what} must be ${kind} (1, 2, ...), got ${JSON.stringify(text)}`);
  }
  return n;
}

/** Read-only work on the store of a --local target (beside a running publisher: SQLite readers never block it). */
async function withReadonlyPublisher<T>(target: Target & { kind: "local" }, log: Logger, fn: (p: Publisher) => Promise<T>): Promise<T> {
  const { database, gwsync } = target.config;
  const store = openStore(database, { readonly: true, region: gwsync.region });
  const p = new Publisher({ config: target.config, logger: log, store });
  try {
    return await fn(p);
  } finally {
    await p.close();
    await store.close();
  }
}

function renderHistory(h: ApiHistory): string {
  // A Git store names the commit of its repository that holds each revision: one more column.
  const stored = h.revisions.some((r) => r.storeCommit !== undefined);
  const rows = h.revisions.map((r) => [
    String(r.revision),
    r.instruction,
    r.labels.join(","),
    r.sha256.slice(0, 12),
    String(r.seq),
    new Date(r.createdAt).toISOString(),
    r.originRegion,
    r.commit?.slice(0, 12) ?? "-",
    ...(stored ? [r.storeCommit?.slice(0, 12) ?? "-"] : []),
    r.hasContent ? "" : "(bytes not kept)",
  ]);
  const head = [
    "REVISION",
    "ACTION",
    "LABELS",
    "SHA256",
    "SEQ",
    "WHEN",
    "ORIGIN",
    "COMMIT",
    ...(stored ? ["STORE COMMIT"] : []),
    "",
  ];
  const widths = head.map((h0, i) => Math.max(h0.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd();
  const title = `${h.name}:${h.version} apiId=${h.apiId}, ${h.revisions.length} revision(s)`;
  return `${title}\n${[line(head), ...rows.map(line)].join("\n")}\n`;
}

export function registerHistory(program: Command): void {
  addTargetOptions(
    program
      .command("history")
      .description(
        "list an API's revisions, newest first: action, labels, sha256, sequence, time, origin, commit (and a Git store's commit)",
      )
      .argument("<api>", "API id (UUID) or name:version")
      .option("--tenant-domain <domain>", "tenant of a name:version (default carbon.super)")
      .option("-n, --limit <count>", "show only the newest COUNT revisions"),
  ).action(async (api: string, opts: RevisionOptions & { limit?: string }) => {
    const log = cliLogger(opts);
    const limit = opts.limit === undefined ? undefined : revisionArg("--limit", opts.limit, "a count of revisions");
    const target = resolveTarget("history", opts, log);
    const h =
      target.kind === "rest"
        ? await target.client.history(api, opts.tenantDomain, limit)
        : await withReadonlyPublisher(target, log, (p) =>
            p.apiHistory(api, {
              ...(opts.tenantDomain ? { tenantDomain: opts.tenantDomain } : {}),
              ...(limit === undefined ? {} : { limit }),
            }),
          );
    process.stdout.write(opts.json ? `${JSON.stringify(h, null, 2)}\n` : renderHistory(h));
  });

  addTargetOptions(
    program
      .command("rollback")
      .description("republish an earlier revision's exact artifact as a new revision (to the labels it was on)")
      .argument("<api>", "API id (UUID) or name:version")
      .requiredOption("--to <revision>", "the revision whose artifact to publish again")
      .option("-l, --label <label>", "publish to this label instead (repeat for several)", collect)
      .option("--tenant-domain <domain>", "tenant of a name:version (default carbon.super)"),
  ).action(async (api: string, opts: RevisionOptions & { to: string; label?: string[] }) => {
    const log = cliLogger(opts);
    const to = revisionArg("--to", opts.to);
    const target = resolveTarget("rollback", opts, log);
    let r: RollbackResult;
    let announced: Announced | undefined;
    if (target.kind === "rest") {
      r = await target.client.rollback(api, to, opts.label, opts.tenantDomain);
    } else {
      const p = new Publisher({ config: target.config, logger: log });
      try {
        r = await p.rollbackApi(api, to, {
          ...(opts.label ? { labels: opts.label } : {}),
          ...(opts.tenantDomain ? { tenantDomain: opts.tenantDomain } : {}),
        });
        if (r.changed) announced = await announce(p, log);
      } finally {
        await p.close();
      }
    }
    if (opts.json) {
      process.stdout.write(`${JSON.stringify({ ...r, ...(announced ?? {}) }, null, 2)}\n`);
      return;
    }
    const what = `${r.name}:${r.version} apiId=${r.apiId}`;
    process.stdout.write(
      r.changed
        ? `rolled back ${what} to revision ${r.rolledBackTo}'s artifact: new revision=${r.revision} on ${r.labels.join(", ")} seq=${r.seq} sha256=${r.sha256}\n`
        : `${what}: revision ${r.rolledBackTo}'s artifact is already published on ${r.labels.join(", ")} (revision=${r.revision}): nothing to do\n`,
    );
    if (announced) process.stdout.write(`${announcedLine(announced)}\n`);
  });

  addTargetOptions(
    program
      .command("diff")
      .description("unified diff of two revisions of an API: each file a gateway writes, and the DTO's other fields")
      .argument("<api>", "API id (UUID) or name:version")
      .argument("<rev1>", "the older revision")
      .argument("<rev2>", "the newer revision")
      .option("--tenant-domain <domain>", "tenant of a name:version (default carbon.super)"),
  ).action(async (api: string, rev1: string, rev2: string, opts: RevisionOptions) => {
    const log = cliLogger(opts);
    const from = revisionArg("REV1", rev1);
    const to = revisionArg("REV2", rev2);
    const target = resolveTarget("diff", opts, log);
    const tenant = opts.tenantDomain ? { tenantDomain: opts.tenantDomain } : {};
    const d: RevisionDiff =
      target.kind === "rest"
        ? await target.client.diff(api, from, to, opts.tenantDomain)
        : await withReadonlyPublisher(target, log, (p) => p.diffApi(api, from, to, tenant));
    if (opts.json) process.stdout.write(`${JSON.stringify(d, null, 2)}\n`);
    else if (d.files.length === 0)
      process.stdout.write(`revisions ${d.from} and ${d.to} of ${d.apiId} hold the same artifact (sha256 ${d.toSha256})\n`);
    else process.stdout.write(d.patch);
  });
}
