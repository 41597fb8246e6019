import type { Command } from "commander";
import { openStore } from "../store/open-store.js";
import { loadConfigOrExit } from "./common.js";

export function registerStatus(program: Command): void {
  program
    .command("status")
    .description("what the store holds (APIs per label, head sequence, outbox) and every gateway seen: applied seq, lag, liveness")
    .option("-c, --config <file>", "configuration file")
    .option("--json", "machine-readable output")
    .action(async (opts: { config?: string; json?: boolean }) => {
      const { config } = loadConfigOrExit(opts.config, "publisher");
      const store = openStore(config.database, { readonly: true, region: config.gwsync.region });
      try {
        const rows = await store.listArtifacts();
        const perLabel = new Map<string, number>();
        for (const r of rows) perLabel.set(r.label, (perLabel.get(r.label) ?? 0) + 1);
        const head = await store.headSeq();
        const now = Date.now();
        const gateways = (await store.listGateways()).map((g) => ({
          nodeId: g.nodeId,
          region: g.region,
          labels: g.labels,
          status: g.status,
          appliedSeq: g.appliedSeq,
          lag: Math.max(0, head - g.appliedSeq),
          deployed: g.deployed,
          version: g.version,
          lastHeartbeatMsAgo: now - g.lastSeen,
          // Alive: a beat within three periods (one lost beat is not a death).
          alive: now - g.lastSeen <= g.intervalMs * 3,
        }));
        const status = {
          store: store.location,
          headSeq: head,
          outboxDepth: await store.outboxDepth(),
          labels: Object.fromEntries([...perLabel].sort()),
          gateways,
        };
        if (opts.json) {
          process.stdout.write(`${JSON.stringify(status, null, 2)}\n`);
          return;
        }
        process.stdout.write(`store        ${status.store}\nhead seq     ${status.headSeq}\noutbox       ${status.outboxDepth} pending\n`);
        process.stdout.write("APIs per label:\n");
        for (const [label, n] of Object.entries(status.labels)) process.stdout.write(`  ${label.padEnd(32)} ${n}\n`);
        if (perLabel.size === 0) process.stdout.write("  (none)\n");
        process.stdout.write("gateways:\n");
        if (gateways.length === 0) process.stdout.write("  (none seen)\n");
        for (const g of gateways) {
          process.stdout.write(
            `  ${g.nodeId.padEnd(28)} ${g.alive ? "alive  " : "MISSING"} ${g.status.padEnd(8)} applied=${g.appliedSeq} lag=${g.lag} deployed=${g.deployed} last=${Math.round(g.lastHeartbeatMsAgo / 1000)}s ago labels=${g.labels.join(",")}\n`,
          );
        }
      } finally {
        await store.close();
      }
    });
}
