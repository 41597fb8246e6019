import type { BrokerStatus, OpenConnection } from "../amqp/connection.js";
import type { Outcome } from "../amqp/consumer.js";
import type { GwsyncConfig } from "../config/types.js";
import type { Logger } from "../log.js";
import type { ApiDeployer } from "./deploy/deployer.js";
import type { ReconcileOutcome } from "./reconciler.js";
import type { ArtifactRetriever } from "./retriever.js";
import type { ApplyResult } from "./runtime/runtime-state.js";

/** Unacked artifact events: each may carry an inline artifact (up to max_inline_artifact_bytes). */
export const DEFAULT_PREFETCH = 64;
/**
 * Unacked runtime events (as the relay's priority lane). They are acked in groups after one fsync: a
 * window of 64 emptied while the fsync ran, and the broker, its consumers behind, then kept the backlog
 * on disk and spent about twice the CPU per message (BENCHMARKS.md, B4). Memory bound: this many
 * messages of at most max_message_bytes. The window widens to `[gwsync] runtime_wide_prefetch` while the
 * messages are small (below).
 */
export const RUNTIME_PREFETCH = 256;
/**
 * Runtime messages of at most this size are small: after RUNTIME_PREFETCH of them in a row the window
 * widens to `[gwsync] runtime_wide_prefetch` (DEFAULT_RUNTIME_WIDE_PREFETCH); a larger one, or a gwsync
 * batch whatever its size, takes it back to RUNTIME_PREFETCH. WSO2's single events are under 1 KB.
 */
export const RUNTIME_SMALL_BYTES = 16 * 1024;

/** Startup deployment, as /readyz reports it. */
export type StartupState =
  | { phase: "loading" }
  | { phase: "done"; deployed: number; total: number; ms: number }
  /** Control plane unreachable after the retries: serving last-known-good, still retrying. */
  | { phase: "stale"; error: string };

/**
 * What `gateway.events` emits, by event name: the listener's arguments. Tests and embedders count
 * these instead of sleeping.
 */
export interface GatewayEvents {
  /** After every reconcile of an API, whatever brought it (event, startup load, catch-up). */
  applied: [outcome: ReconcileOutcome, apiId: string];
  /** Per delivery settled: how (ack, reject = dead-lettered, retry = requeued). */
  handled: [stream: string, kind: Outcome["kind"], messageId: string | undefined];
  /** Per message dead-lettered or artifact refused. */
  rejected: [stream: string, reason: string, apiId?: string];
  /** Per runtime-stream event (token revocation, key manager, webhook subscription). */
  runtime: [stream: string, result: ApplyResult];
  startup: [state: StartupState];
  broker: [status: BrokerStatus];
  "fetch-retry": [err: Error, attempt: number];
  /** The control plane answered busy (503/429 with Retry-After): the fetch waits waitMs, no retry spent. */
  "fetch-busy": [waitMs: number];
  /** Deployed files vanished (restoring true) or are all back (false). */
  restore: [restoring: boolean];
  /** A periodic re-assert of the queues and bindings ran (rebind_interval_ms): undefined, or why it failed. */
  rebind: [err: Error | undefined];
  /** The heartbeat or report channel closed (by the broker, or with the connection) or was opened again at a heartbeat. */
  "side-channel": [channel: "heartbeat" | "report", state: "closed" | "reopened"];
}

export interface GatewayOptions {
  config: GwsyncConfig;
  logger?: Logger;
  retriever?: ArtifactRetriever;
  deployer?: ApiDeployer;
  /** Start the HTTP server (default true). */
  http?: boolean;
  /**
   * How the broker connection is opened: amqplib's connect (default), or a fake transport that unit
   * tests hand in to run the whole message path without RabbitMQ (test/harness/fake-broker.ts).
   */
  transport?: OpenConnection;
  /** Progress of the startup deployment (CLI progress bar). */
  onStartupProgress?: (done: number, total: number) => void;
}
