/**
 * A clone publisher (replication agreements) in a child process, so a test can kill -9 its puller:
 *   node --import tsx test/harness/clone-proc.ts <config.toml>
 * Environment: GWSYNC_TEST_FEED_PAGE, GWSYNC_TEST_SNAPSHOT_PAGE (the puller's page sizes);
 * GWSYNC_TEST_LEADER_RETRY_MS (how often a node that does not pull tries the agreement's leader lock);
 * GWSYNC_TEST_KILL_AFTER_CHANGES=N makes the process SIGKILL itself right after the N-th change of this
 * life is committed (before the page it belongs to is recorded: a kill mid-page); with
 * GWSYNC_TEST_KILL_PHASE=bootstrap|feed only changes of that phase count.
 * IPC out: "ready" {httpUrl, pid, agreements: [{id, lastSequenceNumber, bootstrapComplete, state}]} (what
 * the store held at start), "change" {id, ...ChangeOutcome}, "progress" {id, lastSequenceNumber, state,
 * bootstrapped} (sent after the agreement's record is written), "pulled" {id, ...PullSummary}, "leader"
 * {id, leading, nodeId, from?, reason?} (this node took over the agreement's pulls, or lost them).
 * IPC in: "close" → graceful, exit 0.
 */
import { loadConfig } from "../../src/config/load-config.js";
import { createLogger, silentLogger } from "../../src/log.js";
import { PublisherService } from "../../src/publisher/service.js";
import type { ConsumerAgreement } from "../../src/replication/agreement.js";

const [configFile] = process.argv.slice(2);
if (!configFile) {
  console.error("usage: clone-proc.ts <config.toml>");
  process.exit(2);
}

function send(m: Record<string, unknown>): void {
  if (process.connected) process.send?.(m, undefined, undefined, () => undefined);
}

const num = (v: string | undefined) => (v === undefined || v === "" ? undefined : Number(v));
const logger = process.env.GWSYNC_TEST_LOG
  ? createLogger({ level: process.env.GWSYNC_TEST_LOG, pretty: false, destination: process.stderr })
  : silentLogger;
const { config } = loadConfig({ file: configFile, role: "publisher", env: {} });
const feedPage = num(process.env.GWSYNC_TEST_FEED_PAGE);
const snapshotPage = num(process.env.GWSYNC_TEST_SNAPSHOT_PAGE);
const leaderRetryMs = num(process.env.GWSYNC_TEST_LEADER_RETRY_MS);
const svc = new PublisherService(
  { config, logger },
  {
    replication: {
      retries: 3,
      retryMinMs: 50,
      retryMaxMs: 500,
      ...(feedPage ? { feedPage } : {}),
      ...(snapshotPage ? { snapshotPage } : {}),
      ...(leaderRetryMs ? { leaderRetryMs } : {}),
    },
  },
);
const killAfter = num(process.env.GWSYNC_TEST_KILL_AFTER_CHANGES);
const killPhase = process.env.GWSYNC_TEST_KILL_PHASE || undefined;
let changes = 0;
svc.replication.events.on("change", (id, c) => {
  if (killPhase === undefined || c.phase === killPhase) changes++;
  // In the tick the change's commit returned: committed, its page not recorded.
  if (killAfter !== undefined && changes >= killAfter) process.kill(process.pid, "SIGKILL");
  send({ type: "change", id, ...c });
});
svc.replication.events.on("progress", (id) => {
  const a = svc.replication.get(id, "consumer") as ConsumerAgreement | undefined;
  if (a) send({ type: "progress", id, lastSequenceNumber: a.lastSequenceNumber, state: a.state, bootstrapped: a.bootstrapped });
});
svc.replication.events.on("pulled", (id, summary) => send({ type: "pulled", id, ...summary }));
svc.replication.events.on("leader", (id, change) => send({ type: "leader", id, at: Date.now(), ...change }));

let closing = false;
process.on("message", (m: { type?: string }) => {
  if (m.type === "close" && !closing) {
    closing = true;
    svc.close().then(
      () => process.exit(0),
      (err: unknown) => {
        console.error(err);
        process.exit(1);
      },
    );
  }
});
process.on("disconnect", () => {
  if (!closing) process.exit(3);
});

const held = (await svc.publisher.store.listAgreements())
  .filter((r) => r.role === "consumer")
  .map((r) => {
    const a = JSON.parse(r.document) as ConsumerAgreement;
    return { id: r.id, lastSequenceNumber: a.lastSequenceNumber, bootstrapComplete: a.bootstrapComplete === true, state: a.state };
  });
await svc.start();
send({ type: "ready", httpUrl: svc.httpUrl, pid: process.pid, agreements: held });
