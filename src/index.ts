/** gwsync's public API: the plugin hook, the services and the configuration loader. */
export { createGateway, Gateway, type GatewayOptions, type StartupState } from "./gateway/gateway.js";
export type { ArtifactRetriever, RetrievedArtifact } from "./gateway/retriever.js";
export { HttpArtifactRetriever } from "./gateway/retriever.js";
export { createPublisher, Publisher, type DeployResult, type PublisherOptions } from "./publisher/publisher.js";
export { PublisherService } from "./publisher/service.js";
export { createRelay, Relay, type RelayOptions } from "./relay/relay.js";
export type { StreamEvent } from "./publisher/events-out.js";
export { loadConfig } from "./config/load-config.js";
export { parseJndiProperties, parseQpidConnectionUrl } from "./config/jndi.js";
export type { GwsyncConfig, Role, BrokerEndpoint } from "./config/types.js";
export type { ArtifactStore, StoredArtifact, ChangeRecord } from "./store/types.js";
export { openStore } from "./store/open-store.js";
export type { GatewayApiDto } from "./artifacts/types.js";
export { decodeEvent } from "./events/decode.js";
export type { InboundEvent } from "./events/types.js";
export { GwsyncError, type ErrorCode, ERROR_CODES } from "./errors.js";
export { createLogger } from "./log.js";
