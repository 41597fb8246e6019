import { EventEmitter } from "node:events";
import { readFile } from "node:fs/promises";
import type { Command } from "commander";
import { GwsyncError, isGwsyncError } from "../errors.js";
import type { Logger } from "../log.js";
import { Publisher } from "../publisher/publisher.js";
import type { DeployResult } from "../publisher/publisher.js";
import { parseWait, type WaitResult, waitForRollout } from "../publisher/rollout-wait.js";
import { cliLogger, collect, ExitError } from "./common.js";
import { EXIT_REJECTED, EXIT_RUNTIME, exitCodeOf } from "./exit-codes.js";
import { rolloutLine } from "./status-render.js";
import { progress } from "./progress.js";
import { addTargetOptions, resolveTarget, type Target, type TargetOptions } from "./target.js";

/** How long a --local command waits for the broker before leaving its events in the outbox. */
const FLUSH_CONNECT_TIMEOUT_MS = 5000;
/** One line per file up to this many files; above, the summary (and the progress bar on a terminal). */
const LIST_FILES_UP_TO = 50;

interface WaitOptions {
  wait?: boolean;
  timeout?: string;
}

interface PublishOptions extends TargetOptions, WaitOptions {
  label: string[];
  tenantDomain?: string;
}

/** --wait, or --timeout alone: how long to wait for the rollout; undefined: do not wait. */
function waitMsOf(opts: WaitOptions): number | undefined {
  if (opts.wait !== true && opts.timeout === undefined) return undefined;
  return parseWait(opts.timeout ?? "30s", "--timeout");
}

function addWaitOptions(cmd: Command, what: string): Command {
  return cmd
    .option(
      "--wait",
      `return only when every live gateway of the labels ${what}; else say which did not and why (exit 1)`,
    )
    .option("--timeout <duration>", "how long --wait waits (30s, 500ms, 2m; default 30s)");
}

/** One API's wait, as text: live everywhere, or the gateways that are not there and why. */
function waitLines(what: string, w: WaitResult): string[] {
  const secs = `${(w.waitedMs / 1000).toFixed(1)}s`;
  if (w.complete) {
    return [
      w.gateways === 0
        ? `${what}: no live gateway serves these labels (nothing to wait for)`
        : `${what}: live on ${w.gateways} gateway(s) after ${secs}`,
    ];
  }
  const why = w.refused ? "refused" : w.timedOut ? `not there after ${secs}` : `not there (${secs})`;
  return [
    `${what}: NOT live on ${w.notDone.length} of ${w.gateways} gateway(s): ${why}`,
    ...w.notDone.map((g) => rolloutLine(g)),
  ];
}

/** Where the events of a --local command went: confirmed by the broker, or left in the outbox. */
export interface Announced {
  announced: number;
  /** Events still in the outbox (broker unreachable): a running publisher sends them. */
  pending: number;
}

type FileResult =
  | ({ file: string; ok: true } & DeployResult)
  | { file: string; ok: false; code: string; message: string };

/** Send what --local committed: connect (bounded), flush the outbox, report. */
export async function announce(p: Publisher, log: Logger): Promise<Announced> {
  const timeout = new Promise<"timeout">((r) =>
    setTimeout(() => r("timeout"), FLUSH_CONNECT_TIMEOUT_MS).unref(),
  );
  const connected = await Promise.race([p.connect().then(() => "ok" as const), timeout]).catch(
    (err: unknown) => {
      log.warn({ err: (err as Error).message }, "broker unreachable");
      return "failed" as const;
    },
  );
  if (connected !== "ok") return { announced: 0, pending: await p.store.outboxDepth() };
  const announced = await p.flush();
  return { announced, pending: await p.store.outboxDepth() };
}

export function announcedLine(a: Announced): string {
  return a.pending > 0
    ? `broker unreachable: ${a.pending} event(s) wait in the outbox; a running 'gwsync publisher' sends them`
    : `${a.announced} event(s) announced`;
}

/** An error that ends the whole command (publisher unreachable, credentials refused), not just one file. */
function endsTheRun(err: unknown): boolean {
  return !isGwsyncError(err) || exitCodeOf(err) !== EXIT_REJECTED;
}

/** With --local, one Publisher on the store for the whole command; closed (and its events announced) at the end. */
function publishVia(target: Target, log: Logger) {
  if (target.kind === "rest") {
    return {
      deploy: (text: string, labels: string[], tenantDomain?: string) =>
        target.client.publish(text, labels, tenantDomain),
      remove: (ref: string, labels: string[], tenantDomain?: string) =>
        target.client.remove(ref, labels, tenantDomain),
      finish: async (): Promise<Announced | undefined> => undefined,
      waitFor: async (apiId: string, labels: string[], waitMs: number): Promise<WaitResult> =>
        (await target.client.waitRollout(apiId, labels, waitMs)).wait,
      close: async () => undefined,
    };
  }
  const p = new Publisher({ config: target.config, logger: log });
  const option = (tenantDomain?: string) => (tenantDomain ? { tenantDomain } : {});
  return {
    deploy: async (text: string, labels: string[], tenantDomain?: string) =>
      p.deployApi(text, labels, option(tenantDomain)),
    remove: async (ref: string, labels: string[], tenantDomain?: string) =>
      p.removeApi(ref, labels, option(tenantDomain)),
    finish: (): Promise<Announced | undefined> => announce(p, log),
    // The running publisher records the gateways' reports in this store: look every second.
    waitFor: (apiId: string, labels: string[], waitMs: number): Promise<WaitResult> =>
      waitForRollout({ store: p.store, events: new EventEmitter(), apiId, labels, timeoutMs: waitMs }),
    close: () => p.close(),
  };
}

export function registerPublish(program: Command): void {
  addWaitOptions(
    addTargetOptions(
      program
        .command("publish")
        .description("publish synapse API XML file(s) or GatewayAPIDTO JSON file(s) to gateway labels")
        .argument("<files...>", "synapse API XML or GatewayAPIDTO JSON files")
        .requiredOption("-l, --label <label>", "gateway label (repeat for several)", collect)
        .option(
          "--tenant-domain <domain>",
          "tenant of the API (default: the one its provider names, e.g. abc.com for admin-AT-abc.com; else carbon.super)",
        ),
    ),
    "serves the new revision",
  ).action(async (files: string[], opts: PublishOptions) => {
    const log = cliLogger(opts);
    const waitMs = waitMsOf(opts);
    const via = publishVia(resolveTarget("publish", opts, log), log);
    const bar = progress("publishing", { log });
    const results: FileResult[] = [];
    const waits = new Map<string, WaitResult>();
    let announced: Announced | undefined;
    try {
      for (const [i, file] of files.entries()) {
        try {
          const text = await readFile(file, "utf8");
          const r = await via.deploy(text, opts.label, opts.tenantDomain);
          results.push({ file, ok: true, ...r });
          if (!opts.json && files.length <= LIST_FILES_UP_TO) {
            process.stdout.write(
              `${file}: ${r.name}:${r.version} apiId=${r.apiId} revision=${r.revision} seq=${r.seq}${r.commit === undefined ? "" : ` commit=${r.commit.slice(0, 12)}`}${r.changed ? "" : " (unchanged)"}\n`,
            );
          }
        } catch (err) {
          // An unreadable file fails alone; an unreachable publisher or refused credentials fail them all.
          const unreadable = !isGwsyncError(err) && typeof (err as NodeJS.ErrnoException).code === "string";
          if (!unreadable && endsTheRun(err)) throw err;
          const code = isGwsyncError(err) ? err.code : String((err as NodeJS.ErrnoException).code);
          results.push({ file, ok: false, code, message: (err as Error).message });
          process.stderr.write(`${file}: ${code}: ${(err as Error).message}\n`);
        }
        bar.update(i + 1, files.length);
      }
      bar.done();
      if (results.some((r) => r.ok)) announced = await via.finish();
      if (waitMs !== undefined) {
        // One deadline for the whole command, however many APIs it published.
        const deadline = Date.now() + waitMs;
        for (const r of results) {
          if (!r.ok || waits.has(r.apiId)) continue;
          waits.set(r.apiId, await via.waitFor(r.apiId, opts.label, Math.max(0, deadline - Date.now())));
        }
      }
    } finally {
      await via.close();
    }
    const ok = results.filter((r) => r.ok);
    const rejected = results.length - ok.length;
    const notLive = [...waits.values()].filter((w) => !w.complete).length;
    if (opts.json) {
      const withWait = results.map((r) => (r.ok && waits.has(r.apiId) ? { ...r, rollout: waits.get(r.apiId) } : r));
      process.stdout.write(`${JSON.stringify({ results: withWait, ...(announced ?? {}) }, null, 2)}\n`);
    } else {
      const unchanged = ok.filter((r) => !r.changed).length;
      process.stdout.write(
        `${ok.length - unchanged} published, ${unchanged} unchanged, ${rejected} rejected\n`,
      );
      if (announced) process.stdout.write(`${announcedLine(announced)}\n`);
      for (const r of ok) {
        const w = waits.get(r.apiId);
        if (w !== undefined && (!w.complete || ok.length <= LIST_FILES_UP_TO))
          process.stdout.write(`${waitLines(`${r.name}:${r.version} revision=${r.revision}`, w).join("\n")}\n`);
      }
    }
    if (rejected > 0) {
      throw new GwsyncError("GWSYNC_ARTIFACT_INVALID", `${rejected} of ${files.length} file(s) rejected`);
    }
    if (notLive > 0) {
      throw new ExitError(EXIT_RUNTIME, `${notLive} API(s) not live on every gateway of ${opts.label.join(", ")}`);
    }
  });
}

interface RemoveOptions extends TargetOptions, WaitOptions {
  label: string[];
  tenantDomain?: string;
}

export function registerRemove(program: Command): void {
  addWaitOptions(
    addTargetOptions(
      program
        .command("remove")
        .description("undeploy an API (by id, or name:version) from gateway labels")
        .argument("<api>", "API id (UUID) or name:version")
        .requiredOption("-l, --label <label>", "gateway label (repeat for several)", collect)
        .option("--tenant-domain <domain>", "tenant of a name:version (default carbon.super)"),
    ),
    "serves it no more",
  ).action(async (api: string, opts: RemoveOptions) => {
    const log = cliLogger(opts);
    const waitMs = waitMsOf(opts);
    const via = publishVia(resolveTarget("remove", opts, log), log);
    let r: DeployResult;
    let announced: Announced | undefined;
    let wait: WaitResult | undefined;
    try {
      r = await via.remove(api, opts.label, opts.tenantDomain);
      if (r.changed) announced = await via.finish();
      if (waitMs !== undefined) wait = await via.waitFor(r.apiId, opts.label, waitMs);
    } finally {
      await via.close();
    }
    const notLive = () => {
      if (wait !== undefined && !wait.complete)
        throw new ExitError(EXIT_RUNTIME, `${r.name}:${r.version} is still served on ${wait.notDone.length} gateway(s)`);
    };
    if (opts.json) {
      process.stdout.write(
        `${JSON.stringify({ ...r, alreadyRemoved: !r.changed, ...(announced ?? {}), ...(wait ? { rollout: wait } : {}) }, null, 2)}\n`,
      );
      notLive();
      return;
    }
    const what = `${r.name}:${r.version} apiId=${r.apiId}`;
    process.stdout.write(
      r.changed
        ? `removed ${what} from ${r.labels.join(", ")} revision=${r.revision}\n`
        : `${what} was already removed from ${r.labels.join(", ")} (revision=${r.revision}): nothing to do\n`,
    );
    if (announced) process.stdout.write(`${announcedLine(announced)}\n`);
    if (wait !== undefined) {
      const lines = waitLines(`${r.name}:${r.version} removal`, wait);
      process.stdout.write(`${lines.join("\n").replace(": live on", ": gone from")}\n`);
    }
    notLive();
  });
}
