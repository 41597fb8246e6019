/**
 * gwsync's public API. What this file exports is the contract of the `gwsync` package (semver applies
 * to it); every other module is internal and not reachable from outside (package.json `exports`).
 * test/integration/package.test.ts installs the packed package and type-checks a strict consumer.
 */

// The control plane's plugin hook and service.
export {
  createPublisher,
  type DeployResult,
  type RollbackResult,
  Publisher,
  type PublisherEvents,
  type PublisherOptions,
} from "./publisher/publisher.js";
export { PublisherService } from "./publisher/service.js";
export type { ApiHistory, FileChange, RevisionDiff } from "./publisher/revisions.js";
export type { ArtifactInput } from "./publisher/artifact-input.js";
export type { StreamEvent } from "./publisher/events-out.js";
export type {
  KeyManagerInput,
  TokenRevocationInput,
  WebhookSubscriptionInput,
} from "./events/encode.js";

// The gateway sidecar.
export {
  createGateway,
  Gateway,
  type GatewayEvents,
  type GatewayOptions,
  type StartupState,
} from "./gateway/gateway.js";
export type { ReconcileOutcome } from "./gateway/reconciler.js";
export type { ApplyResult } from "./gateway/runtime/runtime-state.js";
export {
  type ArtifactRetriever,
  HttpArtifactRetriever,
  type HttpRetrieverOptions,
  type RetrievedArtifact,
} from "./gateway/retriever.js";
export type { BrokerStatus } from "./amqp/connection.js";

// The cross-region relay.
export { createRelay, Relay, type RelayEvents, type RelayOptions } from "./relay/relay.js";

// Configuration.
export {
  ConfigError,
  isConfigError,
  type LoadConfigOptions,
  type LoadConfigResult,
  loadConfig,
} from "./config/load-config.js";
export type { BrokerEndpoint, ConfigProblem, GwsyncConfig, Role } from "./config/types.js";
export { parseJndiProperties, parseQpidConnectionUrl } from "./config/jndi.js";

// The store.
export { openStore } from "./store/open-store.js";
export type {
  ArtifactStore,
  ChangeRecord,
  GatewayInstruction,
  RevisionRecord,
  StoredArtifact,
  StoredRevision,
} from "./store/types.js";

// Artifacts and events on the wire.
export type { GatewayApiDto } from "./artifacts/types.js";
export { decodeEvent } from "./events/decode.js";
export type { InboundEvent } from "./events/types.js";

// Errors and logging.
export { ERROR_CODES, type ErrorCode, GwsyncError, isGwsyncError } from "./errors.js";
export { createLogger, type Logger, type LogOptions } from "./log.js";
