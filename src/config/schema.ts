import { z } from "zod";
import { MAX_BATCH_EVENTS } from "../events/batch.js";
import { DATA_APIS } from "../data-api/wire.js";
import { HUB_DIALECTS, MAP_FORMATS } from "../events/dialect.js";
import { bool, int, list, name, num, oneOf, secret, TABLE_ERROR, text } from "./coerce.js";
import { type EndpointSpec, normalizeServiceUrl, parseEndpointString } from "./endpoints.js";

/**
 * One zod schema per section gwsync reads. gwsync's own sections are strict (an unknown key is a
 * typo to report); WSO2's are loose (WSO2 keys gwsync has no use for are listed at debug level).
 * z.input is what the file may say, z.output what the builder receives.
 */

/** Names a durable queue and a region file: AMQP- and file-system-safe. */
export const SAFE_NAME = /^[A-Za-z0-9._-]{1,128}$/;
const SAFE_RULE = 'use only letters, digits, ".", "_" and "-" (at most 128)';
const MAX_PORT = 65_535;
const MAX_PROGRESSION_FACTOR = 100;
/** AMQP 0-9-1 negotiates the heartbeat as a 16-bit number of seconds. */
const MAX_HEARTBEAT_SEC = 65_535;
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

export const GwsyncHttpSchema = z.strictObject(
  {
    username: text().optional(),
    password: secret().optional(),
    password_file: text().optional(),
    body_limit_bytes: int(1, Number.MAX_SAFE_INTEGER, " bytes").optional(),
    request_timeout_ms: int(1, Number.MAX_SAFE_INTEGER, " ms").optional(),
    connection_timeout_ms: int(1, Number.MAX_SAFE_INTEGER, " ms").optional(),
    keep_alive_timeout_ms: int(1, Number.MAX_SAFE_INTEGER, " ms").optional(),
    max_requests_per_socket: int(1).optional(),
    max_connections: int(1).optional(),
    max_param_length: int(1, MAX_PARAM_LENGTH, " characters").optional(),
  },
  TABLE_ERROR,
);

export const GwsyncWatchSchema = z.strictObject(
  {
    dir: text(),
    labels: list(text()).pipe(z.array(z.string()).min(1, { error: "must name at least one label" })),
    max_file_bytes: int(1, Number.MAX_SAFE_INTEGER, " bytes").optional(),
    follow_symlinks: bool().optional(),
    remove_grace_ms: int(0, Number.MAX_SAFE_INTEGER, " ms").optional(),
  },
  TABLE_ERROR,
);

/** [gwsync.git_source]: a branch of a repository whose folder the publisher publishes (GitOps). */
export const GwsyncGitSourceSchema = z.strictObject(
  {
    /** A repository URL (https://, ssh://, file://) or the path of a local repository. */
    url: text(),
    branch: text().optional(),
    /** The folder of the repository holding the artifacts (default: its root); not its subfolders. */
    folder: text().optional(),
    labels: list(text()).pipe(z.array(z.string()).min(1, { error: "must name at least one label" })),
    poll_interval_ms: int(100, Number.MAX_SAFE_INTEGER, " ms").optional(),
    username: text().optional(),
    password: secret().optional(),
    password_file: text().optional(),
    max_file_bytes: int(1, Number.MAX_SAFE_INTEGER, " bytes").optional(),
    max_files: int(1, Number.MAX_SAFE_INTEGER).optional(),
  },
  TABLE_ERROR,
);

/** [gwsync.signing]: signed artifacts (docs/production.md, "Signed artifacts"). */
export const GwsyncSigningSchema = z.strictObject(
  {
    /** The Ed25519 private key this publisher (or relay) signs with; `gwsync keys generate` writes one. */
    private_key_file: text().optional(),
    /** Public keys whose signatures are accepted; any given turns verification on (unsigned is refused). */
    trusted_keys: list(text()).optional(),
  },
  TABLE_ERROR,
);

export const GwsyncSectionSchema = z.strictObject(
  {
    node_id: name(SAFE_NAME, SAFE_RULE).optional(),
    region: name(SAFE_NAME, SAFE_RULE).optional(),
    data_dir: text().optional(),
    http_port: int(0, MAX_PORT).optional(),
    http_host: text().optional(),
    jndi_dir: text().optional(),
    exchange: name(SAFE_NAME, SAFE_RULE).optional(),
    max_message_bytes: int(1, Number.MAX_SAFE_INTEGER, " bytes").optional(),
    max_inline_artifact_bytes: int(1, Number.MAX_SAFE_INTEGER, " bytes").optional(),
    batch_runtime_events: int(0, MAX_BATCH_EVENTS, " events").optional(),
    queue_expires_ms: int(1, Number.MAX_SAFE_INTEGER, " ms").optional(),
    queue_max_length: int(1).optional(),
    queue_type: oneOf(["classic", "quorum"]).optional(),
    heartbeat_sec: int(0, MAX_HEARTBEAT_SEC, " seconds").optional(),
    catch_up_interval_ms: int(0, Number.MAX_SAFE_INTEGER, " ms").optional(),
    outbox_poll_ms: int(1, Number.MAX_SAFE_INTEGER, " ms").optional(),
    max_deliveries: int(1).optional(),
    heartbeat_interval_ms: int(1, Number.MAX_SAFE_INTEGER, " ms").optional(),
    /** What this service's event hub speaks: WSO2 4.x (text/plain JSON) or 3.2.0 (JMS MapMessages). */
    hub_dialect: oneOf(HUB_DIALECTS).optional(),
    /** A 3.2.0 hub's MapMessage layout. */
    hub_map_format: oneOf(MAP_FORMATS).optional(),
    /** The control plane's data API a gateway calls: WSO2 4.x's runtime-artifacts or 3.2.0's synapse-artifacts. */
    data_api: oneOf(DATA_APIS).optional(),
    /** The tenant a gateway serves: one tenant domain, or "ALL" (every tenant, the default). */
    data_api_tenant: text().optional(),
    max_json_depth: int(1, MAX_JSON_DEPTH, " levels").optional(),
    max_revoked_tokens: int(1).optional(),
    max_revoked_token_length: int(1, Number.MAX_SAFE_INTEGER, " characters").optional(),
    max_key_managers: int(1).optional(),
    max_webhook_subscriptions: int(1).optional(),
    max_subscription_records: int(1).optional(),
    max_revocation_lifetime_ms: int(1, Number.MAX_SAFE_INTEGER, " ms").optional(),
    max_events_per_request: int(1, MAX_BATCH_EVENTS, " events").optional(),
    shutdown_timeout_ms: int(1, Number.MAX_SAFE_INTEGER, " ms").optional(),
    /** Relay: also pass on DEPLOY/REMOVE events whose API the local store does not hold. */
    relay_foreign_artifact_events: bool().optional(),
    http: GwsyncHttpSchema.optional(),
    watch: GwsyncWatchSchema.optional(),
    git_source: GwsyncGitSourceSchema.optional(),
    signing: GwsyncSigningSchema.optional(),
  },
  TABLE_ERROR,
);

export const PublisherSectionSchema = z.looseObject(
  { artifact_saver: text().optional(), publish_directly_to_gateway: bool().optional() },
  TABLE_ERROR,
);

export const SkipListSchema = z.looseObject(
  {
    apis: list(text()).optional(),
    endpoints: list(text()).optional(),
    sequences: list(text()).optional(),
    local_entries: list(text()).optional(),
  },
  TABLE_ERROR,
);

export const GatewaySectionSchema = z.looseObject(
  {
    enable: bool().optional(),
    gateway_labels: list(text()).optional(),
    artifact_retriever: text().optional(),
    deployment_retry_duration: int(1, Number.MAX_SAFE_INTEGER, " ms").optional(),
    retry_progression_factor: num(1, MAX_PROGRESSION_FACTOR).optional(),
    max_retry_count: int(0).optional(),
    /** gwsync's own: cap of one retry wait. */
    max_retry_delay: int(1, Number.MAX_SAFE_INTEGER, " ms").optional(),
    data_retrieval_mode: oneOf(["sync", "async"]).optional(),
    event_waiting_time: int(0, Number.MAX_SAFE_INTEGER, " ms").optional(),
    /** In WSO2's docs but read by no WSO2 template; gwsync reads it. */
    save_artifacts_locally: bool().optional(),
    /** gwsync's own: where synapse files go. */
    deployment_dir: text().optional(),
    /** gwsync's own: apply artifacts carried in events; must agree with the publisher's publish_directly_to_gateway. */
    accept_inline_artifacts: bool().optional(),
    skip_list: SkipListSchema.optional(),
  },
  TABLE_ERROR,
);

export const DatabaseSectionSchema = z.looseObject(
  {
    type: text().pipe(z.string().toLowerCase()).optional(),
    url: text().optional(),
    username: text().optional(),
    password: secret().optional(),
    password_file: text().optional(),
    /** WSO2's pool options (Tomcat JDBC names); those gwsync maps are checked where the store opens. */
    pool_options: z.record(z.string(), z.unknown()).optional(),
  },
  TABLE_ERROR,
);

export const EventHubJmsSchema = z.looseObject(
  { username: text().optional(), password: secret().optional(), ssl: bool().optional() },
  TABLE_ERROR,
);

export const EventHubSectionSchema = z.looseObject(
  {
    enable: bool().optional(),
    service_url: serviceUrl().optional(),
    event_listening_endpoints: list(endpoint()).optional(),
    event_duplicate_url: list(endpoint()).optional(),
    username: text().optional(),
    password: secret().optional(),
    /** gwsync's own: the password read from a file (a mounted secret). */
    password_file: text().optional(),
    /** gwsync's own: RabbitMQ vhost for tcp:// endpoints. */
    vhost: text().optional(),
    event_waiting_time: int(0, Number.MAX_SAFE_INTEGER, " ms").optional(),
    ssl: bool().optional(),
    /** WSO2 4.x: broker credentials when they differ from the REST ones. */
    jms: EventHubJmsSchema.optional(),
  },
  TABLE_ERROR,
);

export const ThrottlingSectionSchema = z.looseObject(
  {
    throttle_decision_endpoints: list(endpoint()).optional(),
    username: text().optional(),
    password: secret().optional(),
  },
  TABLE_ERROR,
);

export type GwsyncSectionInput = z.input<typeof GwsyncSectionSchema>;
export type GwsyncSection = z.output<typeof GwsyncSectionSchema>;
export type PublisherSection = z.output<typeof PublisherSectionSchema>;
export type GatewaySection = z.output<typeof GatewaySectionSchema>;
export type DatabaseSection = z.output<typeof DatabaseSectionSchema>;
export type EventHubSection = z.output<typeof EventHubSectionSchema>;
export type ThrottlingSection = z.output<typeof ThrottlingSectionSchema>;

/** The sections gwsync reads, by TOML path; `own` sections are gwsync's (strict). */
export const READ_SECTIONS = {
  gwsync: { schema: GwsyncSectionSchema, own: true },
  "gwsync.http": { schema: GwsyncHttpSchema, own: true },
  "gwsync.watch": { schema: GwsyncWatchSchema, own: true },
  "gwsync.git_source": { schema: GwsyncGitSourceSchema, own: true },
  "gwsync.signing": { schema: GwsyncSigningSchema, own: true },
  "apim.sync_runtime_artifacts.publisher": { schema: PublisherSectionSchema, own: false },
  "apim.sync_runtime_artifacts.gateway": { schema: GatewaySectionSchema, own: false },
  "apim.sync_runtime_artifacts.gateway.skip_list": { schema: SkipListSchema, own: false },
  "database.sync_runtime_artifacts_db": { schema: DatabaseSectionSchema, own: false },
  "apim.event_hub": { schema: EventHubSectionSchema, own: false },
  "apim.event_hub.jms": { schema: EventHubJmsSchema, own: false },
  "apim.throttling": { schema: ThrottlingSectionSchema, own: false },
} as const;

export type ReadSectionPath = keyof typeof READ_SECTIONS;

/** Tables that only lead to read sections: "apim", "apim.sync_runtime_artifacts", "database", the root. */
export const ANCESTOR_TABLES = new Set(["", "apim", "apim.sync_runtime_artifacts", "database"]);

export function knownKeys(section: ReadSectionPath): string[] {
  return Object.keys(READ_SECTIONS[section].schema.shape);
}
