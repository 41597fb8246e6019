/**
 * A gateway in a child process (so a test can kill -9 it for real):
 *   node --import tsx test/harness/gateway-proc.ts <config.toml> <applied.jsonl>
 * IPC out: "ready" {httpUrl}, "applied" {outcome, apiId, revision, sha256}, "handled" {stream, kind,
 * messageId}, "rejected" {stream, reason}, "broker" {state}, "startup" {phase}, "deployed" {apis}.
 * IPC in: "close" (graceful close, exit 0), "deployed" (reply with the deployed list).
 * Every applied event is also appended to the JSON-lines file, which outlives the process.
 */
import { loadConfig } from "../../src/config/load-config.js";
import { Gateway } from "../../src/gateway/gateway.js";
import { createLogger, silentLogger } from "../../src/log.js";
import { AppliedLog } from "./invariants.js";

const [configFile, appliedLogFile] = process.argv.slice(2);
if (!configFile || !appliedLogFile) {
  console.error("usage: gateway-proc.ts <config.toml> <applied.jsonl>");
  process.exit(2);
}

function send(m: Record<string, unknown>): void {
  // The parent may be gone (it killed us, or the test ended): nothing to report to then.
  if (process.connected) process.send?.(m, undefined, undefined, () => undefined);
}

const logger = process.env.GWSYNC_TEST_LOG
  ? createLogger({ level: process.env.GWSYNC_TEST_LOG, pretty: false, destination: process.stderr })
  : silentLogger;
const { config } = loadConfig({ file: configFile, role: "gateway", env: {} });
const gw = new Gateway({ config, logger });
const log = new AppliedLog(appliedLogFile);
log.attach(gw, (r) => send({ type: "applied", ...r }));
gw.events.on("handled", (stream: string, kind: string, messageId: unknown) =>
  send({ type: "handled", stream, kind, messageId }),
);
gw.events.on("rejected", (stream: string, reason: string) => send({ type: "rejected", stream, reason }));
gw.events.on("broker", (s: { state: string }) => send({ type: "broker", state: s.state }));
gw.events.on("startup", (s: { phase: string }) => send({ type: "startup", phase: s.phase }));

let closing = false;
process.on("message", (m: { type?: string }) => {
  if (m.type === "deployed")
    send({ type: "deployed", apis: gw.deployer.deployed(), watermark: gw.watermark });
  if (m.type === "close" && !closing) {
    closing = true;
    gw.close().then(
      () => process.exit(0),
      (err: unknown) => {
        console.error(err);
        process.exit(1);
      },
    );
  }
});
// The parent died without telling us: do not linger as an orphan consuming the test's queue.
process.on("disconnect", () => {
  if (!closing) process.exit(3);
});

await gw.start();
send({ type: "ready", httpUrl: gw.httpUrl, pid: process.pid, deployed: gw.deployer.deployed().length });
