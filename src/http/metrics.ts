import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import { GWSYNC_VERSION } from "../version.js";

function signatureRejectedCounter(registers: Registry[]): Counter<"reason"> {
  return new Counter({
    name: "gwsync_signature_rejected_total",
    help: "Artifacts and DEPLOY/REMOVE events refused for their signature: unsigned, untrusted-key, bad-signature, malformed, mismatch",
    labelNames: ["reason"],
    registers,
  });
}

/** Publish→deployed latency buckets, seconds: sub-millisecond to a minute. */
const LATENCY_BUCKETS = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
];

/**
 * How often nodejs_eventloop_lag_seconds samples the event loop (prom-client's default: every 10 ms).
 * Each sample wakes the loop: at 10 ms an idle process spent ~5 ms of CPU a second on it (measured on
 * the 2-core bench machine, issue 19), and B1 runs five such processes beside the broker. At 100 ms the
 * lag histogram still catches any stall of 100 ms or more and, by sampling, the shorter ones.
 */
export const EVENT_LOOP_SAMPLE_MS = 100;

/**
 * What every role exports: the process and runtime metrics (prom-client's defaults, under their
 * standard names: process_cpu_seconds_total, nodejs_heap_size_used_bytes, ...), gwsync_build_info and
 * the broker link. One registry per service instance (tests run several in one process), labelled
 * with the service; each role adds only its own families (PublisherMetrics, GatewayMetrics,
 * RelayMetrics), so a scrape never shows a family that role never sets.
 */
export class ServiceMetrics {
  readonly registry = new Registry();
  readonly brokerConnected: Gauge;
  readonly buildInfo: Gauge<"version" | "node_version">;
  /** The alarm of every limit (docs/production.md, "Limits"): `limit` is the configuration key. */
  readonly limitExceeded: Counter<"limit">;

  constructor(service: string) {
    this.registry.setDefaultLabels({ service });
    collectDefaultMetrics({ register: this.registry, eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS });
    const r = [this.registry];
    this.buildInfo = new Gauge({
      name: "gwsync_build_info",
      help: "Always 1; the labels say which gwsync and Node.js run",
      labelNames: ["version", "node_version"],
      registers: r,
    });
    this.buildInfo.set({ version: GWSYNC_VERSION, node_version: process.version }, 1);
    this.brokerConnected = new Gauge({
      name: "gwsync_broker_connected",
      help: "1 when connected to the broker",
      registers: r,
    });
    this.limitExceeded = new Counter({
      name: "gwsync_limit_exceeded_total",
      help: "Input refused by a configured limit, per configuration key",
      labelNames: ["limit"],
      registers: r,
    });
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }
}

/** gwsync_queue_reasserts_total: the gateway's queues and bindings, the publisher's heartbeat and report bindings. */
function queueReassertsCounter(r: Registry[]): Counter<"outcome"> {
  return new Counter({
    name: "gwsync_queue_reasserts_total",
    help: "Periodic re-declarations of this service's queues and bindings on its live connection (rebind_interval_ms), per outcome (ok, failed)",
    labelNames: ["outcome"],
    registers: r,
  });
}

export class PublisherMetrics extends ServiceMetrics {
  readonly eventsPublished: Counter<"stream">;
  /** Re-binds of the heartbeat and report queues on the live connection (rebind_interval_ms). */
  readonly queueReasserts: Counter<"outcome">;
  readonly outboxDepth: Gauge;
  /** Deploy/remove events a later outbox row superseded: deleted unsent (src/publisher/outbox-coalesce.ts). */
  readonly outboxCoalesced: Counter;
  /** Relayed artifacts the region ingress refused for their signature. */
  readonly signatureRejected: Counter<"reason">;
  /** Gateways per state (ready, stale, starting, stopped, missing), set at each scrape. */
  readonly fleetGateways: Gauge<"state">;
  /** Artifacts gateways reported refusing, per reason code (each refusal counted once). */
  readonly rolloutRefused: Counter<"code">;
  /** Data-API requests admitted or refused (503 + Retry-After) by data_api_max_in_flight. */
  readonly dataApiRequests: Counter<"outcome">;
  /** Changelog pages served from a read another request made (coalesced or cached) or read for it. */
  readonly changesPages: Counter<"source">;

  constructor() {
    super("publisher");
    const r = [this.registry];
    this.eventsPublished = new Counter({
      name: "gwsync_events_published_total",
      help: "Events confirmed by the broker, per stream",
      labelNames: ["stream"],
      registers: r,
    });
    this.outboxDepth = new Gauge({
      name: "gwsync_outbox_depth",
      help: "Events committed but not yet confirmed by the broker",
      registers: r,
    });
    this.outboxCoalesced = new Counter({
      name: "gwsync_outbox_coalesced_total",
      help: "Deploy/remove events not published because a later pending event of the same API, tenant and labels superseded them",
      registers: r,
    });
    this.signatureRejected = signatureRejectedCounter(r);
    this.queueReasserts = queueReassertsCounter(r);
    this.fleetGateways = new Gauge({
      name: "gwsync_fleet_gateways",
      help: "Gateways heard from, per state: ready, stale, starting (alive), stopped, missing",
      labelNames: ["state"],
      registers: r,
    });
    this.rolloutRefused = new Counter({
      name: "gwsync_rollout_refused_total",
      help: "Artifacts gateways reported refusing (not deployed), per reason code",
      labelNames: ["code"],
      registers: r,
    });
    this.dataApiRequests = new Counter({
      name: "gwsync_data_api_requests_total",
      help: "Data-API requests admitted, or refused with 503 and Retry-After (data_api_max_in_flight)",
      labelNames: ["outcome"],
      registers: r,
    });
    this.changesPages = new Counter({
      name: "gwsync_changes_pages_total",
      help: "Changelog pages served: read from the store, or shared with an identical request (coalesced, cached)",
      labelNames: ["source"],
      registers: r,
    });
  }
}

export class GatewayMetrics extends ServiceMetrics {
  readonly eventsReceived: Counter<"stream">;
  readonly eventsApplied: Counter<"stream">;
  readonly eventsRejected: Counter<"stream" | "reason">;
  readonly eventsSkipped: Counter<"stream" | "why">;
  readonly fetchRetries: Counter;
  /** Data-API answers of 503/429 with Retry-After that were waited out (no retry spent on them). */
  readonly fetchBusy: Counter;
  /** How events' waits for a running catch-up ended (CatchUpWaitOutcome): all but `applied` fetch on their own. */
  readonly catchUpWaits: Counter<"outcome">;
  readonly publishToDeployed: Histogram;
  readonly appliedSeq: Gauge;
  readonly lag: Gauge;
  readonly deployedApis: Gauge;
  readonly artifactsApplied: Counter<"outcome">;
  /** DEPLOY/REMOVE events and artifacts refused for their signature (signing on), per kind of refusal. */
  readonly signatureRejected: Counter<"reason">;
  /** Runtime or deploy state that could not be written (the data stays in memory, the write is retried). */
  readonly stateSaveFailures: Counter<"what">;
  /** Periodic re-asserts of the gateway's queues and bindings on its live connection (rebind_interval_ms). */
  readonly queueReasserts: Counter<"outcome">;

  constructor() {
    super("gateway");
    const r = [this.registry];
    this.eventsReceived = new Counter({
      name: "gwsync_events_received_total",
      help: "Events received, per stream",
      labelNames: ["stream"],
      registers: r,
    });
    this.eventsApplied = new Counter({
      name: "gwsync_events_applied_total",
      help: "Events applied, per stream",
      labelNames: ["stream"],
      registers: r,
    });
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
    this.fetchRetries = new Counter({
      name: "gwsync_fetch_retries_total",
      help: "Artifact fetch attempts that failed and were retried",
      registers: r,
    });
    this.fetchBusy = new Counter({
      name: "gwsync_fetch_busy_total",
      help: "Data-API answers of 503/429 with Retry-After, waited out as asked (not counted as retries)",
      registers: r,
    });
    this.catchUpWaits = new Counter({
      name: "gwsync_catch_up_waits_total",
      help: "Deploy events that checked for a running catch-up, by how the wait ended (applied: the catch-up handled the API; none, not-planned, released, stalled, timed-out, aborted: the event fetches on its own)",
      labelNames: ["outcome"],
      registers: r,
    });
    this.publishToDeployed = new Histogram({
      name: "gwsync_publish_to_deployed_seconds",
      help: "From the event's timestamp to the artifact deployed on this gateway",
      buckets: LATENCY_BUCKETS,
      registers: r,
    });
    this.queueReasserts = queueReassertsCounter(r);
    this.appliedSeq = new Gauge({
      name: "gwsync_applied_seq",
      help: "Changelog sequence this gateway has caught up to",
      registers: r,
    });
    this.lag = new Gauge({
      name: "gwsync_lag_seq",
      help: "Changelog head minus the applied sequence, at the last catch-up",
      registers: r,
    });
    this.deployedApis = new Gauge({
      name: "gwsync_deployed_apis",
      help: "APIs deployed on this gateway",
      registers: r,
    });
    this.artifactsApplied = new Counter({
      name: "gwsync_artifacts_applied_total",
      help: "APIs deployed or removed on this gateway, whatever brought the change (event, startup, catch-up)",
      labelNames: ["outcome"],
      registers: r,
    });
    this.signatureRejected = signatureRejectedCounter(r);
    this.stateSaveFailures = new Counter({
      name: "gwsync_state_save_failures_total",
      help: "Failed writes of local state (runtime state files, revocation journal)",
      labelNames: ["what"],
      registers: r,
    });
  }
}

export class RelayMetrics extends ServiceMetrics {
  readonly relayBacklog: Gauge<"region">;
  readonly relayForwarded: Counter<"region" | "stream">;
  readonly eventsRejected: Counter<"stream" | "reason">;
  readonly eventsSkipped: Counter<"stream" | "why">;
  readonly catchUpForwarded: Counter<"region">;
  readonly catchUpCursor: Gauge<"region">;

  constructor() {
    super("relay");
    const r = [this.registry];
    this.relayBacklog = new Gauge({
      name: "gwsync_relay_backlog",
      help: "Messages waiting to cross to a remote region",
      labelNames: ["region"],
      registers: r,
    });
    this.relayForwarded = new Counter({
      name: "gwsync_relay_forwarded_total",
      help: "Messages forwarded to a remote region",
      labelNames: ["region", "stream"],
      registers: r,
    });
    this.eventsRejected = new Counter({
      name: "gwsync_events_rejected_total",
      help: "Messages refused (not forwarded), per lane and reason code",
      labelNames: ["stream", "reason"],
      registers: r,
    });
    this.eventsSkipped = new Counter({
      name: "gwsync_events_skipped_total",
      help: "Messages not forwarded (already there, too many hops), per lane",
      labelNames: ["stream", "why"],
      registers: r,
    });
    this.catchUpForwarded = new Counter({
      name: "gwsync_relay_catch_up_forwarded_total",
      help: "APIs a catch-up from the local changelog sent to a remote region (their events had not crossed)",
      labelNames: ["region"],
      registers: r,
    });
    this.catchUpCursor = new Gauge({
      name: "gwsync_relay_catch_up_seq",
      help: "Local changelog sequence up to which a remote region confirmed every local change",
      labelNames: ["region"],
      registers: r,
    });
  }
}
