/**
 * The effective configuration, after the TOML file, $ref{...} references, string coercion and
 * GWSYNC_* environment overrides have been applied and validated. Every service receives this shape.
 * Keys follow WSO2's deployment.toml names where WSO2 has one, camelCased here.
 */
import type {
  DatabaseSection,
  EventHubSection,
  GatewaySection,
  GwsyncSection,
  PublisherSection,
} from "./schema.js";

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

/**
 * Every section is its schema's output (schema.ts: keys, rules and defaults in one place) with what only
 * build-config.ts can fill in: paths resolved against the configuration file's folder, passwords read
 * from their files, brokers given their credentials, one section's default taken from another.
 */
export interface GwsyncConfig {
  gwsync: Omit<GwsyncSection, "nodeId" | "http" | "watch" | "gitSource" | "gitStore" | "signing"> & {
    /** Default `<hostname>-<role>`. */
    nodeId: string;
    /**
     * HTTP Basic credentials for gwsync's HTTP endpoints (default: [apim.event_hub] username/password)
     * and the HTTP servers' limits.
     */
    http: { username: string; password: string } & HttpLimits;
    /** Watched folder of the publisher (files dropped there are published). Optional. */
    watch?: WatchConfig;
    /** A branch of a Git repository the publisher follows (GitOps). Optional. */
    gitSource?: GitSourceConfig;
    /** [gwsync.signing]: what this process signs with and which signatures it accepts. */
    signing: SigningConfig;
  };
  publisher: Omit<PublisherSection, "artifactSaver"> & {
    /** "DBSaver" (the database store) or "GitSaver" (the Git store, docs/git-store.md). */
    artifactSaver: string;
    /** [apim.sync_runtime_artifacts.publisher] present (WSO2: presence enables saving). */
    enabled: boolean;
  };
  gateway: Omit<GatewaySection, "eventWaitingTimeMs"> & {
    /** DBRetriever's fixed sleep before each single-API fetch; 0 when the event hub sets its own. */
    eventWaitingTimeMs: number;
  };
  database: DatabaseConfig;
  eventHub: Omit<
    EventHubSection,
    | "eventListeningEndpoints"
    | "eventDuplicateUrl"
    | "password"
    | "passwordFile"
    | "eventWaitingTimeMs"
    | "ssl"
    | "jms"
  > & {
    /** Brokers to listen on, in failover order, each with its credentials. */
    eventListeningEndpoints: BrokerEndpoint[];
    eventDuplicateUrl: BrokerEndpoint[];
    password: string;
    eventWaitingTimeMs: number;
  };
  /** [apim.throttling] broker names, where given (informational for gwsync). */
  throttling: { throttleDecisionEndpoints: BrokerEndpoint[] };
}

/**
 * [database.sync_runtime_artifacts_db] resolved: the URL (an SQLite path made absolute), the password
 * read. Declared here rather than derived from DatabaseSectionSchema because it is also a connection
 * spec built without a file (`gwsync store migrate --to URL`, tests).
 */
export interface DatabaseConfig {
  type: DatabaseSection["type"];
  url: string;
  username?: string;
  password?: string;
  /** WSO2's [database.<name>.pool_options] as written (maxActive, maxWait, minIdle...; src/store/connection.ts). */
  poolOptions?: Record<string, unknown>;
  /**
   * The Git artifact store (artifact_saver = "GitSaver" or [gwsync.git_store]): artifacts and their
   * history in a Git repository, the changelog and outbox in the SQLite file above (src/store/git/).
   */
  git?: GitStoreConfig;
}

/** [gwsync.git_store] resolved: the Git artifact store (docs/git-store.md). */
export interface GitStoreConfig {
  /** The local repository (bare), an absolute path; created when missing. */
  repository: string;
  branch: string;
  /** A remote the branch is pushed to and restored from: a URL, or an absolute path. */
  remoteUrl?: string;
  /** HTTP Basic credentials for the remote (never logged, never on git's command line). */
  username?: string;
  password?: string;
  /** First wait after a failed push, ms; it doubles up to 5 minutes. */
  pushRetryMs: number;
  authorName: string;
  authorEmail: string;
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
export type HttpLimits = Omit<GwsyncSection["http"], "username" | "password" | "passwordFile">;

/** [gwsync.watch]: the publisher's drop folder (`dir` resolved). */
export type WatchConfig = NonNullable<GwsyncSection["watch"]>;

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
export type Limits = GwsyncSection["limits"];

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
