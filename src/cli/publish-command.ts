import { readFile } from "node:fs/promises";
import type { Command } from "commander";
import { GwsyncError, isGwsyncError } from "../errors.js";
import type { Logger } from "../log.js";
import { Publisher } from "../publisher/publisher.js";
import type { DeployResult } from "../publisher/publisher.js";
import { cliLogger, collect } from "./common.js";
import { EXIT_REJECTED, exitCodeOf } from "./exit-codes.js";
import { progress } from "./progress.js";
import { addTargetOptions, resolveTarget, type Target, type TargetOptions } from "./target.js";

/** How long a --local command waits for the broker before leaving its events in the outbox. */
const FLUSH_CONNECT_TIMEOUT_MS = 5000;
/** One line per file up to this many files; above, the summary (and the progress bar on a terminal). */
const LIST_FILES_UP_TO = 50;

interface PublishOptions extends TargetOptions {
  label: string[];
  tenantDomain?: string;
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
    close: () => p.close(),
  };
}

export function registerPublish(program: Command): void {
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
  ).action(async (files: string[], opts: PublishOptions) => {
    const log = cliLogger(opts);
    const via = publishVia(resolveTarget("publish", opts, log), log);
    const bar = progress("publishing", { log });
    const results: FileResult[] = [];
    let announced: Announced | undefined;
    try {
      for (const [i, file] of files.entries()) {
        try {
          const text = await readFile(file, "utf8");
          const r = await via.deploy(text, opts.label, opts.tenantDomain);
          results.push({ file, ok: true, ...r });
          if (!opts.json && files.length <= LIST_FILES_UP_TO) {
            process.stdout.write(
              `${file}: ${r.name}:${r.version} apiId=${r.apiId} revision=${r.revision} seq=${r.seq}${r.changed ? "" : " (unchanged)"}\n`,
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
    } finally {
      await via.close();
    }
    const ok = results.filter((r) => r.ok);
    const rejected = results.length - ok.length;
    if (opts.json) {
      process.stdout.write(`${JSON.stringify({ results, ...(announced ?? {}) }, null, 2)}\n`);
    } else {
      const unchanged = ok.filter((r) => !r.changed).length;
      process.stdout.write(
        `${ok.length - unchanged} published, ${unchanged} unchanged, ${rejected} rejected\n`,
      );
      if (announced) process.stdout.write(`${announcedLine(announced)}\n`);
    }
    if (rejected > 0) {
      throw new GwsyncError("GWSYNC_ARTIFACT_INVALID", `${rejected} of ${files.length} file(s) rejected`);
    }
  });
}

interface RemoveOptions extends TargetOptions {
  label: string[];
  tenantDomain?: string;
}

export function registerRemove(program: Command): void {
  addTargetOptions(
    program
      .command("remove")
      .description("undeploy an API (by id, or name:version) from gateway labels")
      .argument("<api>", "API id (UUID) or name:version")
      .requiredOption("-l, --label <label>", "gateway label (repeat for several)", collect)
      .option("--tenant-domain <domain>", "tenant of a name:version (default carbon.super)"),
  ).action(async (api: string, opts: RemoveOptions) => {
    const log = cliLogger(opts);
    const via = publishVia(resolveTarget("remove", opts, log), log);
    let r: DeployResult;
    let announced: Announced | undefined;
    try {
      r = await via.remove(api, opts.label, opts.tenantDomain);
      if (r.changed) announced = await via.finish();
    } finally {
      await via.close();
    }
    if (opts.json) {
      process.stdout.write(
        `${JSON.stringify({ ...r, alreadyRemoved: !r.changed, ...(announced ?? {}) }, null, 2)}\n`,
      );
      return;
    }
    const what = `${r.name}:${r.version} apiId=${r.apiId}`;
    process.stdout.write(
      r.changed
        ? `removed ${what} from ${r.labels.join(", ")} revision=${r.revision}\n`
        : `${what} was already removed from ${r.labels.join(", ")} (revision=${r.revision}): nothing to do\n`,
    );
    if (announced) process.stdout.write(`${announcedLine(announced)}\n`);
  });
}
