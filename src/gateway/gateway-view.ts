import type { BrokerStatus } from "../amqp/connection.js";
import type { GwsyncConfig } from "../config/types.js";
import type { GatewayMetrics } from "../http/metrics.js";
import type { DeployedApi } from "./deploy/deployer.js";
import type { StartupState } from "./gateway-types.js";
import type { KeyManagerStore } from "./runtime/key-managers.js";
import type { RevokedTokenStore } from "./runtime/revoked-tokens.js";
import type { RuntimeState } from "./runtime/runtime-state.js";
import type { SubscriptionDataStore } from "./runtime/subscriptions.js";
import type { WebhookSubscriptionStore } from "./runtime/webhook-subscriptions.js";

/**
 * What the gateway's HTTP routes, embedders and tests may see of a running gateway: reads only. The
 * deployer, the runtime stores, the reconciler and the metrics' counters stay inside `Gateway`, so
 * nothing outside the message path can deploy, apply an event or move a counter.
 */
export interface GatewayView {
  readonly config: GwsyncConfig;
  readonly startup: StartupState;
  /** Async mode at once; sync mode once the startup deployment is done or its retries are spent. */
  readonly ready: boolean;
  /** Deployed files vanished and are being put back (/readyz 503 `restoring`). */
  readonly restoring: boolean;
  readonly brokerStatus: BrokerStatus | { state: "not-started" };
  /** The changelog sequence applied so far. */
  readonly watermark: number;
  /** A catch-up from the changelog is running (/readyz `catchUp: "running"`). */
  readonly catchingUp: boolean;
  readonly deployer: DeployedApis;
  readonly runtime: RuntimeView;
  readonly metrics: MetricsView;
}

/** The APIs a gateway serves, as its deployer records them. */
export interface DeployedApis {
  get(apiId: string): DeployedApi | undefined;
  deployed(): DeployedApi[];
  readonly size: number;
}

/**
 * The runtime state a gateway holds (revoked tokens, key managers, webhook subscriptions, subscription
 * data), read only. `flush` makes what is applied durable now and `purgeExpired` drops what time has
 * already ended: neither changes what the gateway would serve.
 */
export interface RuntimeView {
  readonly revokedTokens: Pick<
    RevokedTokenStore,
    "isRevoked" | "isConsumerKeyRevoked" | "held" | "size" | "purgeExpired"
  >;
  readonly keyManagers: Pick<KeyManagerStore, "get" | "snapshot" | "size">;
  readonly webhookSubscriptions: Pick<WebhookSubscriptionStore, "query" | "snapshot" | "size">;
  readonly subscriptionData: Pick<SubscriptionDataStore, "snapshot"> & {
    readonly applications: Pick<SubscriptionDataStore["applications"], "get" | "size">;
  };
  counts(): ReturnType<RuntimeState["counts"]>;
  flush(): void;
}

/** The gateway's metrics as /metrics serves them. */
export type MetricsView = Pick<GatewayMetrics, "registry" | "text">;
