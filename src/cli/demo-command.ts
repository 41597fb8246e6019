import { randomBytes } from "node:crypto";
import { mkdirSync } from "node:fs";
import { hostname } from "node:os";
import { resolve } from "node:path";
import type { Command } from "commander";
import { withBrokerChannel } from "../amqp/connection.js";
import { loadConfig } from "../config/load-config.js";
import type { BrokerEndpoint } from "../config/types.js";
import { Gateway } from "../gateway/gateway.js";
import type { Logger } from "../log.js";
import { PublisherService } from "../publisher/service.js";
import { ensureKeyPair } from "../security/key-files.js";
import { addJsonOption, cliLogger, runService, toExit } from "./common.js";
import { ensureDemoBroker } from "./demo-broker.js";

/** Configuration of the one-process demo: the embedded SQLite default and the local broker. */
function demoToml(
  dir: string,
  role: "publisher" | "gateway",
  nodeId: string,
  publisherPort: number,
  gatewayPort: number,
): string {
  const q = (s: string) => JSON.stringify(s);
  // Signed artifacts, as in production: the publisher signs, the gateway refuses what is not signed.
  const keys = ensureKeyPair(`${dir}/keys`, "demo");
  const signing =
    role === "publisher"
      ? `[gwsync.signing]\nprivate_key_file = ${q(keys.privateKeyFile)}\n`
      : `[gwsync.signing]\ntrusted_keys = [${q(keys.publicKeyFile)}]\n`;
  return `
[gwsync]
node_id = ${q(nodeId)}
region = "local"
data_dir = ${q(`${dir}/${role}-data`)}
http_port = ${role === "publisher" ? publisherPort : gatewayPort}
catch_up_interval_ms = 30000
${role === "publisher" ? `\n[gwsync.watch]\ndir = ${q(`${dir}/drop`)}\nlabels = ["Default"]\n` : ""}
${signing}
[apim.sync_runtime_artifacts.${role}]
${role === "publisher" ? 'artifact_saver = "DBSaver"' : `gateway_labels = ["Default"]\ndata_retrieval_mode = "sync"\ndeployment_retry_duration = 1000\ndeployment_dir = ${q(`${dir}/gateway/synapse-configs/default`)}`}

[database.sync_runtime_artifacts_db]
type = "sqlite"
url = ${q(`${dir}/publisher-data/artifacts.db`)}

[apim.event_hub]
service_url = ${q(`http://127.0.0.1:${publisherPort}`)}
`;
}

/** A demo's gateway is gone for good when the demo stops: its queues go with it. */
async function deleteQueues(endpoint: BrokerEndpoint, queues: string[], log: Logger): Promise<void> {
  try {
    await withBrokerChannel(endpoint, async (ch) => {
      for (const q of queues) await ch.deleteQueue(q);
    });
  } catch (err) {
    log.warn({ err: (err as Error).message, queues }, "could not delete the demo gateway's queues");
  }
}

/** Unique per run: two demos, or a stale queue of an earlier one, never share a queue. */
function demoNodeId(role: string): string {
  const host =
    hostname()
      .replace(/[^A-Za-z0-9.-]/g, "-")
      .slice(0, 40) || "host";
  return `demo-${host}-${randomBytes(3).toString("hex")}-${role}`;
}

interface DemoOptions {
  dir: string;
  publisherPort: string;
  gatewayPort: string;
  json?: boolean;
}

export function registerDemo(program: Command): void {
  addJsonOption(
    program
      .command("demo")
      .description(
        "run a publisher and a gateway in one process: drop synapse XML into <dir>/drop, see it in <dir>/gateway",
      )
      .option("-d, --dir <dir>", "working folder", "./gwsync-demo")
      .option("--publisher-port <port>", "publisher HTTP port", "9763")
      .option("--gateway-port <port>", "gateway HTTP port", "9764"),
  ).action(async (opts: DemoOptions) => {
    const dir = resolve(opts.dir);
    const log = cliLogger(opts);
    const pp = Number(opts.publisherPort);
    const gp = Number(opts.gatewayPort);
    let pub: PublisherService;
    let gw: Gateway;
    try {
      const load = (role: "publisher" | "gateway") =>
        loadConfig({ text: demoToml(dir, role, demoNodeId(role), pp, gp), role, env: process.env }).config;
      const pc = load("publisher");
      const gc = load("gateway");
      pub = new PublisherService({ config: pc, logger: log });
      gw = new Gateway({ config: gc, logger: log });
    } catch (err) {
      throw toExit(err);
    }
    const endpoint = gw.config.eventHub.eventListeningEndpoints[0]!;
    const node = await ensureDemoBroker(endpoint.hostname, endpoint.port, log);
    mkdirSync(`${dir}/drop`, { recursive: true });
    const facts = {
      drop: `${dir}/drop`,
      deployed: `${dir}/gateway/synapse-configs/default/api`,
      publisher: `http://127.0.0.1:${pp}`,
      gateway: `http://127.0.0.1:${gp}`,
      gatewayNode: gw.config.gwsync.nodeId,
      try: `gwsync publish api.xml --label Default --url http://127.0.0.1:${pp}`,
    };
    await runService(
      "demo",
      log,
      {
        start: async () => {
          await pub.start();
          await gw.start();
        },
        close: async () => {
          await gw.close();
          await deleteQueues(endpoint, Object.values(gw.queues), log);
          await pub.close();
          await node?.stop();
        },
      },
      () => {
        process.stdout.write(
          opts.json
            ? `${JSON.stringify({ running: true, ...facts })}\n`
            : `gwsync demo running (Ctrl-C stops it)
  drop an API here   ${facts.drop}
  it is deployed to  ${facts.deployed}
  publisher REST     ${facts.publisher}     or: ${facts.try}
  gateway            ${facts.gateway}     node ${facts.gatewayNode}
`,
        );
      },
    );
  });
}
