import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

/** Publish→deployed latency buckets, seconds: sub-millisecond to a minute. */
const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/** Every service's metrics, one registry per service instance (tests run several in one process). */
export class ServiceMetrics {
  readonly registry = new Registry();
  readonly eventsReceived: Counter<"stream">;
  readonly eventsApplied: Counter<"stream">;
  readonly eventsRejected: Counter<"stream" | "reason">;
  readonly eventsSkipped: Counter<"stream" | "why">;
  readonly fetchRetries: Counter;
  readonly publishToDeployed: Histogram;
  readonly brokerConnected: Gauge;
  readonly outboxDepth: Gauge;
  readonly appliedSeq: Gauge;
  readonly lag: Gauge;
  readonly deployedApis: Gauge;
  readonly relayBacklog: Gauge<"region">;
  readonly relayForwarded: Counter<"region" | "stream">;
  readonly eventsPublished: Counter<"stream">;
  readonly artifactsApplied: Counter<"outcome">;
  /** The alarm of every limit (docs/production.md, "Limits"): `limit` is the configuration key. */
  readonly limitExceeded: Counter<"limit">;
  /** DEPLOY/REMOVE events and artifacts refused for their signature (signing on), per kind of refusal. */
  readonly signatureRejected: Counter<"reason">;
  /** Runtime or deploy state that could not be written (the data stays in memory, the write is retried). */
  readonly stateSaveFailures: Counter<"what">;

  constructor(service: string, options: { defaultMetrics?: boolean } = {}) {
    this.registry.setDefaultLabels({ service });
    if (options.defaultMetrics) collectDefaultMetrics({ register: this.registry, prefix: "gwsync_" });
    const r = [this.registry];
    this.eventsReceived = new Counter({ name: "gwsync_events_received_total", help: "Events received, per stream", labelNames: ["stream"], registers: r });
    this.eventsApplied = new Counter({ name: "gwsync_events_applied_total", help: "Events applied, per stream", labelNames: ["stream"], registers: r });
    this.eventsRejected = new Counter({
      name: "gwsync_events_rejected_total",
      help: "Events dead-lettered, per stream and reason code",
      labelNames: ["stream", "reason"],
      registers: r,
    });
    this.eventsSkipped = new Counter({
      name: "gwsync_events_skipped_total",
      help: "Events received but not acted on (other labels, duplicates, stale revisions)",
      labelNames: ["stream", "why"],
      registers: r,
    });
    this.fetchRetries = new Counter({ name: "gwsync_fetch_retries_total", help: "Artifact fetch attempts that failed and were retried", registers: r });
    this.publishToDeployed = new Histogram({
      name: "gwsync_publish_to_deployed_seconds",
      help: "From the event's timestamp to the artifact deployed on this gateway",
      buckets: LATENCY_BUCKETS,
      registers: r,
    });
    this.brokerConnected = new Gauge({ name: "gwsync_broker_connected", help: "1 when connected to the broker", registers: r });
    this.outboxDepth = new Gauge({ name: "gwsync_outbox_depth", help: "Events committed but not yet confirmed by the broker", registers: r });
    this.appliedSeq = new Gauge({ name: "gwsync_applied_seq", help: "Changelog sequence this gateway has caught up to", registers: r });
    this.lag = new Gauge({ name: "gwsync_lag_seq", help: "Changelog head minus the applied sequence, at the last catch-up", registers: r });
    this.deployedApis = new Gauge({ name: "gwsync_deployed_apis", help: "APIs deployed on this gateway", registers: r });
    this.relayBacklog = new Gauge({ name: "gwsync_relay_backlog", help: "Messages waiting to cross to a remote region", labelNames: ["region"], registers: r });
    this.artifactsApplied = new Counter({
      name: "gwsync_artifacts_applied_total",
      help: "APIs deployed or removed on this gateway, whatever brought the change (event, startup, catch-up)",
      labelNames: ["outcome"],
      registers: r,
    });
    this.eventsPublished = new Counter({
      name: "gwsync_events_published_total",
      help: "Events confirmed by the broker, per stream",
      labelNames: ["stream"],
      registers: r,
    });
    this.limitExceeded = new Counter({
      name: "gwsync_limit_exceeded_total",
      help: "Input refused by a configured limit, per configuration key",
      labelNames: ["limit"],
      registers: r,
    });
    this.signatureRejected = new Counter({
      name: "gwsync_signature_rejected_total",
      help: "Artifacts and DEPLOY/REMOVE events refused for their signature: unsigned, untrusted-key, bad-signature, malformed, mismatch",
      labelNames: ["reason"],
      registers: r,
    });
    this.stateSaveFailures = new Counter({
      name: "gwsync_state_save_failures_total",
      help: "Failed writes of local state (runtime state files, revocation journal)",
      labelNames: ["what"],
      registers: r,
    });
    this.relayForwarded = new Counter({
      name: "gwsync_relay_forwarded_total",
      help: "Messages forwarded to a remote region",
      labelNames: ["region", "stream"],
      registers: r,
    });
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }
}
