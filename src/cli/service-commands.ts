import type { Command } from "commander";
import { Gateway } from "../gateway/gateway.js";
import { PublisherService } from "../publisher/service.js";
import { Relay } from "../relay/relay.js";
import {
  addJsonOption,
  addStrictOption,
  type CommonOptions,
  cliLogger,
  loadServiceConfig,
  runService,
} from "./common.js";
import { progress } from "./progress.js";

function serviceCommand(program: Command, name: string, description: string): Command {
  const cmd = program
    .command(name)
    .description(description)
    .option("-c, --config <file>", "deployment.toml-style configuration file (default: $GWSYNC_CONFIG)");
  addStrictOption(cmd);
  return addJsonOption(cmd, "log records as JSON lines (on stderr), also on a terminal");
}

export function registerServices(program: Command): void {
  serviceCommand(
    program,
    "publisher",
    "control-plane service: store, outbox dispatcher, REST API, optional watched folder",
  ).action(async (opts: CommonOptions) => {
    const log = cliLogger(opts);
    const config = loadServiceConfig("publisher", "publisher", opts, log);
    const svc = new PublisherService({ config, logger: log });
    await runService(
      "publisher",
      log,
      svc,
      () =>
        log.info(
          {
            http: svc.httpUrl ?? `${config.gwsync.httpHost}:${config.gwsync.httpPort}`,
            node: config.gwsync.nodeId,
          },
          "publisher started",
        ),
      config.gwsync.shutdownTimeoutMs,
    );
  });

  serviceCommand(
    program,
    "gateway",
    "gateway sidecar: filter by label, fetch with retry, deploy, keep runtime state",
  ).action(async (opts: CommonOptions) => {
    const log = cliLogger(opts);
    const config = loadServiceConfig("gateway", "gateway", opts, log);
    const bar = progress("deploying APIs", { log });
    const gw = new Gateway({ config, logger: log, onStartupProgress: bar.update });
    await runService(
      "gateway",
      log,
      {
        start: () => gw.start().finally(() => bar.done()),
        close: () => gw.close().finally(() => bar.done()),
        fatal: gw.fatal,
      },
      () =>
        log.info(
          {
            http: gw.httpUrl ?? `${config.gwsync.httpHost}:${config.gwsync.httpPort}`,
            labels: config.gateway.gatewayLabels,
            mode: config.gateway.dataRetrievalMode,
          },
          "gateway started",
        ),
      config.gwsync.shutdownTimeoutMs,
    );
  });

  serviceCommand(
    program,
    "relay",
    "cross-region relay: forwards the four streams to every region of jndi_dir, with confirms",
  ).action(async (opts: CommonOptions) => {
    const log = cliLogger(opts);
    const config = loadServiceConfig("relay", "relay", opts, log);
    const relay = new Relay({ config, logger: log });
    await runService(
      "relay",
      log,
      relay,
      () =>
        log.info(
          {
            http: relay.httpUrl ?? `${config.gwsync.httpHost}:${config.gwsync.httpPort}`,
            region: config.gwsync.region,
            remotes: relay.remoteRegions,
          },
          "relay started",
        ),
      config.gwsync.shutdownTimeoutMs,
    );
  });
}
