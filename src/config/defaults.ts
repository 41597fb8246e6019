/** Defaults of every key (docs/architecture.md#configuration); paths are relative to the configuration file's folder. */

export const DEFAULT_REGION = "default";
export const DEFAULT_DATA_DIR = "./data";
export const DEFAULT_HTTP_PORT = 9763;
export const DEFAULT_HTTP_HOST = "127.0.0.1";
export const DEFAULT_JNDI_DIR = "./jndi";
export const DEFAULT_MAX_MESSAGE_BYTES = 4 * 1024 * 1024;
export const DEFAULT_MAX_INLINE_ARTIFACT_BYTES = 1024 * 1024;
/** Off: every runtime event is its own message in WSO2's format, which WSO2's own consumers can read. */
export const DEFAULT_BATCH_RUNTIME_EVENTS = 0;
/** Kong purges silent data planes after 14 days; a gone gateway's queue expires the same way. */
export const DEFAULT_QUEUE_EXPIRES_MS = 14 * 24 * 60 * 60 * 1000;
export const DEFAULT_QUEUE_MAX_LENGTH = 1_000_000;
export const DEFAULT_QUEUE_TYPE = "classic";
export const DEFAULT_HEARTBEAT_SEC = 10;
export const DEFAULT_CATCH_UP_INTERVAL_MS = 60_000;
export const DEFAULT_OUTBOX_POLL_MS = 200;
export const DEFAULT_MAX_DELIVERIES = 5;
export const DEFAULT_GATEWAY_HEARTBEAT_INTERVAL_MS = 5_000;

export const DEFAULT_ARTIFACT_SAVER = "DBSaver";
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
