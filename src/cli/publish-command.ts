import { readFile } from "node:fs/promises";
import type { Command } from "commander";
import { GwsyncError } from "../errors.js";
import { Publisher } from "../publisher/publisher.js";
import { collect, loadConfigOrExit } from "./common.js";
import { startupProgress } from "./progress.js";

/** How long a one-shot command waits for the broker before leaving events in the outbox. */
const FLUSH_CONNECT_TIMEOUT_MS = 5000;

async function announce(p: Publisher): Promise<string> {
  const timeout = new Promise<"timeout">((r) => setTimeout(() => r("timeout"), FLUSH_CONNECT_TIMEOUT_MS).unref());
  const connected = await Promise.race([p.connect().then(() => "ok" as const), timeout]).catch(() => "failed" as const);
  if (connected !== "ok") {
    return `broker unreachable: ${await p.store.outboxDepth()} event(s) wait in the outbox; a running 'gwsync publisher' sends them`;
  }
  const sent = await p.flush();
  return `${sent} event(s) announced`;
}

export function registerPublish(program: Command): void {
  program
    .command("publish")
    .description("publish synapse API XML file(s) or GatewayAPIDTO JSON file(s) to gateway labels")
    .argument("<files...>", "synapse API XML or GatewayAPIDTO JSON files")
    .requiredOption("-l, --label <label>", "gateway label (repeat for several)", collect)
    .option("-c, --config <file>", "configuration file")
    .option("--tenant-domain <domain>", "tenant domain", "carbon.super")
    .action(async (files: string[], opts: { label: string[]; config?: string; tenantDomain: string }) => {
      const { config, log } = loadConfigOrExit(opts.config, "publisher");
      const p = new Publisher({ config, logger: log });
      const bar = startupProgress("publishing", process.stderr);
      let failed = 0;
      try {
        for (const [i, file] of files.entries()) {
          try {
            const text = await readFile(file, "utf8");
            const r = await p.deployApi(text, opts.label, { tenantDomain: opts.tenantDomain });
            if (files.length < 50) {
              process.stdout.write(
                `${file}: ${r.name}:${r.version} apiId=${r.apiId} revision=${r.revision} seq=${r.seq}${r.changed ? "" : " (unchanged)"}\n`,
              );
            }
          } catch (err) {
            failed++;
            const code = err instanceof GwsyncError ? `${err.code}: ` : "";
            process.stderr.write(`${file}: ${code}${(err as Error).message}\n`);
          }
          bar.update(i + 1, files.length);
        }
        bar.done();
        if (failed < files.length) process.stdout.write(`${await announce(p)}\n`);
      } finally {
        await p.close();
      }
      if (failed > 0) throw new GwsyncError("GWSYNC_ARTIFACT_INVALID", `${failed} of ${files.length} file(s) rejected`);
    });
}

export function registerRemove(program: Command): void {
  program
    .command("remove")
    .description("undeploy an API (by id, or name:version) from gateway labels")
    .argument("<api>", "API id (UUID) or name:version")
    .requiredOption("-l, --label <label>", "gateway label (repeat for several)", collect)
    .option("-c, --config <file>", "configuration file")
    .action(async (api: string, opts: { label: string[]; config?: string }) => {
      const { config, log } = loadConfigOrExit(opts.config, "publisher");
      const p = new Publisher({ config, logger: log });
      try {
        const r = await p.removeApi(api, opts.label);
        process.stdout.write(
          `removed ${r.name}:${r.version} apiId=${r.apiId} from ${r.labels.join(", ")} revision=${r.revision}\n`,
        );
        process.stdout.write(`${await announce(p)}\n`);
      } finally {
        await p.close();
      }
    });
}
