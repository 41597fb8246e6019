/**
 * A publisher (control plane) in a child process, so a test can kill -9 it between commit and publish:
 *   node --import tsx test/harness/publisher-proc.ts <config.toml>
 * IPC in: "deploy" {xml, labels, kill?: "after-commit", req?} → "committed" {apiId, revision, sha256, seq, req}
 * (with kill "after-commit" the process SIGKILLs itself in the same tick as the commit, before the
 * outbox dispatcher can run: the event is committed and not published); "close" → graceful, exit 0.
 * IPC out: "ready" {httpUrl, outboxDepth}, "committed", "error" {message}.
 */
import { loadConfig } from "../../src/config/load-config.js";
import { createLogger, silentLogger } from "../../src/log.js";
import { PublisherService } from "../../src/publisher/service.js";

const [configFile] = process.argv.slice(2);
if (!configFile) {
  console.error("usage: publisher-proc.ts <config.toml>");
  process.exit(2);
}

function send(m: Record<string, unknown>): void {
  if (process.connected) process.send?.(m, undefined, undefined, () => undefined);
}

const logger = process.env.GWSYNC_TEST_LOG
  ? createLogger({ level: process.env.GWSYNC_TEST_LOG, pretty: false, destination: process.stderr })
  : silentLogger;
const { config } = loadConfig({ file: configFile, role: "publisher", env: {} });
// Measured before start(): what the previous life left in the outbox.
const svc = new PublisherService({ config, logger });
const leftover = await svc.publisher.store.outboxDepth();

let closing = false;
process.on(
  "message",
  async (m: { type?: string; xml?: string; labels?: string[]; kill?: string; req?: string }) => {
    if (m.type === "deploy" && m.xml && m.labels) {
      try {
        const pending = svc.publisher.deployApi(m.xml, m.labels);
        // SQLite commits inside the call, before it returns; the dispatcher's wake-up comes after an
        // await, so a kill here lands between commit and publish.
        if (m.kill === "after-commit") process.kill(process.pid, "SIGKILL");
        const r = await pending;
        send({ type: "committed", ...r, req: m.req });
      } catch (err) {
        send({ type: "error", message: (err as Error).message, req: m.req });
      }
    }
    if (m.type === "outbox") send({ type: "outbox", depth: await svc.publisher.store.outboxDepth() });
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
  },
);
process.on("disconnect", () => {
  if (!closing) process.exit(3);
});

await svc.start();
send({ type: "ready", httpUrl: svc.httpUrl, pid: process.pid, leftover });
