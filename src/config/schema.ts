import { z } from "zod";
import { ALL_TENANTS, DATA_APIS, DEFAULT_DATA_API } from "../data-api/wire.js";
import { MAX_BATCH_EVENTS } from "../events/batch.js";
import { DEFAULT_HUB_DIALECT, DEFAULT_MAP_FORMAT, HUB_DIALECTS, MAP_FORMATS } from "../events/dialect.js";
import { bool, int, list, name, num, oneOf, secret, TABLE_ERROR, text } from "./coerce.js";
import * as D from "./defaults.js";
import { type EndpointSpec, normalizeServiceUrl, parseEndpointString } from "./endpoints.js";

/**
 * One zod schema per section gwsync reads, the one place a key is declared: its TOML name, its rule,
 * its default (a named constant of defaults.ts) and the name the services read it by. gwsync's own
 * sections are strict (an unknown key is a typo to report); WSO2's are loose (WSO2 keys gwsync has no
 * use for are listed at debug level). `*Keys` is what the file may say (its shape names the known
 * keys); `*Schema` transforms it into what the services read, and GwsyncConfig (types.ts) is built from
 * those outputs. What a schema cannot know (the configuration file's folder, the role, a password
 * file's contents, one section's default taken from another) build-config.ts fills in.
 */

/** Names a durable queue and a region file: AMQP- and file-system-safe. */
export const SAFE_NAME = /^[A-Za-z0-9._-]{1,128}$/;
const SAFE_RULE = 'use only letters, digits, ".", "_" and "-" (at most 128)';
const MAX_PORT = 65_535;
const MAX_PROGRESSION_FACTOR = 100;
/** AMQP 0-9-1 negotiates the heartbeat as a 16-bit number of seconds. */
const MAX_HEARTBEAT_SEC = 65_535;
/** basic.qos prefetch-count is a 16-bit field. */
const MAX_PREFETCH = 65_535;
/** Past this, nesting is not a configuration but an attack on every recursive walk. */
const MAX_JSON_DEPTH = 10_000;
/** A URL path segment longer than this is no token: HTTP servers cap whole request lines at 8-16 KiB. */
const MAX_PARAM_LENGTH = 65_536;

const endpoint = () =>
  text().transform((value, ctx): EndpointSpec => {
    const parsed = parseEndpointString(value);
    if (typeof parsed === "string") {
      ctx.addIssue({ code: "custom", message: parsed, input: value });
      return z.NEVER;
    }
    return parsed;
  });

const serviceUrl = () =>
  text().transform((value, ctx): string => {
    const result = normalizeServiceUrl(value);
    if ("reason" in result) {
      ctx.addIssue({ code: "custom", message: result.reason, input: value });
      return z.NEVER;
    }
    return result.url;
  });

export const GwsyncHttpKeys = z.strictObject(
  {
    /** Default: [apim.event_hub] username (build-config.ts). */
    username: text().optional(),
    /** Default: [apim.event_hub] password (build-config.ts). */
    password: secret().optional(),
    password_file: text().optional(),
    body_limit_bytes: int(1, Number.MAX_SAFE_INTEGER, " bytes").default(D.DEFAULT_HTTP_BODY_LIMIT_BYTES),
    request_timeout_ms: int(1, Number.MAX_SAFE_INTEGER, " ms").default(D.DEFAULT_HTTP_REQUEST_TIMEOUT_MS),
    connection_timeout_ms: int(1, Number.MAX_SAFE_INTEGER, " ms").default(
      D.DEFAULT_HTTP_CONNECTION_TIMEOUT_MS,
    ),
    keep_alive_timeout_ms: int(1, Number.MAX_SAFE_INTEGER, " ms").default(
      D.DEFAULT_HTTP_KEEP_ALIVE_TIMEOUT_MS,
    ),
    max_requests_per_socket: int(1).default(D.DEFAULT_HTTP_MAX_REQUESTS_PER_SOCKET),
    max_connections: int(1).default(D.DEFAULT_HTTP_MAX_CONNECTIONS),
    max_param_length: int(1, MAX_PARAM_LENGTH, " characters").default(D.DEFAULT_HTTP_MAX_PARAM_LENGTH),
  },
  TABLE_ERROR,
);

/** [gwsync.http]: the HTTP servers' Basic credentials (resolved by build-config.ts) and limits. */
export const GwsyncHttpSchema = GwsyncHttpKeys.transform((h) => ({
  username: h.username,
  password: h.password,
  passwordFile: h.password_file,
  bodyLimitBytes: h.body_limit_bytes,
  requestTimeoutMs: h.request_timeout_ms,
  connectionTimeoutMs: h.connection_timeout_ms,
  keepAliveTimeoutMs: h.keep_alive_timeout_ms,
  maxRequestsPerSocket: h.max_requests_per_socket,
  maxConnections: h.max_connections,
  maxParamLength: h.max_param_length,
}));

export const GwsyncWatchKeys = z.strictObject(
  {
    /** Relative to the configuration file's folder (build-config.ts). */
    dir: text(),
    labels: list(text()).pipe(z.array(z.string()).min(1, { error: "must name at least one label" })),
    max_file_bytes: int(1, Number.MAX_SAFE_INTEGER, " bytes").default(D.DEFAULT_WATCH_MAX_FILE_BYTES),
    /** Publish what a symlink in the folder points to (default false: symlinks are refused). */
    follow_symlinks: bool().default(false),
    /** A file gone from the folder removes its API only if no file holds it again within this time (a rename). */
    remove_grace_ms: int(0, Number.MAX_SAFE_INTEGER, " ms").default(D.DEFAULT_WATCH_REMOVE_GRACE_MS),
  },
  TABLE_ERROR,
);

/** [gwsync.watch]: the publisher's drop folder. */
export const GwsyncWatchSchema = GwsyncWatchKeys.transform((w) => ({
  dir: w.dir,
  labels: [...new Set(w.labels)],
  maxFileBytes: w.max_file_bytes,
  followSymlinks: w.follow_symlinks,
  removeGraceMs: w.remove_grace_ms,
}));

/** [gwsync.git_source]: a branch of a repository whose folder the publisher publishes (GitOps). */
export const GwsyncGitSourceKeys = z.strictObject(
  {
    /** A repository URL (https://, ssh://, file://) or the path of a local repository. */
    url: text(),
    branch: text().default(D.DEFAULT_GIT_SOURCE_BRANCH),
    /** The folder of the repository holding the artifacts (default: its root); not its subfolders. */
    folder: text().optional(),
    labels: list(text()).pipe(z.array(z.string()).min(1, { error: "must name at least one label" })),
    poll_interval_ms: int(100, Number.MAX_SAFE_INTEGER, " ms").default(D.DEFAULT_GIT_SOURCE_POLL_MS),
    username: text().optional(),
    password: secret().optional(),
    password_file: text().optional(),
    max_file_bytes: int(1, Number.MAX_SAFE_INTEGER, " bytes").default(D.DEFAULT_WATCH_MAX_FILE_BYTES),
    max_files: int(1, Number.MAX_SAFE_INTEGER).default(D.DEFAULT_GIT_SOURCE_MAX_FILES),
  },
  TABLE_ERROR,
);

/**
 * [gwsync.git_store]: the Git artifact store (docs/git-store.md), chosen by this section or by
 * artifact_saver = "GitSaver". Every publish, update and remove is a commit of `branch`;
 * build-config.ts resolves the paths and reads the password.
 */
export const GwsyncGitStoreKeys = z.strictObject(
  {
    /** The local repository (bare); created when missing. Default: <data_dir>/artifacts.git (build-config.ts). */
    repository: text().optional(),
    branch: text().default(D.DEFAULT_GIT_STORE_BRANCH),
    /** A remote the branch is pushed to after each commit and restored from (https://, ssh://, file://, a path). */
    remote_url: text().optional(),
    username: text().optional(),
    password: secret().optional(),
    password_file: text().optional(),
    /** First wait after a failed push; it doubles up to 5 minutes. */
    push_retry_ms: int(10, Number.MAX_SAFE_INTEGER, " ms").default(D.DEFAULT_GIT_STORE_PUSH_RETRY_MS),
    author_name: text().default(D.DEFAULT_GIT_STORE_AUTHOR_NAME),
    author_email: text().default(D.DEFAULT_GIT_STORE_AUTHOR_EMAIL),
  },
  TABLE_ERROR,
);

/** [gwsync.signing]: signed artifacts (docs/production.md, "Signed artifacts"). */
export const GwsyncSigningKeys = z.strictObject(
  {
    /** The Ed25519 private key this publisher (or relay) signs with; `gwsync keys generate` writes one. */
    private_key_file: text().optional(),
    /** Public keys whose signatures are accepted; any given turns verification on (unsigned is refused). */
    trusted_keys: list(text()).optional(),
  },
  TABLE_ERROR,
);

export const GwsyncSectionKeys = z.strictObject(
  {
    /** Default: `<hostname>-<role>` (build-config.ts). */
    node_id: name(SAFE_NAME, SAFE_RULE).optional(),
    region: name(SAFE_NAME, SAFE_RULE).default(D.DEFAULT_REGION),
    /** Relative to the configuration file's folder, as every path. */
    data_dir: text().default(D.DEFAULT_DATA_DIR),
    http_port: int(0, MAX_PORT).default(D.DEFAULT_HTTP_PORT),
    /** Address the HTTP server binds to. */
    http_host: text().default(D.DEFAULT_HTTP_HOST),
    jndi_dir: text().default(D.DEFAULT_JNDI_DIR),
    /** Topic exchange the four streams travel on (WSO2's; tests use private ones). */
    exchange: name(SAFE_NAME, SAFE_RULE).default(D.DEFAULT_EXCHANGE),
    /** Max size of an inbound AMQP message body. */
    max_message_bytes: int(1, Number.MAX_SAFE_INTEGER, " bytes").default(D.DEFAULT_MAX_MESSAGE_BYTES),
    /** Max size of an artifact carried inline in an event (publish_directly_to_gateway). */
    max_inline_artifact_bytes: int(1, Number.MAX_SAFE_INTEGER, " bytes").default(
      D.DEFAULT_MAX_INLINE_ARTIFACT_BYTES,
    ),
    /**
     * Up to this many consecutive events of one runtime stream (token revocations, key managers, webhook
     * subscriptions) share one AMQP message, gwsync's batch format (src/events/batch.ts). 0: off, every
     * event is its own message in WSO2's format. Turn it on only when every consumer of the event hub
     * is a gwsync gateway or relay.
     */
    batch_runtime_events: int(0, MAX_BATCH_EVENTS, " events").default(D.DEFAULT_BATCH_RUNTIME_EVENTS),
    /** Durable gateway queue expiry when unused. */
    queue_expires_ms: int(1, Number.MAX_SAFE_INTEGER, " ms").default(D.DEFAULT_QUEUE_EXPIRES_MS),
    /** Durable gateway queue length bound (messages). */
    queue_max_length: int(1).default(D.DEFAULT_QUEUE_MAX_LENGTH),
    /**
     * The gateway's runtime window once 256 runtime messages in a row were at most 16 KB each (WSO2's
     * single events); back to 256 on a larger one or a gwsync batch. 256 or less: the window stays 256.
     */
    runtime_wide_prefetch: int(0, MAX_PREFETCH, " messages").default(D.DEFAULT_RUNTIME_WIDE_PREFETCH),
    queue_type: oneOf(["classic", "quorum"]).default(D.DEFAULT_QUEUE_TYPE),
    /** AMQP heartbeat. */
    heartbeat_sec: int(0, MAX_HEARTBEAT_SEC, " seconds").default(D.DEFAULT_HEARTBEAT_SEC),
    /** Catch-up timer (changelog poll); 0 disables the timer. */
    catch_up_interval_ms: int(0, Number.MAX_SAFE_INTEGER, " ms").default(D.DEFAULT_CATCH_UP_INTERVAL_MS),
    /**
     * A gateway declares its queues and binds them again on its live connection this often (jittered
     * ± 50 %), idempotently: a binding lost while the connection stays up (exchange deleted and
     * re-created, a cluster's node-down clean-up) is back within this time; a publisher binds its
     * heartbeat and report queues again as often. 0 disables (only each (re)connect declares them).
     */
    rebind_interval_ms: int(0, Number.MAX_SAFE_INTEGER, " ms").default(D.DEFAULT_REBIND_INTERVAL_MS),
    /** Outbox dispatcher poll when idle. */
    outbox_poll_ms: int(1, Number.MAX_SAFE_INTEGER, " ms").default(D.DEFAULT_OUTBOX_POLL_MS),
    /** A message redelivered more than this many times is dead-lettered. */
    max_deliveries: int(1).default(D.DEFAULT_MAX_DELIVERIES),
    /** Heartbeat period of a gateway. */
    heartbeat_interval_ms: int(1, Number.MAX_SAFE_INTEGER, " ms").default(
      D.DEFAULT_GATEWAY_HEARTBEAT_INTERVAL_MS,
    ),
    /** What this service's event hub speaks: WSO2 4.x (text/plain JSON) or 3.2.0 (JMS MapMessages). */
    hub_dialect: oneOf(HUB_DIALECTS).default(DEFAULT_HUB_DIALECT),
    /** A 3.2.0 hub's MapMessage layout. */
    hub_map_format: oneOf(MAP_FORMATS).default(DEFAULT_MAP_FORMAT),
    /** The control plane's data API a gateway calls: WSO2 4.x's runtime-artifacts or 3.2.0's synapse-artifacts. */
    data_api: oneOf(DATA_APIS).default(DEFAULT_DATA_API),
    /**
     * The tenant a gateway asks the data API for and deploys (`xWSO2Tenant`): a tenant domain, or "ALL"
     * (any case, the default) for every tenant (a WSO2 control plane then needs super-tenant credentials).
     */
    data_api_tenant: text().optional(),
    /**
     * Publisher: data-API requests (artifact listings, changelog pages) served at once; beyond it the
     * answer is 503 with a jittered Retry-After. Publishes, the REST API, probes and metrics are not counted.
     */
    data_api_max_in_flight: int(1).default(D.DEFAULT_DATA_API_MAX_IN_FLIGHT),
    /**
     * Publisher: how long (ms) a data-API request beyond data_api_max_in_flight waits for a slot, in
     * arrival order, before it is answered 503 with Retry-After; 0 refuses at once.
     */
    data_api_max_wait_ms: int(0, 60_000).default(D.DEFAULT_DATA_API_MAX_WAIT_MS),
    /**
     * A gateway's WSO2 tenant ids: tenant domain = numeric id; each tenant's artifacts go to
     * tenants_dir/<id>/synapse-configs/default as on a WSO2 gateway. Other tenants are refused.
     */
    tenants: z.record(z.string().min(1).max(255), int(1, 2_147_483_647)).optional(),
    /** Default: <CARBON_HOME>/repository/tenants when deployment_dir is WSO2's super-tenant folder. */
    tenants_dir: text().optional(),
    max_json_depth: int(1, MAX_JSON_DEPTH, " levels").default(D.DEFAULT_MAX_JSON_DEPTH),
    max_revoked_tokens: int(1).default(D.DEFAULT_MAX_REVOKED_TOKENS),
    max_revoked_token_length: int(1, Number.MAX_SAFE_INTEGER, " characters").default(
      D.DEFAULT_MAX_REVOKED_TOKEN_LENGTH,
    ),
    max_key_managers: int(1).default(D.DEFAULT_MAX_KEY_MANAGERS),
    max_webhook_subscriptions: int(1).default(D.DEFAULT_MAX_WEBHOOK_SUBSCRIPTIONS),
    /** Per kind: applications, subscriptions, policies, key mappings. */
    max_subscription_records: int(1).default(D.DEFAULT_MAX_SUBSCRIPTION_RECORDS),
    max_revocation_lifetime_ms: int(1, Number.MAX_SAFE_INTEGER, " ms").default(
      D.DEFAULT_MAX_REVOCATION_LIFETIME_MS,
    ),
    max_events_per_request: int(1, MAX_BATCH_EVENTS, " events").default(D.DEFAULT_MAX_EVENTS_PER_REQUEST),
    /** A graceful stop that takes longer ends the process anyway. */
    shutdown_timeout_ms: int(1, Number.MAX_SAFE_INTEGER, " ms").default(D.DEFAULT_SHUTDOWN_TIMEOUT_MS),
    /**
     * Relay: pass on DEPLOY/REMOVE events whose API the local store does not hold (a WSO2 control plane
     * with a database replicated between regions). Default false: only what the store holds crosses.
     */
    relay_foreign_artifact_events: bool().default(false),
    http: GwsyncHttpSchema.prefault({}),
    /** Watched folder of the publisher (files dropped there are published). */
    watch: GwsyncWatchSchema.optional(),
    /** A branch of a Git repository the publisher follows (GitOps); build-config.ts resolves it. */
    git_source: GwsyncGitSourceKeys.optional(),
    /** The Git artifact store (docs/git-store.md); build-config.ts resolves it into database.git. */
    git_store: GwsyncGitStoreKeys.optional(),
    /** What this process signs with and which signatures it accepts; build-config.ts reads the keys. */
    signing: GwsyncSigningKeys.optional(),
  },
  TABLE_ERROR,
);

/** [gwsync]: gwsync's own settings, as the services read them. */
export const GwsyncSectionSchema = GwsyncSectionKeys.transform((g) => ({
  nodeId: g.node_id,
  region: g.region,
  dataDir: g.data_dir,
  httpPort: g.http_port,
  httpHost: g.http_host,
  jndiDir: g.jndi_dir,
  exchange: g.exchange,
  http: g.http,
  maxMessageBytes: g.max_message_bytes,
  maxInlineArtifactBytes: g.max_inline_artifact_bytes,
  batchRuntimeEvents: g.batch_runtime_events,
  queueExpiresMs: g.queue_expires_ms,
  queueMaxLength: g.queue_max_length,
  runtimeWidePrefetch: g.runtime_wide_prefetch,
  queueType: g.queue_type,
  heartbeatSec: g.heartbeat_sec,
  catchUpIntervalMs: g.catch_up_interval_ms,
  rebindIntervalMs: g.rebind_interval_ms,
  outboxPollMs: g.outbox_poll_ms,
  maxDeliveries: g.max_deliveries,
  watch: g.watch,
  gitSource: g.git_source,
  gitStore: g.git_store,
  /** Limits on what input from outside may make a process hold (docs/production.md, "Limits"). */
  limits: {
    maxJsonDepth: g.max_json_depth,
    maxRevokedTokens: g.max_revoked_tokens,
    maxRevokedTokenLength: g.max_revoked_token_length,
    maxKeyManagers: g.max_key_managers,
    maxWebhookSubscriptions: g.max_webhook_subscriptions,
    maxSubscriptionRecords: g.max_subscription_records,
    maxRevocationLifetimeMs: g.max_revocation_lifetime_ms,
    maxEventsPerRequest: g.max_events_per_request,
  },
  shutdownTimeoutMs: g.shutdown_timeout_ms,
  relayForeignArtifactEvents: g.relay_foreign_artifact_events,
  signing: g.signing,
  heartbeatIntervalMs: g.heartbeat_interval_ms,
  hubDialect: g.hub_dialect,
  hubMapFormat: g.hub_map_format,
  dataApi: g.data_api,
  dataApiTenant: tenantSetting(g.data_api_tenant),
  dataApiMaxInFlight: g.data_api_max_in_flight,
  dataApiMaxWaitMs: g.data_api_max_wait_ms,
  /** [gwsync.tenants]: tenant domain → WSO2 tenant id, and where the tenants' folders are (resolved by build-config.ts). */
  tenants: {
    ids: new Map(Object.entries(g.tenants ?? {})) as ReadonlyMap<string, number>,
    dir: g.tenants_dir,
  },
}));

/** [gwsync] data_api_tenant: "ALL" (any case, or unset) is every tenant; else the tenant domain as written. */
function tenantSetting(v: string | undefined): string {
  const t = v?.trim();
  return !t || t.toUpperCase() === ALL_TENANTS ? ALL_TENANTS : t;
}

export const PublisherSectionKeys = z.looseObject(
  {
    /** Default "DBSaver", or "GitSaver" with [gwsync.git_store] (build-config.ts: the default depends on it). */
    artifact_saver: text().optional(),
    publish_directly_to_gateway: bool().default(D.DEFAULT_PUBLISH_DIRECTLY_TO_GATEWAY),
  },
  TABLE_ERROR,
);

/** [apim.sync_runtime_artifacts.publisher]; whether the section is there at all is build-config.ts's `enabled`. */
export const PublisherSectionSchema = PublisherSectionKeys.transform((p) => ({
  artifactSaver: p.artifact_saver,
  publishDirectlyToGateway: p.publish_directly_to_gateway,
}));

export const SkipListSchema = z.looseObject(
  {
    apis: list(text()).default([]),
    endpoints: list(text()).default([]),
    sequences: list(text()).default([]),
    local_entries: list(text()).default([]),
  },
  TABLE_ERROR,
);

export const GatewaySectionKeys = z.looseObject(
  {
    enable: bool().default(true),
    gateway_labels: list(text()).default(D.DEFAULT_GATEWAY_LABELS),
    artifact_retriever: text().default(D.DEFAULT_ARTIFACT_RETRIEVER),
    deployment_retry_duration: int(1, Number.MAX_SAFE_INTEGER, " ms").default(D.DEFAULT_RETRY_DURATION_MS),
    retry_progression_factor: num(1, MAX_PROGRESSION_FACTOR).default(D.DEFAULT_RETRY_PROGRESSION_FACTOR),
    max_retry_count: int(0).default(D.DEFAULT_MAX_RETRY_COUNT),
    /** gwsync's own: cap of one retry wait (at most one hour is used, as WSO2). */
    max_retry_delay: int(1, Number.MAX_SAFE_INTEGER, " ms").default(D.DEFAULT_MAX_RETRY_DELAY_MS),
    data_retrieval_mode: oneOf(["sync", "async"]).default(D.DEFAULT_DATA_RETRIEVAL_MODE),
    /** Its default depends on [apim.event_hub] event_waiting_time (build-config.ts). */
    event_waiting_time: int(0, Number.MAX_SAFE_INTEGER, " ms").optional(),
    /** In WSO2's docs but read by no WSO2 template; gwsync reads it. */
    save_artifacts_locally: bool().default(D.DEFAULT_SAVE_ARTIFACTS_LOCALLY),
    /** gwsync's own: where synapse files go (relative to the configuration file's folder). */
    deployment_dir: text().default(D.DEFAULT_DEPLOYMENT_DIR),
    /**
     * gwsync's own: apply the artifact a DEPLOY event carries instead of fetching it. Only when the
     * control plane sends them (publish_directly_to_gateway): otherwise an artifact in an event was put
     * there by someone else on the broker and is ignored.
     */
    accept_inline_artifacts: bool().default(false),
    skip_list: SkipListSchema.prefault({}),
  },
  TABLE_ERROR,
);

/** [apim.sync_runtime_artifacts.gateway], as the gateway reads it. */
export const GatewaySectionSchema = GatewaySectionKeys.transform((g) => ({
  enabled: g.enable,
  gatewayLabels: [...new Set(g.gateway_labels)],
  artifactRetriever: g.artifact_retriever,
  deploymentRetryDurationMs: g.deployment_retry_duration,
  retryProgressionFactor: g.retry_progression_factor,
  maxRetryCount: g.max_retry_count,
  maxRetryDelayMs: g.max_retry_delay,
  dataRetrievalMode: g.data_retrieval_mode,
  eventWaitingTimeMs: g.event_waiting_time,
  saveArtifactsLocally: g.save_artifacts_locally,
  deploymentDir: g.deployment_dir,
  acceptInlineArtifacts: g.accept_inline_artifacts,
  skipList: {
    apis: g.skip_list.apis,
    endpoints: g.skip_list.endpoints,
    sequences: g.skip_list.sequences,
    localEntries: g.skip_list.local_entries,
  },
}));

export const DatabaseSectionKeys = z.looseObject(
  {
    type: text().pipe(z.string().toLowerCase()).default(D.DEFAULT_DATABASE_TYPE),
    /** Default for SQLite: `<data_dir>/artifacts.db` (build-config.ts); required for the others. */
    url: text().optional(),
    username: text().optional(),
    password: secret().optional(),
    password_file: text().optional(),
    /** WSO2's pool options (Tomcat JDBC names); those gwsync maps are checked where the store opens. */
    pool_options: z.record(z.string(), z.unknown()).optional(),
  },
  TABLE_ERROR,
);

/** [database.sync_runtime_artifacts_db]; build-config.ts resolves the URL and the password. */
export const DatabaseSectionSchema = DatabaseSectionKeys.transform((d) => ({
  type: d.type as "sqlite" | "mysql" | "postgresql" | "h2" | (string & {}),
  url: d.url,
  username: d.username,
  password: d.password,
  passwordFile: d.password_file,
  /** WSO2's [database.<name>.pool_options] as written (maxActive, maxWait, minIdle...; src/store/connection.ts). */
  poolOptions: d.pool_options,
}));

export const EventHubJmsSchema = z.looseObject(
  { username: text().optional(), password: secret().optional(), ssl: bool().optional() },
  TABLE_ERROR,
);

export const EventHubSectionKeys = z.looseObject(
  {
    enable: bool().default(true),
    /** Base URL of the control plane's REST API ("/services..." cut off, as WSO2 does). */
    service_url: serviceUrl().default(D.DEFAULT_SERVICE_URL),
    /** Brokers to listen on, in failover order. */
    event_listening_endpoints: list(endpoint()).default(() =>
      D.DEFAULT_EVENT_LISTENING_ENDPOINTS.map(defaultEndpoint),
    ),
    event_duplicate_url: list(endpoint()).default([]),
    username: text().default(D.DEFAULT_EVENT_HUB_USERNAME),
    /** Default: DEFAULT_EVENT_HUB_PASSWORD when password_file is not given either (build-config.ts). */
    password: secret().optional(),
    /** gwsync's own: the password read from a file (a mounted secret). */
    password_file: text().optional(),
    /** gwsync's own: RabbitMQ vhost for tcp:// endpoints. */
    vhost: text().default(D.DEFAULT_VHOST),
    /**
     * How long after a notification or webhook message's timestamp it is acted on (EventHubConfigurationDto,
     * GatewayJMSMessageListener.java:94-103); when unset, the gateway block's key applies (build-config.ts).
     */
    event_waiting_time: int(0, Number.MAX_SAFE_INTEGER, " ms").optional(),
    ssl: bool().default(false),
    /** WSO2 4.x: broker credentials when they differ from the REST ones. */
    jms: EventHubJmsSchema.optional(),
  },
  TABLE_ERROR,
);

/** [apim.event_hub]; build-config.ts gives each broker its credentials. */
export const EventHubSectionSchema = EventHubSectionKeys.transform((e) => ({
  enable: e.enable,
  serviceUrl: e.service_url,
  eventListeningEndpoints: e.event_listening_endpoints,
  eventDuplicateUrl: e.event_duplicate_url,
  username: e.username,
  password: e.password,
  passwordFile: e.password_file,
  vhost: e.vhost,
  eventWaitingTimeMs: e.event_waiting_time,
  ssl: e.ssl,
  jms: e.jms,
}));

function defaultEndpoint(url: string): EndpointSpec {
  const u = new URL(url);
  return { protocol: "amqp", hostname: u.hostname, port: Number(u.port) };
}

export const ThrottlingSectionKeys = z.looseObject(
  {
    throttle_decision_endpoints: list(endpoint()).default([]),
    username: text().optional(),
    password: secret().optional(),
  },
  TABLE_ERROR,
);

/** [apim.throttling] broker names, where given (informational for gwsync). */
export const ThrottlingSectionSchema = ThrottlingSectionKeys.transform((t) => ({
  throttleDecisionEndpoints: t.throttle_decision_endpoints,
  username: t.username,
  password: t.password,
}));

export type GwsyncSection = z.output<typeof GwsyncSectionSchema>;
export type PublisherSection = z.output<typeof PublisherSectionSchema>;
export type GatewaySection = z.output<typeof GatewaySectionSchema>;
export type DatabaseSection = z.output<typeof DatabaseSectionSchema>;
export type EventHubSection = z.output<typeof EventHubSectionSchema>;
export type ThrottlingSection = z.output<typeof ThrottlingSectionSchema>;

/** The sections gwsync reads, by TOML path; `own` sections are gwsync's (strict). */
export const READ_SECTIONS = {
  gwsync: { schema: GwsyncSectionKeys, own: true },
  "gwsync.http": { schema: GwsyncHttpKeys, own: true },
  "gwsync.watch": { schema: GwsyncWatchKeys, own: true },
  "gwsync.git_source": { schema: GwsyncGitSourceKeys, own: true },
  "gwsync.git_store": { schema: GwsyncGitStoreKeys, own: true },
  "gwsync.signing": { schema: GwsyncSigningKeys, own: true },
  "apim.sync_runtime_artifacts.publisher": { schema: PublisherSectionKeys, own: false },
  "apim.sync_runtime_artifacts.gateway": { schema: GatewaySectionKeys, own: false },
  "apim.sync_runtime_artifacts.gateway.skip_list": { schema: SkipListSchema, own: false },
  "database.sync_runtime_artifacts_db": { schema: DatabaseSectionKeys, own: false },
  "apim.event_hub": { schema: EventHubSectionKeys, own: false },
  "apim.event_hub.jms": { schema: EventHubJmsSchema, own: false },
  "apim.throttling": { schema: ThrottlingSectionKeys, own: false },
} as const;

export type ReadSectionPath = keyof typeof READ_SECTIONS;

/** Tables that only lead to read sections: "apim", "apim.sync_runtime_artifacts", "database", the root. */
export const ANCESTOR_TABLES = new Set(["", "apim", "apim.sync_runtime_artifacts", "database"]);

export function knownKeys(section: ReadSectionPath): string[] {
  return Object.keys(READ_SECTIONS[section].schema.shape);
}
