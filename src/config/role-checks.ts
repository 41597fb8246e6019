import { isGwsyncError } from "../errors.js";
import { isLoopbackHost, weakCredentials } from "../security/exposure.js";
import { DEFAULT_REGION } from "./defaults.js";
import { defaultTenantsDir } from "../artifacts/tenant-folders.js";
import { loadJndiDir } from "./jndi.js";
import type { LoadContext } from "./load-context.js";
import type { GwsyncConfig, Role } from "./types.js";

/**
 * What each role cannot run without. A WSO2 sample written for another node type loads for the roles
 * it can serve and fails, with the reason, for the others:
 * - every role: [apim.event_hub] must not be disabled (all three talk over the event hub), and a
 *   service whose HTTP port is bound beyond loopback must not use weak credentials (WSO2's or
 *   RabbitMQ's defaults, an empty or guessable password: src/security/exposure.ts) (docs/architecture.md#http).
 * - publisher: a saver gwsync implements ("DBSaver", "GitSaver") and a database type its store implements
 *   (PUBLISHER_STORE_TYPES: SQLite, PostgreSQL, MySQL/MariaDB).
 * - gateway: the gateway section not disabled, at least one gateway label, the retriever gwsync
 *   implements ("DBRetriever", "GitRetriever") and at least one event listening endpoint.
 * - relay: a readable jndi_dir whose <region>.properties files all parse, each with a connection
 *   factory, and at least one region other than its own to forward to.
 */
export const PUBLISHER_STORE_TYPES: readonly string[] = [
  "sqlite",
  "postgre",
  "postgres",
  "postgresql",
  "mysql",
  "mariadb",
];
/** DBSaver: the database store; GitSaver: the Git store (docs/git-store.md). */
const SAVERS = ["DBSaver", "GitSaver"];
/**
 * A gateway fetches through the control plane's data API whichever the saver: "GitRetriever" is the
 * name WSO2-style files pair with "GitSaver" (the control plane reads the repository for it).
 */
const RETRIEVERS = ["DBRetriever", "GitRetriever"];

const GW = "apim.sync_runtime_artifacts.gateway";
const DB = "database.sync_runtime_artifacts_db";

function checkEveryRole(c: GwsyncConfig, role: Role, ctx: LoadContext): void {
  if (!c.eventHub.enable) {
    ctx.problem(
      "apim.event_hub.enable",
      `is false, but role ${role} talks over the event hub; set it to true`,
    );
  }
  const { username, password } = c.gwsync.http;
  const weak = isLoopbackHost(c.gwsync.httpHost) ? undefined : weakCredentials(username, password);
  if (weak !== undefined) {
    ctx.problem(
      "gwsync.http_host",
      `is ${JSON.stringify(c.gwsync.httpHost)} (beyond loopback), but the HTTP credentials are weak (${weak}): WSO2's or RabbitMQ's defaults and guessable passwords are refused; set [gwsync.http] username and password_file (or GWSYNC_HTTP_PASSWORD_FILE)`,
    );
  }
}

function checkPublisher(c: GwsyncConfig, ctx: LoadContext): void {
  if (!SAVERS.includes(c.publisher.artifactSaver)) {
    ctx.problem(
      "apim.sync_runtime_artifacts.publisher.artifact_saver",
      `is ${JSON.stringify(c.publisher.artifactSaver)}, but role publisher implements only ${SAVERS.map((v) => JSON.stringify(v)).join(" and ")}`,
    );
  }
  if (!PUBLISHER_STORE_TYPES.includes(c.database.type)) {
    ctx.problem(
      `${DB}.type`,
      `is ${JSON.stringify(c.database.type)}, but role publisher stores artifacts only in ${PUBLISHER_STORE_TYPES.map((t) => JSON.stringify(t)).join(", ")} ; set type = "sqlite" and url = "./data/artifacts.db", or a PostgreSQL/MySQL database`,
    );
  }
  const noIngress = missingIngress(c);
  if (noIngress !== undefined) ctx.warnings.push(`gwsync.jndi_dir ${noIngress}`);
}

/**
 * Why a publisher of a named region runs no region ingress (its jndi_dir holds no <region>.properties),
 * or undefined when it runs one (or is the single default region). Relays forwarding to that region
 * would leave its artifacts waiting in gwsync.region-ingress.<region> with no consumer.
 */
export function missingIngress(c: GwsyncConfig): string | undefined {
  const { region, jndiDir } = c.gwsync;
  if (region === DEFAULT_REGION) return undefined;
  let regions: string[] = [];
  let unreadable = "";
  try {
    regions = Object.keys(loadJndiDir(jndiDir));
  } catch (err) {
    if (!isGwsyncError(err)) throw err;
    unreadable = ` (${err.message})`;
  }
  if (regions.includes(region)) return undefined;
  const others = regions.filter((r) => r !== region);
  const mesh =
    others.length > 0
      ? `it lists ${others.join(", ")}, so relays of that mesh forwarding to "${region}"`
      : `relays forwarding to "${region}"`;
  return `(${jndiDir}) holds no ${region}.properties${unreadable}, so this publisher of region "${region}" runs NO region ingress: ${mesh} leave its artifacts waiting in gwsync.region-ingress.${region} with no consumer; set [gwsync] jndi_dir to the folder the relays use (a single region needs no region name; a clone fed only by replication agreements needs no ingress)`;
}

function checkGateway(c: GwsyncConfig, ctx: LoadContext): void {
  if (!c.gateway.enabled)
    ctx.problem(`${GW}.enable`, "is false, but role gateway needs the gateway section enabled");
  if (c.gateway.gatewayLabels.length === 0) {
    ctx.problem(
      `${GW}.gateway_labels`,
      'is empty, but role gateway needs at least one label to serve (WSO2\'s default is ["Default"])',
    );
  }
  if (!RETRIEVERS.includes(c.gateway.artifactRetriever)) {
    ctx.problem(
      `${GW}.artifact_retriever`,
      `is ${JSON.stringify(c.gateway.artifactRetriever)}, but role gateway implements only ${RETRIEVERS.map((v) => JSON.stringify(v)).join(" and ")}`,
    );
  }
  if (c.eventHub.eventListeningEndpoints.length === 0) {
    ctx.problem(
      "apim.event_hub.event_listening_endpoints",
      "is empty, but role gateway needs a broker to listen on",
    );
  }
  // WSO2's tenant folders: the tenants' root must be known (src/gateway/deploy/tenant-deployer.ts).
  const tenants = c.gwsync.tenants;
  if (tenants.ids.size > 0 && c.gateway.saveArtifactsLocally && tenants.dir === undefined) {
    if (defaultTenantsDir(c.gateway.deploymentDir) === undefined)
      ctx.problem(
        "gwsync.tenants_dir",
        `is not set and deployment_dir ${c.gateway.deploymentDir} is not <CARBON_HOME>/repository/deployment/server/synapse-configs/default, so [gwsync.tenants] has no folder: set it to WSO2's <CARBON_HOME>/repository/tenants`,
      );
  }
  for (const domain of tenants.ids.keys()) {
    if (domain.toLowerCase() === "carbon.super")
      ctx.problem(`gwsync.tenants.${domain}`, "is the super tenant, whose folder is deployment_dir: remove it");
  }
  // A file that describes the control plane too says whether events carry artifacts: the gateway must
  // take them exactly when its control plane sends them (else it would apply what others put on the broker).
  // Accepting artifacts nobody sends would apply what others put on the broker: a problem. Not taking
  // those that are sent is safe (the gateway fetches them instead): a warning.
  if (c.publisher.enabled && c.publisher.publishDirectlyToGateway !== c.gateway.acceptInlineArtifacts) {
    const message = `is ${c.gateway.acceptInlineArtifacts}, but apim.sync_runtime_artifacts.publisher.publish_directly_to_gateway is ${c.publisher.publishDirectlyToGateway}; set both the same (true: gateways apply the artifact an event carries; false: they fetch it from the control plane)`;
    if (c.gateway.acceptInlineArtifacts) ctx.problem(`${GW}.accept_inline_artifacts`, message);
    else ctx.warnings.push(`${GW}.accept_inline_artifacts ${message}`);
  }
}

function checkRelay(c: GwsyncConfig, ctx: LoadContext): void {
  let regions: string[];
  try {
    const jndi = loadJndiDir(c.gwsync.jndiDir);
    regions = Object.keys(jndi);
    for (const [region, file] of Object.entries(jndi)) {
      if (Object.keys(file.connectionFactories).length === 0) {
        ctx.problem(
          "gwsync.jndi_dir",
          `region ${region} declares no connectionfactory, but role relay needs one per region`,
        );
      }
    }
  } catch (err) {
    if (!isGwsyncError(err)) throw err;
    ctx.problem(
      "gwsync.jndi_dir",
      `is unusable for role relay: ${err.message} (set [gwsync] jndi_dir to a folder of <region>.properties files)`,
    );
    return;
  }
  if (!regions.some((r) => r !== c.gwsync.region)) {
    ctx.problem(
      "gwsync.jndi_dir",
      `(${c.gwsync.jndiDir}) holds no region other than this one (${c.gwsync.region}), so role relay has nowhere to forward; add <region>.properties files`,
    );
  }
}

export function checkRole(config: GwsyncConfig, role: Role, ctx: LoadContext): void {
  checkEveryRole(config, role, ctx);
  if (role === "publisher") checkPublisher(config, ctx);
  else if (role === "gateway") checkGateway(config, ctx);
  else checkRelay(config, ctx);
}
