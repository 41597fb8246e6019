/**
 * Defaults of every key (docs/architecture.md#configuration), each a named constant with its unit; the
 * schemas (schema.ts) attach them to their keys, and library callers that pass no configuration use
 * them too. Paths are relative to the configuration file's folder.
 */

export const DEFAULT_REGION = "default";
export const DEFAULT_DATA_DIR = "./data";
export const DEFAULT_HTTP_PORT = 9763;
export const DEFAULT_HTTP_HOST = "127.0.0.1";
export const DEFAULT_JNDI_DIR = "./jndi";
/** WSO2's topic exchange for the four streams. */
export const DEFAULT_EXCHANGE = "amq.topic";
export const DEFAULT_MAX_MESSAGE_BYTES = 4 * 1024 * 1024;
export const DEFAULT_MAX_INLINE_ARTIFACT_BYTES = 1024 * 1024;
/** Off: every runtime event is its own message in WSO2's format, which WSO2's own consumers can read. */
export const DEFAULT_BATCH_RUNTIME_EVENTS = 0;
/** Kong purges silent data planes after 14 days; a gone gateway's queue expires the same way. */
export const DEFAULT_QUEUE_EXPIRES_MS = 14 * 24 * 60 * 60 * 1000;
export const DEFAULT_QUEUE_MAX_LENGTH = 1_000_000;
/**
 * A gateway's runtime window once its runtime messages are small (src/gateway/gateway-types.ts,
 * RUNTIME_SMALL_BYTES). B4 on the WSO2 wire: +17 % events/s against a fixed 256 (BENCHMARKS.md, issue 19).
 * Memory while wide: 2048 × 16 KB, plus what the broker had already sent when larger messages came (up to
 * this many: a publisher that starts batching in a storm), so a hub with batch_runtime_events on may set
 * runtime_wide_prefetch = 256 (fixed window).
 */
export const DEFAULT_RUNTIME_WIDE_PREFETCH = 2048;
export const DEFAULT_QUEUE_TYPE = "classic";
export const DEFAULT_HEARTBEAT_SEC = 10;
export const DEFAULT_CATCH_UP_INTERVAL_MS = 60_000;
/**
 * A gateway re-asserts its queues and bindings on its live connection this often (± 50 %, at random):
 * a binding lost while the connection stays up would otherwise lose runtime events until a reconnect.
 */
export const DEFAULT_REBIND_INTERVAL_MS = 300_000;
/**
 * Data-API requests a publisher serves at once; more are answered 503 with Retry-After. A listing
 * page of 500 APIs of 5 KB is 2.5 MB of reply: 32 at once bound that memory at about 80 MB.
 */
export const DEFAULT_DATA_API_MAX_IN_FLIGHT = 32;
/**
 * How long a data-API request beyond that bound waits for a slot before 503: every gateway of a label
 * fetching one announced artifact at once (1,000 gateways, ~1 ms each) drains well within it.
 */
export const DEFAULT_DATA_API_MAX_WAIT_MS = 2_000;
export const DEFAULT_OUTBOX_POLL_MS = 200;
export const DEFAULT_MAX_DELIVERIES = 5;
export const DEFAULT_GATEWAY_HEARTBEAT_INTERVAL_MS = 5_000;

/*
 * Limits (docs/production.md, "Limits"): each bounds memory, descriptors or time that input from
 * outside could otherwise take without end; each refusal counts in gwsync_limit_exceeded_total{limit}.
 */
/** WSO2's deepest payloads nest fewer than 10 levels (defined beside the parser that enforces it). */
export { DEFAULT_MAX_JSON_DEPTH } from "../security/json-limits.js";
/** Revoked tokens and revocation rules one gateway holds (~0.4 KB each with a 342-character key). */
export const DEFAULT_MAX_REVOKED_TOKENS = 100_000;
/** An RS512 JWT signature over a 4096-bit key is 683 characters; JTIs and opaque tokens are 36. */
export const DEFAULT_MAX_REVOKED_TOKEN_LENGTH = 1024;
/** Key managers one gateway holds (a WSO2 deployment has a handful per organization). */
export const DEFAULT_MAX_KEY_MANAGERS = 1_000;
/** Live WebSub subscriptions one gateway holds (~0.5 KB each). */
export const DEFAULT_MAX_WEBHOOK_SUBSCRIPTIONS = 100_000;
/** Applications, subscriptions, policies and key mappings one gateway holds, each kind (~0.3 KB each). */
export const DEFAULT_MAX_SUBSCRIPTION_RECORDS = 500_000;
/** A revocation is kept until its token expires, but never longer than this (WSO2's longest default token life is a day). */
export const DEFAULT_MAX_REVOCATION_LIFETIME_MS = 30 * 24 * 60 * 60 * 1000;
/** Events one REST request may carry (a batch of revocations is one transaction). */
export const DEFAULT_MAX_EVENTS_PER_REQUEST = 1000;
/** A stop that takes longer (a stuck disk, a wedged connection) ends the process anyway (systemd waits 30 s). */
export const DEFAULT_SHUTDOWN_TIMEOUT_MS = 25_000;
export const DEFAULT_HTTP_BODY_LIMIT_BYTES = 8 * 1024 * 1024;
/** Whole request, headers and body: a client that trickles a body a byte at a time is cut off. */
export const DEFAULT_HTTP_REQUEST_TIMEOUT_MS = 30_000;
/** An idle socket is closed. */
export const DEFAULT_HTTP_CONNECTION_TIMEOUT_MS = 60_000;
export const DEFAULT_HTTP_KEEP_ALIVE_TIMEOUT_MS = 5_000;
export const DEFAULT_HTTP_MAX_REQUESTS_PER_SOCKET = 1000;
/**
 * Open HTTP connections; more are closed as they come. A publisher's data API holds one to four
 * keep-alive sockets per gateway (DATA_API_MAX_SOCKETS): at 1,000 gateways 512 filled up and every
 * publish stalled behind dropped fetches; 4,096 served them with none dropped (BENCHMARKS.md, B8 run 4).
 */
export const DEFAULT_HTTP_MAX_CONNECTIONS = 4096;
/** A path parameter (GET /api/v1/revoked-tokens/{token}) must fit the longest revoked token. */
export const DEFAULT_HTTP_MAX_PARAM_LENGTH = 4096;
/** Largest file the watched folder reads (an artifact is kilobytes). */
export const DEFAULT_WATCH_MAX_FILE_BYTES = 8 * 1024 * 1024;
/** A file gone from the watched folder removes its API only if no file holds it again within this time (a rename). */
export const DEFAULT_WATCH_REMOVE_GRACE_MS = 2000;

/** [gwsync.git_source]: the branch followed when none is named. */
export const DEFAULT_GIT_SOURCE_BRANCH = "main";
/** How often the followed branch is fetched. */
export const DEFAULT_GIT_SOURCE_POLL_MS = 30_000;
/** Most artifact files one commit of a followed branch may hold in its folder. */
export const DEFAULT_GIT_SOURCE_MAX_FILES = 10_000;
/** How long one git command may run before it is ended (a fetch over a slow link included). */
export const DEFAULT_GIT_TIMEOUT_MS = 120_000;

/** [gwsync.git_store]: the repository, under data_dir, when none is named. */
export const DEFAULT_GIT_STORE_REPOSITORY = "artifacts.git";
export const DEFAULT_GIT_STORE_BRANCH = "main";
/** First wait after a failed push of the Git store's branch (doubles up to 5 minutes). */
export const DEFAULT_GIT_STORE_PUSH_RETRY_MS = 5_000;
export const DEFAULT_GIT_STORE_AUTHOR_NAME = "gwsync";
export const DEFAULT_GIT_STORE_AUTHOR_EMAIL = "gwsync@localhost";

export const DEFAULT_ARTIFACT_SAVER = "DBSaver";
/** WSO2-style names of the Git artifact store's saver and retriever (docs/git-store.md). */
export const GIT_ARTIFACT_SAVER = "GitSaver";
export const GIT_ARTIFACT_RETRIEVER = "GitRetriever";
export const DEFAULT_ARTIFACT_RETRIEVER = "DBRetriever";
/** docs/architecture.md#configuration: gwsync's own default; WSO2 3.2.0 defaulted publish_directly_to_gateway to true. */
export const DEFAULT_PUBLISH_DIRECTLY_TO_GATEWAY = false;
/** WSO2 4.x default.json. */
export const DEFAULT_GATEWAY_LABELS = ["Default"];
export const DEFAULT_RETRY_DURATION_MS = 15_000;
export const DEFAULT_RETRY_PROGRESSION_FACTOR = 2.0;
export const DEFAULT_MAX_RETRY_COUNT = 5;
export const DEFAULT_MAX_RETRY_DELAY_MS = 60 * 60 * 1000;
/** WSO2's Java and 3.2.0 default; 4.x default.json says "async". */
export const DEFAULT_DATA_RETRIEVAL_MODE = "sync";
export const DEFAULT_EVENT_WAITING_TIME_MS = 0;
export const DEFAULT_SAVE_ARTIFACTS_LOCALLY = true;
export const DEFAULT_DEPLOYMENT_DIR = "./deployment/synapse-configs/default";

export const DEFAULT_DATABASE_TYPE = "sqlite";
/** Inside data_dir. */
export const DEFAULT_SQLITE_FILE = "artifacts.db";

export const DEFAULT_SERVICE_URL = "http://localhost:9763";
export const DEFAULT_EVENT_LISTENING_ENDPOINTS = ["tcp://localhost:5672"];
/** RabbitMQ's out-of-the-box user, not WSO2's admin/admin. */
export const DEFAULT_EVENT_HUB_USERNAME = "guest";
export const DEFAULT_EVENT_HUB_PASSWORD = "guest";
export const DEFAULT_VHOST = "/";
