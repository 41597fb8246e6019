import { statSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { ALL_TENANTS, DEFAULT_DATA_API } from "../data-api/wire.js";
import { DEFAULT_HUB_DIALECT, DEFAULT_MAP_FORMAT } from "../events/dialect.js";
import { isGwsyncError } from "../errors.js";
import { readRegularFileSync } from "../security/safe-read.js";
import { ArtifactSigner, TrustedKeys } from "../security/signing.js";
import * as D from "./defaults.js";
import type { EndpointSpec } from "./endpoints.js";
import type { LoadContext } from "./load-context.js";
import type {
  DatabaseSection,
  EventHubSection,
  GatewaySection,
  GwsyncSection,
  PublisherSection,
  ThrottlingSection,
} from "./schema.js";
import type { BrokerEndpoint, GitSourceConfig, GwsyncConfig, Role } from "./types.js";

/** The validated sections; a section that is absent, or failed validation, is undefined (defaults apply). */
export interface Sections {
  gwsync?: GwsyncSection;
  publisher?: PublisherSection;
  /** [apim.sync_runtime_artifacts.publisher] appears in the file (WSO2: presence enables saving). */
  publisherPresent: boolean;
  gateway?: GatewaySection;
  database?: DatabaseSection;
  eventHub?: EventHubSection;
  throttling?: ThrottlingSection;
}

export interface BuildOptions {
  role: Role | undefined;
  baseDir: string;
  ctx: LoadContext;
}

const EH = "apim.event_hub";
const DB = "database.sync_runtime_artifacts_db";
const GW = "apim.sync_runtime_artifacts.gateway";
const NODE_ID_UNSAFE = /[^A-Za-z0-9._-]/g;
const MAX_HOST_PART = 100;
/** A password file holds one secret; a larger one is something else. */
const MAX_PASSWORD_FILE_BYTES = 64 * 1024;

/** A password given directly or as password_file (a mounted secret; one trailing newline dropped). */
function secretOf(
  section: { password?: string | undefined; password_file?: string | undefined } | undefined,
  prefix: string,
  o: BuildOptions,
): string | undefined {
  const password = section?.password;
  const file = section?.password_file;
  if (password !== undefined && file !== undefined) {
    o.ctx.problem(
      `${prefix}.password`,
      `and ${o.ctx.display(`${prefix}.password_file`)} are both set; keep one`,
    );
    return undefined;
  }
  if (file === undefined) return password;
  const full = path.resolve(o.baseDir, file);
  try {
    // A regular file only (a FIFO or /dev/zero would hang or fill memory), followed through symlinks
    // (Kubernetes mounts secrets as symlinks into ..data/).
    const bytes = readRegularFileSync(full, {
      maxBytes: MAX_PASSWORD_FILE_BYTES,
      followSymlinks: true,
      what: "password_file",
    });
    const value = bytes.toString("utf8").replace(/\r?\n$/, "");
    if (value === "") o.ctx.problem(`${prefix}.password_file`, `names an empty file: ${full}`);
    return value;
  } catch (err) {
    const errno = isGwsyncError(err) ? err.details?.errno : (err as NodeJS.ErrnoException).code;
    if (o.ctx.checkOnly && (errno === "ENOENT" || errno === "EACCES")) {
      // `config check` on another host than the service's: the file is right, the secret lives elsewhere.
      o.ctx.suspect(
        `${prefix}.password_file`,
        `cannot be read here (${errno}): ${full}; the service reads it where it runs and will not start without it`,
      );
      return `<contents of ${full}>`;
    }
    if (typeof errno === "string" || !isGwsyncError(err)) {
      o.ctx.problem(`${prefix}.password_file`, `cannot be read (${errno ?? "error"}): ${full}`);
    } else {
      o.ctx.problem(`${prefix}.password_file`, `is refused: ${err.message.slice("password_file ".length)}`);
    }
    return undefined;
  }
}

/** A URL git reads as one (scheme://, or scp-like user@host:path); anything else is a local path. */
const GIT_URL = /^(?:[a-z][a-z0-9+.-]*:\/\/|[^/\\:@]+@[^/\\:]+:)/i;

function buildGitSource(s: NonNullable<GwsyncSection["git_source"]>, o: BuildOptions): GitSourceConfig {
  const prefix = "gwsync.git_source";
  const url = GIT_URL.test(s.url) ? s.url : path.resolve(o.baseDir, s.url);
  const folder = (s.folder ?? "").replace(/^\/+|\/+$/g, "");
  if (folder.split("/").some((part) => part === ".." || part === ".")) {
    o.ctx.problem(`${prefix}.folder`, `must be a folder inside the repository, got ${JSON.stringify(s.folder)}`);
  }
  const branch = s.branch ?? D.DEFAULT_GIT_SOURCE_BRANCH;
  if (!/^[A-Za-z0-9._/-]+$/.test(branch) || branch.startsWith("-") || branch.includes("..")) {
    o.ctx.problem(`${prefix}.branch`, `is not a branch name git accepts: ${JSON.stringify(branch)}`);
  }
  const password = secretOf(s, prefix, o);
  if (password !== undefined && s.username === undefined) {
    o.ctx.problem(`${prefix}.username`, "is required with a password (HTTP Basic credentials for the repository)");
  }
  return {
    url,
    branch,
    folder,
    labels: [...new Set(s.labels)],
    pollIntervalMs: s.poll_interval_ms ?? D.DEFAULT_GIT_SOURCE_POLL_MS,
    ...(s.username === undefined ? {} : { username: s.username }),
    ...(password === undefined ? {} : { password }),
    maxFileBytes: s.max_file_bytes ?? D.DEFAULT_WATCH_MAX_FILE_BYTES,
    maxFiles: s.max_files ?? D.DEFAULT_GIT_SOURCE_MAX_FILES,
  };
}

/** Largest key file read (an Ed25519 PEM is about 120 bytes). */
const MAX_KEY_FILE_BYTES = 16 * 1024;
/** A private key readable by group or others is refused, as ssh does. */
const PRIVATE_KEY_FORBIDDEN_MODE = 0o077;

function buildSigning(s: GwsyncSection["signing"], o: BuildOptions): GwsyncConfig["gwsync"]["signing"] {
  const out: GwsyncConfig["gwsync"]["signing"] = { trustedKeys: [] };
  const read = (key: string, file: string, secret: boolean): string | undefined => {
    const full = path.resolve(o.baseDir, file);
    try {
      if (secret && (statSync(full).mode & PRIVATE_KEY_FORBIDDEN_MODE) !== 0) {
        o.ctx.problem(key, `${full} is readable by group or others: chmod 600 it (gwsync keys generate writes it so)`);
        return undefined;
      }
      return readRegularFileSync(full, { maxBytes: MAX_KEY_FILE_BYTES, followSymlinks: true, what: key })
        .toString("utf8");
    } catch (err) {
      const errno = isGwsyncError(err) ? err.details?.errno : (err as NodeJS.ErrnoException).code;
      o.ctx.problem(
        key,
        typeof errno === "string" ? `cannot be read (${errno}): ${full}` : `is refused: ${(err as Error).message.slice(key.length + 1)}`,
      );
      return undefined;
    }
  };
  if (s?.private_key_file !== undefined) {
    const pem = read("gwsync.signing.private_key_file", s.private_key_file, true);
    if (pem !== undefined) {
      try {
        new ArtifactSigner(pem);
        out.privateKeyPem = pem;
        out.privateKeyFile = path.resolve(o.baseDir, s.private_key_file);
      } catch (err) {
        o.ctx.problem("gwsync.signing.private_key_file", (err as Error).message.replace(/^private_key_file /, ""));
      }
    }
  }
  for (const file of s?.trusted_keys ?? []) {
    const pem = read("gwsync.signing.trusted_keys", file, false);
    if (pem === undefined) continue;
    try {
      new TrustedKeys([{ pem, what: file }]);
      out.trustedKeys.push({ file: path.resolve(o.baseDir, file), pem });
    } catch (err) {
      o.ctx.problem("gwsync.signing.trusted_keys", (err as Error).message);
    }
  }
  return out;
}

function defaultNodeId(role: Role | undefined): string {
  const host = os.hostname().replace(NODE_ID_UNSAFE, "-").slice(0, MAX_HOST_PART) || "gwsync";
  return `${host}-${role ?? "node"}`;
}

interface Credentials {
  username: string;
  password: string;
  vhost: string;
  ssl: boolean;
}

function toEndpoint(spec: EndpointSpec, c: Credentials): BrokerEndpoint {
  return {
    protocol: c.ssl ? "amqps" : spec.protocol,
    hostname: spec.hostname,
    port: spec.port,
    username: spec.username ?? c.username,
    password: spec.password ?? c.password,
    vhost: spec.vhost ?? c.vhost,
  };
}

function buildGwsync(
  s: Sections,
  eventHub: GwsyncConfig["eventHub"],
  o: BuildOptions,
): GwsyncConfig["gwsync"] {
  const g = s.gwsync;
  const dir = (p: string | undefined, fallback: string) => path.resolve(o.baseDir, p ?? fallback);
  const config: GwsyncConfig["gwsync"] = {
    nodeId: g?.node_id ?? defaultNodeId(o.role),
    region: g?.region ?? D.DEFAULT_REGION,
    dataDir: dir(g?.data_dir, D.DEFAULT_DATA_DIR),
    httpPort: g?.http_port ?? D.DEFAULT_HTTP_PORT,
    httpHost: g?.http_host ?? D.DEFAULT_HTTP_HOST,
    jndiDir: dir(g?.jndi_dir, D.DEFAULT_JNDI_DIR),
    exchange: g?.exchange ?? "amq.topic",
    // Each half defaults on its own, so GWSYNC_HTTP_PASSWORD alone keeps the event hub user name.
    http: {
      username: g?.http?.username ?? eventHub.username,
      password: secretOf(g?.http, "gwsync.http", o) ?? eventHub.password,
      bodyLimitBytes: g?.http?.body_limit_bytes ?? D.DEFAULT_HTTP_BODY_LIMIT_BYTES,
      requestTimeoutMs: g?.http?.request_timeout_ms ?? D.DEFAULT_HTTP_REQUEST_TIMEOUT_MS,
      connectionTimeoutMs: g?.http?.connection_timeout_ms ?? D.DEFAULT_HTTP_CONNECTION_TIMEOUT_MS,
      keepAliveTimeoutMs: g?.http?.keep_alive_timeout_ms ?? D.DEFAULT_HTTP_KEEP_ALIVE_TIMEOUT_MS,
      maxRequestsPerSocket: g?.http?.max_requests_per_socket ?? D.DEFAULT_HTTP_MAX_REQUESTS_PER_SOCKET,
      maxConnections: g?.http?.max_connections ?? D.DEFAULT_HTTP_MAX_CONNECTIONS,
      maxParamLength: g?.http?.max_param_length ?? D.DEFAULT_HTTP_MAX_PARAM_LENGTH,
    },
    limits: {
      maxJsonDepth: g?.max_json_depth ?? D.DEFAULT_MAX_JSON_DEPTH,
      maxRevokedTokens: g?.max_revoked_tokens ?? D.DEFAULT_MAX_REVOKED_TOKENS,
      maxRevokedTokenLength: g?.max_revoked_token_length ?? D.DEFAULT_MAX_REVOKED_TOKEN_LENGTH,
      maxKeyManagers: g?.max_key_managers ?? D.DEFAULT_MAX_KEY_MANAGERS,
      maxWebhookSubscriptions: g?.max_webhook_subscriptions ?? D.DEFAULT_MAX_WEBHOOK_SUBSCRIPTIONS,
      maxSubscriptionRecords: g?.max_subscription_records ?? D.DEFAULT_MAX_SUBSCRIPTION_RECORDS,
      maxRevocationLifetimeMs: g?.max_revocation_lifetime_ms ?? D.DEFAULT_MAX_REVOCATION_LIFETIME_MS,
      maxEventsPerRequest: g?.max_events_per_request ?? D.DEFAULT_MAX_EVENTS_PER_REQUEST,
    },
    shutdownTimeoutMs: g?.shutdown_timeout_ms ?? D.DEFAULT_SHUTDOWN_TIMEOUT_MS,
    signing: buildSigning(g?.signing, o),
    relayForeignArtifactEvents: g?.relay_foreign_artifact_events ?? false,
    maxMessageBytes: g?.max_message_bytes ?? D.DEFAULT_MAX_MESSAGE_BYTES,
    maxInlineArtifactBytes: g?.max_inline_artifact_bytes ?? D.DEFAULT_MAX_INLINE_ARTIFACT_BYTES,
    batchRuntimeEvents: g?.batch_runtime_events ?? D.DEFAULT_BATCH_RUNTIME_EVENTS,
    queueExpiresMs: g?.queue_expires_ms ?? D.DEFAULT_QUEUE_EXPIRES_MS,
    queueMaxLength: g?.queue_max_length ?? D.DEFAULT_QUEUE_MAX_LENGTH,
    queueType: g?.queue_type ?? D.DEFAULT_QUEUE_TYPE,
    heartbeatSec: g?.heartbeat_sec ?? D.DEFAULT_HEARTBEAT_SEC,
    catchUpIntervalMs: g?.catch_up_interval_ms ?? D.DEFAULT_CATCH_UP_INTERVAL_MS,
    outboxPollMs: g?.outbox_poll_ms ?? D.DEFAULT_OUTBOX_POLL_MS,
    maxDeliveries: g?.max_deliveries ?? D.DEFAULT_MAX_DELIVERIES,
    heartbeatIntervalMs: g?.heartbeat_interval_ms ?? D.DEFAULT_GATEWAY_HEARTBEAT_INTERVAL_MS,
    hubDialect: g?.hub_dialect ?? DEFAULT_HUB_DIALECT,
    hubMapFormat: g?.hub_map_format ?? DEFAULT_MAP_FORMAT,
    dataApi: g?.data_api ?? DEFAULT_DATA_API,
    dataApiTenant: tenantSetting(g?.data_api_tenant),
  };
  if (g?.watch !== undefined) {
    config.watch = {
      dir: dir(g.watch.dir, ""),
      labels: [...new Set(g.watch.labels)],
      maxFileBytes: g.watch.max_file_bytes ?? D.DEFAULT_WATCH_MAX_FILE_BYTES,
      followSymlinks: g.watch.follow_symlinks ?? false,
      removeGraceMs: g.watch.remove_grace_ms ?? D.DEFAULT_WATCH_REMOVE_GRACE_MS,
    };
  }
  if (g?.git_source !== undefined) config.gitSource = buildGitSource(g.git_source, o);
  if (config.http.maxParamLength < config.limits.maxRevokedTokenLength) {
    o.ctx.problem(
      "gwsync.http.max_param_length",
      `(${config.http.maxParamLength}) must be at least gwsync.max_revoked_token_length (${config.limits.maxRevokedTokenLength}): GET /api/v1/revoked-tokens/{token} takes the token in the path`,
    );
  }
  if (config.maxInlineArtifactBytes > config.maxMessageBytes) {
    o.ctx.problem(
      "gwsync.max_inline_artifact_bytes",
      `(${config.maxInlineArtifactBytes}) must not exceed gwsync.max_message_bytes (${config.maxMessageBytes}): an inline artifact travels inside one message`,
    );
  }
  return config;
}

function buildEventHub(s: Sections, o: BuildOptions): GwsyncConfig["eventHub"] {
  const eh = s.eventHub;
  const username = eh?.username ?? D.DEFAULT_EVENT_HUB_USERNAME;
  const password = secretOf(eh, EH, o) ?? D.DEFAULT_EVENT_HUB_PASSWORD;
  const vhost = eh?.vhost ?? D.DEFAULT_VHOST;
  // WSO2 4.x: jms.username/password are the broker's credentials when the REST ones differ.
  const jms = eh?.jms?.username !== undefined && eh.jms.password !== undefined ? eh.jms : undefined;
  const broker: Credentials = {
    username: jms?.username ?? username,
    password: jms?.password ?? password,
    vhost,
    ssl: eh?.ssl === true || eh?.jms?.ssl === true,
  };
  const listening = eh?.event_listening_endpoints ?? D.DEFAULT_EVENT_LISTENING_ENDPOINTS.map(defaultEndpoint);
  // [apim.event_hub] event_waiting_time: how long after a notification or webhook message's timestamp
  // it is acted on (EventHubConfigurationDto, default 0; GatewayJMSMessageListener.java:94-103).
  const waiting = eh?.event_waiting_time ?? D.DEFAULT_EVENT_WAITING_TIME_MS;
  return {
    enable: eh?.enable ?? true,
    serviceUrl: eh?.service_url ?? D.DEFAULT_SERVICE_URL,
    eventListeningEndpoints: listening.map((e) => toEndpoint(e, broker)),
    eventDuplicateUrl: (eh?.event_duplicate_url ?? []).map((e) => toEndpoint(e, broker)),
    username,
    password,
    vhost,
    eventWaitingTimeMs: waiting,
  };
}

function defaultEndpoint(url: string): EndpointSpec {
  const u = new URL(url);
  return { protocol: "amqp", hostname: u.hostname, port: Number(u.port) };
}

function buildGateway(s: Sections, eventWaitingTimeMs: number, o: BuildOptions): GwsyncConfig["gateway"] {
  const gw = s.gateway;
  const retry = gw?.deployment_retry_duration ?? D.DEFAULT_RETRY_DURATION_MS;
  const maxDelay = gw?.max_retry_delay ?? D.DEFAULT_MAX_RETRY_DELAY_MS;
  if (maxDelay < retry) {
    o.ctx.problem(
      `${GW}.max_retry_delay`,
      `(${maxDelay} ms) must be at least ${o.ctx.display(`${GW}.deployment_retry_duration`)} (${retry} ms)`,
    );
  }
  const skip = gw?.skip_list;
  return {
    enabled: gw?.enable ?? true,
    gatewayLabels: [...new Set(gw?.gateway_labels ?? D.DEFAULT_GATEWAY_LABELS)],
    artifactRetriever: gw?.artifact_retriever ?? D.DEFAULT_ARTIFACT_RETRIEVER,
    deploymentRetryDurationMs: retry,
    retryProgressionFactor: gw?.retry_progression_factor ?? D.DEFAULT_RETRY_PROGRESSION_FACTOR,
    maxRetryCount: gw?.max_retry_count ?? D.DEFAULT_MAX_RETRY_COUNT,
    maxRetryDelayMs: maxDelay,
    dataRetrievalMode: gw?.data_retrieval_mode ?? D.DEFAULT_DATA_RETRIEVAL_MODE,
    eventWaitingTimeMs,
    saveArtifactsLocally: gw?.save_artifacts_locally ?? D.DEFAULT_SAVE_ARTIFACTS_LOCALLY,
    deploymentDir: path.resolve(o.baseDir, gw?.deployment_dir ?? D.DEFAULT_DEPLOYMENT_DIR),
    acceptInlineArtifacts: gw?.accept_inline_artifacts ?? false,
    skipList: {
      apis: skip?.apis ?? [],
      endpoints: skip?.endpoints ?? [],
      sequences: skip?.sequences ?? [],
      localEntries: skip?.local_entries ?? [],
    },
  };
}

function buildDatabase(s: Sections, dataDir: string, o: BuildOptions): GwsyncConfig["database"] {
  const db = s.database;
  const type = db?.type ?? D.DEFAULT_DATABASE_TYPE;
  let url = db?.url;
  if (type === "sqlite") {
    // An SQLite "url" is a file path; ":memory:" and file: URIs are SQLite's own forms.
    if (url === undefined) url = path.join(dataDir, D.DEFAULT_SQLITE_FILE);
    else if (url !== ":memory:" && !url.startsWith("file:")) url = path.resolve(o.baseDir, url);
  } else if (url === undefined) {
    o.ctx.problem(`${DB}.url`, `must be set when ${DB}.type is "${type}"`);
    url = "";
  }
  const database: GwsyncConfig["database"] = { type, url };
  if (db?.username !== undefined) database.username = db.username;
  const password = secretOf(db, DB, o);
  if (password !== undefined) database.password = password;
  if (db?.pool_options !== undefined) database.poolOptions = db.pool_options;
  return database;
}

/** Fill in defaults, resolve paths against baseDir, read password files, attach broker credentials. */
export function buildConfig(s: Sections, o: BuildOptions): GwsyncConfig {
  const eventHub = buildEventHub(s, o);
  const gwsync = buildGwsync(s, eventHub, o);
  const throttlingCredentials: Credentials = {
    username: s.throttling?.username ?? eventHub.username,
    password: s.throttling?.password ?? eventHub.password,
    vhost: eventHub.vhost,
    ssl: false,
  };
  return {
    gwsync,
    publisher: {
      enabled: s.publisherPresent,
      artifactSaver: s.publisher?.artifact_saver ?? D.DEFAULT_ARTIFACT_SAVER,
      publishDirectlyToGateway:
        s.publisher?.publish_directly_to_gateway ?? D.DEFAULT_PUBLISH_DIRECTLY_TO_GATEWAY,
    },
    // The gateway block's event_waiting_time is a fixed sleep before each single-API fetch (DBRetriever.java:72-78),
    // and only when the event hub sets none (api-manager.xml.j2:1890-1892).
    gateway: buildGateway(
      s,
      s.eventHub?.event_waiting_time === undefined
        ? (s.gateway?.event_waiting_time ?? D.DEFAULT_EVENT_WAITING_TIME_MS)
        : D.DEFAULT_EVENT_WAITING_TIME_MS,
      o,
    ),
    database: buildDatabase(s, gwsync.dataDir, o),
    eventHub,
    throttling: {
      throttleDecisionEndpoints: (s.throttling?.throttle_decision_endpoints ?? []).map((e) =>
        toEndpoint(e, throttlingCredentials),
      ),
    },
  };
}

/** [gwsync] data_api_tenant: "ALL" (any case, or unset) is every tenant; else the tenant domain as written. */
function tenantSetting(v: string | undefined): string {
  const t = v?.trim();
  return !t || t.toUpperCase() === ALL_TENANTS ? ALL_TENANTS : t;
}
