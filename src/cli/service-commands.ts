import type { Command } from "commander";
import { Gateway } from "../gateway/gateway.js";
import { PublisherService } from "../publisher/service.js";
import { Relay } from "../relay/relay.js";
import { loadConfigOrExit, runService } from "./common.js";
import { startupProgress } from "./progress.js";

export function registerServices(program: Command): void {
  program
    .command("publisher")
    .description("control-plane service: store, outbox dispatcher, REST API, optional watched folder")
    .option("-c, --config <file>", "deployment.toml-style configuration file")
    .action(async (opts: { config?: string }) => {
      const { config, log } = loadConfigOrExit(opts.config, "publisher");
      const svc = new PublisherService({ config, logger: log });
      await svc.start();
      log.info({ http: `${config.gwsync.httpHost}:${config.gwsync.httpPort}`, node: config.gwsync.nodeId }, "publisher started");
      await runService("publisher", log, () => svc.close(), config.gwsync.shutdownTimeoutMs);
    });

  program
    .command("gateway")
    .description("gateway sidecar: filter by label, fetch with retry, deploy, keep runtime state")
    .option("-c, --config <file>", "deployment.toml-style configuration file")
    .action(async (opts: { config?: string }) => {
      const { config, log } = loadConfigOrExit(opts.config, "gateway");
      const progress = startupProgress("deploying APIs");
      const gw = new Gateway({ config, logger: log, onStartupProgress: progress.update });
      await gw.start();
      progress.done();
      log.info(
        { http: `${config.gwsync.httpHost}:${config.gwsync.httpPort}`, labels: config.gateway.gatewayLabels, mode: config.gateway.dataRetrievalMode },
        "gateway started",
      );
      await runService("gateway", log, () => gw.close(), config.gwsync.shutdownTimeoutMs);
    });

  program
    .command("relay")
    .description("cross-region relay: forwards the four streams to every region of jndi_dir, with confirms")
    .option("-c, --config <file>", "deployment.toml-style configuration file")
    .action(async (opts: { config?: string }) => {
      const { config, log } = loadConfigOrExit(opts.config, "relay");
      const relay = new Relay({ config, logger: log });
      await relay.start();
      log.info(
        { http: `${config.gwsync.httpHost}:${config.gwsync.httpPort}`, region: config.gwsync.region, remotes: relay.remoteRegions },
        "relay started",
      );
      await runService("relay", log, () => relay.close(), config.gwsync.shutdownTimeoutMs);
    });
}
