import type { Command } from "commander";
import type { GwsyncConfig } from "../config/types.js";
import type { Logger } from "../log.js";
import { type CommonOptions, CONFIG_ENV, configFileOf, ExitError, loadConfigOrExit } from "./common.js";
import { EXIT_USAGE } from "./exit-codes.js";
import { PublisherClient } from "./rest-client.js";

/** The publisher's base URL when neither --url nor a configuration names it. */
export const URL_ENV = "GWSYNC_URL";

export interface TargetOptions extends CommonOptions {
  url?: string;
  local?: boolean;
}

/**
 * Where a command that reads or changes the publisher's state goes: its REST API (the default, from
 * any host), or, with --local, the store named by the configuration, written directly (the
 * publisher's host only).
 */
export type Target = { kind: "rest"; client: PublisherClient } | { kind: "local"; config: GwsyncConfig };

/** The options of every command that talks to a publisher. */
export function addTargetOptions(cmd: Command): Command {
  return cmd
    .option(
      "-c, --config <file>",
      `configuration file (default: $${CONFIG_ENV}): the publisher's, or a gateway's`,
    )
    .option("--url <url>", `the publisher's REST API (default: $${URL_ENV}, else from --config)`)
    .option(
      "--local",
      "write (or read) the store of --config directly instead of calling the publisher's REST API",
    )
    .option("--json", "machine-readable output (JSON on stdout)")
    .option("--strict", "treat configuration warnings as errors");
}

/** A listener on every interface is reached on loopback from the same host. */
function reachableHost(host: string): string {
  if (host === "0.0.0.0" || host === "") return "127.0.0.1";
  if (host === "::" || host === "[::]") return "[::1]";
  return host.includes(":") && !host.startsWith("[") ? `[${host}]` : host;
}

/**
 * --url, else $GWSYNC_URL, else the configuration: a publisher's (it has
 * [apim.sync_runtime_artifacts.publisher]) is called at its own http_host:http_port with its
 * [gwsync.http] pair; any other (a gateway's) at its service_url with the [apim.event_hub] pair its
 * DBRetriever sends. Credentials come from the configuration or GWSYNC_HTTP_* variables, never argv.
 */
export function resolveTarget(command: string, opts: TargetOptions, log: Logger): Target {
  const file = configFileOf(opts);
  const strict = opts.strict === true;
  if (opts.local) {
    if (opts.url !== undefined)
      throw new ExitError(EXIT_USAGE, `gwsync ${command}: --local and --url exclude each other`);
    if (file === undefined) {
      throw new ExitError(
        EXIT_USAGE,
        `gwsync ${command}: --local needs the publisher's configuration: give --config FILE (or set ${CONFIG_ENV})`,
      );
    }
    return { kind: "local", config: loadConfigOrExit({ file, role: "publisher", strict }, log).config };
  }
  const url = opts.url ?? (process.env[URL_ENV] || undefined);
  if (url === undefined && file === undefined) {
    throw new ExitError(
      EXIT_USAGE,
      `gwsync ${command}: no publisher to talk to: give --url URL (or set ${URL_ENV}), or --config FILE (or set ${CONFIG_ENV}); --local --config FILE writes a store directly`,
    );
  }
  // Without a file this reads the environment only: GWSYNC_HTTP_USERNAME / _PASSWORD(_FILE).
  const { config } = loadConfigOrExit({ ...(file === undefined ? {} : { file }), strict }, log);
  const own = config.publisher.enabled;
  const base =
    url ??
    (own
      ? `http://${reachableHost(config.gwsync.httpHost)}:${config.gwsync.httpPort}`
      : config.eventHub.serviceUrl);
  const credentials = own || file === undefined ? config.gwsync.http : config.eventHub;
  return {
    kind: "rest",
    client: new PublisherClient({
      url: base,
      username: credentials.username,
      password: credentials.password,
    }),
  };
}
