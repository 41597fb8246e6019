/**
 * The effective configuration, after the TOML file, $ref{...} references, string coercion and
 * GWSYNC_* environment overrides have been applied and validated. Every service receives this shape.
 * Keys follow WSO2's deployment.toml names where WSO2 has one, camelCased here.
 */
import type { DataApi } from "../data-api/wire.js";
import type { HubDialect, MapFormat } from "../events/dialect.js";

export type Role = "publisher" | "gateway" | "relay";

export interface BrokerEndpoint {
  /** amqp: or amqps: */
  protocol: "amqp" | "amqps";
  hostname: string;
  port: number;
  username: string;
  password: string;
  vhost: string;
  /** Per-broker reconnect options from a Qpid brokerlist ('retries', 'connectdelay'). */
  retries?: number;
  connectDelayMs?: number;
}

export interface GwsyncConfig {
  gwsync: {
    nodeId: string;
    region: string;
    dataDir: string;
    httpPort: number;
    /** Address the HTTP server binds to. Default 127.0.0.1. */
    httpHost: string;
    jndiDir: string;
    /** Topic exchange the four streams travel on. Default "amq.topic" (WSO2's); tests use private ones. */
    exchange?: string;
    /**
     * HTTP Basic credentials for gwsync's HTTP endpoints (default: [apim.event_hub] username/password)
     * and the HTTP servers' limits.
     */
    http: { username: string; password: string } & HttpLimits;
    /** Max size of an inbound AMQP message body, bytes. Default 4 MiB. */
    maxMessageBytes: number;
    /** Max size of an artifact carried inline in an event (publish_directly_to_gateway), bytes. Default 1 MiB. */
    maxInlineArtifactBytes: number;
    /**
     * Up to this many consecutive events of one runtime stream (token revocations, key managers, webhook
     * subscriptions) share one AMQP message, gwsync's batch format (src/events/batch.ts). Default 0: off,
     * every event is its own message in WSO2's format. Turn it on only when every consumer of the event
     * hub is a gwsync gateway or relay.
     */
    batchRuntimeEvents: number;
    /** Durable gateway queue expiry when unused, ms. Default 14 days. */
    queueExpiresMs: number;
    /** Durable gateway queue length bound (messages). Default 1,000,000. */
    queueMaxLength: number;
    /** "classic" | "quorum" */
    queueType: "classic" | "quorum";
    /** AMQP heartbeat, seconds. Default 10. */
    heartbeatSec: number;
    /** Catch-up timer (changelog poll), ms. Default 60,000. 0 disables the timer. */
    catchUpIntervalMs: number;
    /** Outbox dispatcher poll when idle, ms. Default 200. */
    outboxPollMs: number;
    /** A message redelivered more than this many times is dead-lettered. Default 5. */
    maxDeliveries: number;
    /** Watched folder of the publisher (files dropped there are published). Optional. */
    watch?: WatchConfig;
    /** A branch of a Git repository the publisher follows (GitOps). Optional. */
    gitSource?: GitSourceConfig;
    /** Limits on what input from outside may make a process hold (docs/production.md, "Limits"). */
    limits: Limits;
    /** A graceful stop that takes longer ends the process anyway, ms. Default 25,000. */
    shutdownTimeoutMs: number;
    /**
     * Relay: pass on DEPLOY/REMOVE events whose API the local store does not hold (a WSO2 control plane
     * with a database replicated between regions). Default false: only what the store holds crosses.
     */
    relayForeignArtifactEvents: boolean;
    /** [gwsync.signing]: what this process signs with and which signatures it accepts. */
    signing: SigningConfig;
    /** Heartbeat period of a gateway, ms. Default 5,000. */
    heartbeatIntervalMs: number;
    /** What the event hub this service publishes to speaks (src/events/dialect.ts). Default "4.x". */
    hubDialect: HubDialect;
    /** The MapMessage layout of a 3.2.0 hub. Default "jms/map-message". */
    hubMapFormat: MapFormat;
    /** The control plane's data API a gateway calls (src/data-api/wire.ts). Default "4.x". */
    dataApi: DataApi;
    /**
     * The tenant a gateway asks the data API for and deploys (`xWSO2Tenant`): a tenant domain, or "ALL"
     * for every tenant (the default; a WSO2 control plane then needs super-tenant credentials).
     */
    dataApiTenant: string;
  };
  publisher: {
    /** [apim.sync_runtime_artifacts.publisher] present. */
    enabled: boolean;
    artifactSaver: string; // "DBSaver"
    publishDirectlyToGateway: boolean;
  };
  gateway: {
    enabled: boolean;
    gatewayLabels: string[];
    artifactRetriever: string; // "DBRetriever"
    deploymentRetryDurationMs: number;
    retryProgressionFactor: number;
    maxRetryCount: number;
    /** Cap of one retry wait, ms. Default 3,600,000 (one hour). */
    maxRetryDelayMs: number;
    dataRetrievalMode: "sync" | "async";
    eventWaitingTimeMs: number;
    saveArtifactsLocally: boolean;
    deploymentDir: string;
    /**
     * Apply the artifact a DEPLOY event carries instead of fetching it (gwsync's own key). Only when the
     * control plane sends them (publish_directly_to_gateway): otherwise an artifact in an event was put
     * there by someone else on the broker and is ignored. Default false.
     */
    acceptInlineArtifacts: boolean;
    skipList: { apis: string[]; endpoints: string[]; sequences: string[]; localEntries: string[] };
  };
  database: {
    type: "sqlite" | "mysql" | "postgresql" | "h2" | string;
    url: string;
    username?: string;
    password?: string;
    /** WSO2's [database.<name>.pool_options] as written (maxActive, maxWait, minIdle...; src/store/connection.ts). */
    poolOptions?: Record<string, unknown>;
  };
  eventHub: {
    enable: boolean;
    /** Base URL of the control plane's REST API ("/services..." cut off, as WSO2 does). */
    serviceUrl: string;
    /** Brokers to listen on, in failover order. */
    eventListeningEndpoints: BrokerEndpoint[];
    eventDuplicateUrl: BrokerEndpoint[];
    username: string;
    password: string;
    vhost: string;
    eventWaitingTimeMs: number;
  };
  /** [apim.throttling] broker names, where given (informational for gwsync). */
  throttling: { throttleDecisionEndpoints: BrokerEndpoint[] };
}

/** [gwsync.signing], the key files read and checked at load time. */
export interface SigningConfig {
  /** PEM of the Ed25519 private key (a secret: masked by config check). */
  privateKeyPem?: string;
  privateKeyFile?: string;
  /** Trusted public keys; verification is on when there is at least one. */
  trustedKeys: { file: string; pem: string }[];
}

/** [gwsync.http] limits: fastify's and Node's server options (docs/production.md, "Limits"). */
export interface HttpLimits {
  bodyLimitBytes: number;
  requestTimeoutMs: number;
  connectionTimeoutMs: number;
  keepAliveTimeoutMs: number;
  maxRequestsPerSocket: number;
  maxConnections: number;
  maxParamLength: number;
}

/** [gwsync.watch]: the publisher's drop folder. */
export interface WatchConfig {
  dir: string;
  labels: string[];
  maxFileBytes: number;
  /** Publish what a symlink in the folder points to (default false: symlinks are refused). */
  followSymlinks: boolean;
  removeGraceMs: number;
}

/** [gwsync.git_source]: a branch whose folder the publisher publishes (src/publisher/git-source.ts). */
export interface GitSourceConfig {
  /** A URL, or an absolute path (a relative one resolved against the configuration file's folder). */
  url: string;
  branch: string;
  /** Folder inside the repository, without leading or trailing slashes ("" for the root). */
  folder: string;
  labels: string[];
  pollIntervalMs: number;
  username?: string;
  password?: string;
  maxFileBytes: number;
  maxFiles: number;
}

/** [gwsync] limits on input from outside. */
export interface Limits {
  maxJsonDepth: number;
  maxRevokedTokens: number;
  maxRevokedTokenLength: number;
  maxKeyManagers: number;
  maxWebhookSubscriptions: number;
  /** Per kind: applications, subscriptions, policies, key mappings. */
  maxSubscriptionRecords: number;
  maxRevocationLifetimeMs: number;
  maxEventsPerRequest: number;
}

/** One problem found while loading: its key path and what is wrong. */
export interface ConfigProblem {
  key: string;
  message: string;
  /** The GWSYNC_* environment variable the bad value came from, when it did. */
  env?: string;
  /** Position in the TOML file, for syntax errors. */
  line?: number;
  column?: number;
}
