import { mkdirSync } from "node:fs";
import { resolve } from "node:path";
import type { Command } from "commander";
import { loadConfig } from "../config/load-config.js";
import { Gateway } from "../gateway/gateway.js";
import { createLogger } from "../log.js";
import { PublisherService } from "../publisher/service.js";
import { runService, toExit } from "./common.js";

/** Configuration of the one-process demo: the embedded SQLite default and the local broker. */
function demoToml(dir: string, role: "publisher" | "gateway", publisherPort: number, gatewayPort: number): string {
  const q = (s: string) => JSON.stringify(s);
  return `
[gwsync]
node_id = ${q(`demo-${role}`)}
region = "local"
data_dir = ${q(`${dir}/${role}-data`)}
http_port = ${role === "publisher" ? publisherPort : gatewayPort}
catch_up_interval_ms = 30000
${role === "publisher" ? `\n[gwsync.watch]\ndir = ${q(`${dir}/drop`)}\nlabels = ["Default"]\n` : ""}
[apim.sync_runtime_artifacts.publisher]
artifact_saver = "DBSaver"

[apim.sync_runtime_artifacts.gateway]
gateway_labels = ["Default"]
data_retrieval_mode = "sync"
deployment_retry_duration = 1000
deployment_dir = ${q(`${dir}/gateway/synapse-configs/default`)}

[database.sync_runtime_artifacts_db]
type = "sqlite"
url = ${q(`${dir}/publisher-data/artifacts.db`)}

[apim.event_hub]
service_url = ${q(`http://127.0.0.1:${publisherPort}`)}
`;
}

export function registerDemo(program: Command): void {
  program
    .command("demo")
    .description("run a publisher and a gateway in one process: drop synapse XML into <dir>/drop, see it in <dir>/gateway")
    .option("-d, --dir <dir>", "working folder", "./gwsync-demo")
    .option("--publisher-port <port>", "publisher HTTP port", "9763")
    .option("--gateway-port <port>", "gateway HTTP port", "9764")
    .action(async (opts: { dir: string; publisherPort: string; gatewayPort: string }) => {
      const dir = resolve(opts.dir);
      mkdirSync(`${dir}/drop`, { recursive: true });
      const log = createLogger();
      const pp = Number(opts.publisherPort);
      const gp = Number(opts.gatewayPort);
      let pub: PublisherService;
      let gw: Gateway;
      try {
        const pc = loadConfig({ text: demoToml(dir, "publisher", pp, gp), role: "publisher", env: process.env }).config;
        const gc = loadConfig({ text: demoToml(dir, "gateway", pp, gp), role: "gateway", env: process.env }).config;
        pub = new PublisherService({ config: pc, logger: log });
        await pub.start();
        gw = new Gateway({ config: gc, logger: log });
        await gw.start();
      } catch (err) {
        throw toExit(err);
      }
      log.info(
        { drop: `${dir}/drop`, deployed: `${dir}/gateway/synapse-configs/default/api`, publisher: `http://127.0.0.1:${pp}` },
        "demo running: drop a synapse API XML into the drop folder (Ctrl-C to stop)",
      );
      await runService("demo", log, async () => {
        await gw.close();
        await pub.close();
      });
    });
}
