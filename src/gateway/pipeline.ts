import type { Outcome } from "../amqp/consumer.js";
import { ACK, type DeadLetterPart } from "../amqp/consumer.js";
import type { Envelope } from "../amqp/envelope.js";
import type { GwsyncConfig } from "../config/types.js";
import { ALL_TENANTS } from "../data-api/wire.js";
import { isGwsyncError } from "../errors.js";
import { decodeBatch, HEADER_BATCH } from "../events/batch.js";
import { decodeEvent } from "../events/decode.js";
import { HEADER_REVISION, HEADER_SHA256 } from "../events/topics.js";
import type { DecodeResult, InboundEvent } from "../events/types.js";
import type { GatewayMetrics } from "../http/metrics.js";
import type { Logger } from "../log.js";
import type { ApiDeployer } from "./deploy/deployer.js";
import type { InlineArtifact, Reconciler } from "./reconciler.js";
import { beyondHorizon, runtimeLimitRefusal } from "./runtime/limits.js";
import type { ApplyResult, RuntimeState } from "./runtime/runtime-state.js";
import { judgeGatewayEvent, signatureReasonLabel, type TrustPolicy } from "./trust.js";
import { hop } from "../hops.js";

/** Longest wait honoured for event_waiting_time (a bad clock must not stall the consumer). */
const MAX_EVENT_WAIT_MS = 60 * 1000;

/** What the gateway's message path works with: no broker, no HTTP, no timers of its own. */
export interface GatewayPipelineDeps {
  config: GwsyncConfig;
  metrics: GatewayMetrics;
  runtime: RuntimeState;
  /** Resolves once every runtime change applied so far is on disk (one fsync shared by concurrent deliveries). */
  durable: { durable(): Promise<void> };
  reconciler: Pick<Reconciler, "mine" | "isStale" | "reconcile" | "noteRevision"> &
    Partial<Pick<Reconciler, "waitForCatchUp" | "deployedAt">>;
  deployer: Pick<ApiDeployer, "get">;
  trust: TrustPolicy;
  /** The highest store sequence this gateway applied (a claim above it is not believed). */
  watermark: () => number;
  /** Aborted on shutdown: a delivery stopped half-way is given back (retry). */
  signal: AbortSignal;
  log: Logger;
  /** Per runtime-stream event applied or skipped. */
  onRuntime?: (stream: string, result: ApplyResult) => void;
  /** An artifact event of an API refused (reported to the control plane: the fleet view). */
  onRefused?: (
    apiId: string,
    refusal: { revision: number | undefined; code: string; message: string },
  ) => void;
  /** event_waiting_time's wait (tests pass their own clock). */
  sleep?: (ms: number) => Promise<void>;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * The gateway's message path as one function of a delivery: decode → label filter → stale check →
 * trust → reconcile (fetch, deploy) or apply runtime state → the Outcome that settles the delivery
 * (ack, dead-letter, retry). Unit-tested without a broker (test/unit/gateway-pipeline.test.ts); the
 * Gateway assembles it with the transport.
 */
export class GatewayPipeline {
  readonly #d: GatewayPipelineDeps;

  constructor(deps: GatewayPipelineDeps) {
    this.#d = deps;
  }

  async handle(msg: Envelope): Promise<Outcome> {
    const stream = msg.stream;
    hop("gateway.delivered", stream);
    if (msg.headers?.[HEADER_BATCH] !== undefined) return this.#handleBatch(msg);
    this.#d.metrics.eventsReceived.inc({ stream });
    const messageId = msg.properties.messageId as string | undefined;
    const contentType = msg.properties.contentType as string | undefined;
    const decoded = decodeEvent(stream, msg.body, {
      maxBytes: this.#d.config.gwsync.maxMessageBytes,
      maxJsonDepth: this.#d.config.gwsync.limits.maxJsonDepth,
      ...(messageId ? { messageId } : {}),
      ...(contentType ? { contentType } : {}),
    });
    if (!decoded.ok) {
      this.#d.metrics.eventsRejected.inc({ stream, reason: decoded.code });
      if (decoded.limit !== undefined) this.#d.metrics.limitExceeded.inc({ limit: decoded.limit });
      return { kind: "reject", reason: decoded.reason };
    }
    const event = decoded.event;
    const waiting = this.#waitForEventTime(msg);
    if (waiting !== undefined) await waiting;
    if (event.topic === "notification" && event.payload.kind === "gateway") {
      return this.#handleGatewayEvent(event, event.payload, msg);
    }
    const refusal = this.#refusedByLimit(stream, event);
    if (refusal !== undefined) return { kind: "reject", reason: refusal };
    await this.#applyRuntime(stream, [event]);
    return ACK;
  }

  /** Why a runtime event is over a limit (counted), or undefined; a revocation beyond the horizon is counted too. */
  #refusedByLimit(stream: string, event: InboundEvent): string | undefined {
    const limits = this.#d.config.gwsync.limits;
    const refusal = runtimeLimitRefusal(event, this.#d.runtime, limits);
    if (refusal !== undefined) {
      this.#d.metrics.eventsRejected.inc({ stream, reason: "GWSYNC_LIMIT_EXCEEDED" });
      this.#d.metrics.limitExceeded.inc({ limit: refusal.limit });
      return refusal.reason;
    }
    if (beyondHorizon(event, limits.maxRevocationLifetimeMs))
      this.#d.metrics.limitExceeded.inc({ limit: "max_revocation_lifetime_ms" });
    return undefined;
  }

  /**
   * Applies runtime-stream events and returns once they are on disk: one fsync (shared with every
   * delivery being handled now) for all of them, so the caller may ack.
   */
  async #applyRuntime(
    stream: string,
    events: readonly InboundEvent[],
    results: readonly ApplyResult[] = events.map((e) => this.#d.runtime.apply(e)),
  ): Promise<void> {
    if (results.includes("applied")) {
      try {
        await this.#d.durable.durable();
      } catch (err) {
        // Not on disk: not acked (retried, then dead-lettered), and not remembered as applied either.
        this.#d.runtime.forget(events);
        this.#d.metrics.stateSaveFailures.inc({ what: "runtime" });
        this.#d.log.error(
          { err: (err as Error).message, stream },
          "runtime state could not be saved; the event is retried",
        );
        throw err;
      }
    }
    for (const result of results) {
      if (result === "applied") this.#d.metrics.eventsApplied.inc({ stream });
      else this.#d.metrics.eventsSkipped.inc({ stream, why: result });
      this.#d.onRuntime?.(stream, result);
    }
  }

  /**
   * A gwsync batch of runtime events (src/events/batch.ts): every valid event applied, one fsync for
   * all of them before the ack; an invalid one dead-lettered alone. An invalid envelope refuses it all.
   */
  async #handleBatch(msg: Envelope): Promise<Outcome> {
    const stream = msg.stream;
    const batch = decodeBatch(stream, msg.body, {
      maxBytes: this.#d.config.gwsync.maxMessageBytes,
      maxJsonDepth: this.#d.config.gwsync.limits.maxJsonDepth,
    });
    if (!batch.ok) {
      this.#d.metrics.eventsReceived.inc({ stream });
      this.#d.metrics.eventsRejected.inc({ stream, reason: batch.code });
      if (batch.limit !== undefined) this.#d.metrics.limitExceeded.inc({ limit: batch.limit });
      return { kind: "reject", reason: batch.reason };
    }
    const waiting = this.#waitForEventTime(msg);
    if (waiting !== undefined) await waiting;
    const deadLetters: DeadLetterPart[] = [];
    const events: InboundEvent[] = [];
    const results: ApplyResult[] = [];
    for (const part of batch.parts) {
      this.#d.metrics.eventsReceived.inc({ stream });
      const refusal = part.result.ok
        ? this.#refusedByLimit(stream, part.result.event)
        : this.#countDecodeFailure(stream, part.result);
      if (refusal !== undefined) {
        deadLetters.push({
          body: part.body(),
          messageId: part.messageId,
          timestamp: part.timestamp,
          reason: refusal,
        });
        continue;
      }
      // Applied at once (in memory), so the next event's limit check sees it: a batch cannot carry a
      // store past its cap. One fsync below makes them all durable before the ack.
      if (part.result.ok) {
        events.push(part.result.event);
        results.push(this.#d.runtime.apply(part.result.event));
      }
    }
    await this.#applyRuntime(stream, events, results);
    return deadLetters.length > 0 ? { kind: "ack", deadLetters } : ACK;
  }

  #countDecodeFailure(stream: string, failure: Extract<DecodeResult, { ok: false }>): string {
    this.#d.metrics.eventsRejected.inc({ stream, reason: failure.code });
    if (failure.limit !== undefined) this.#d.metrics.limitExceeded.inc({ limit: failure.limit });
    return failure.reason;
  }

  async #handleGatewayEvent(
    event: Extract<InboundEvent, { topic: "notification" }>,
    p: Extract<Extract<InboundEvent, { topic: "notification" }>["payload"], { kind: "gateway" }>,
    msg: Envelope,
  ): Promise<Outcome> {
    const stream = "notification";
    if (p.gatewayLabels.length === 0) {
      // WSO2 4.0 sends REMOVE with "gatewayLabels": [] (product-apim#10789): nothing to route on.
      this.#d.log.warn(
        { eventId: event.eventId, apiId: p.apiUuid, type: event.type },
        "event has no gateway labels: ignored",
      );
      this.#d.metrics.eventsSkipped.inc({ stream, why: "no-labels" });
      return ACK;
    }
    const mine = this.#d.reconciler.mine(p.gatewayLabels);
    if (mine.length === 0) {
      this.#d.metrics.eventsSkipped.inc({ stream, why: "other-labels" });
      return ACK;
    }
    // A gateway of one tenant ([gwsync] data_api_tenant) leaves the other tenants' APIs alone, as a WSO2
    // gateway deploys a tenant's APIs only in that tenant's flow.
    const tenant = this.#d.config.gwsync.dataApiTenant;
    if (tenant !== ALL_TENANTS && typeof event.tenantDomain === "string" && event.tenantDomain !== tenant) {
      this.#d.metrics.eventsSkipped.inc({ stream, why: "other-tenant" });
      return ACK;
    }
    const headers = msg.headers ?? {};
    const revision = toInt(headers[HEADER_REVISION]);
    const sha256 = headers[HEADER_SHA256];
    const change = { remove: p.action === "remove", ...(typeof sha256 === "string" ? { sha256 } : {}) };
    const ts = msg.properties.timestamp;
    const arrived = Date.now();
    if (this.#d.reconciler.isStale(p.apiUuid, revision, change)) {
      this.#d.metrics.eventsSkipped.inc({ stream, why: "stale" });
      // Its very revision applied before it arrived (a catch-up or the startup load got there first):
      // measured to that apply; an older revision than the one deployed is not measured.
      if (revision !== undefined)
        this.#observeDeployed(ts, this.#d.reconciler.deployedAt?.(p.apiUuid, revision));
      return ACK;
    }
    // What of the event may be believed: src/gateway/trust.ts (the store is the only authority).
    const verdict = judgeGatewayEvent(
      {
        action: p.action,
        apiId: p.apiUuid,
        tenantDomain: event.tenantDomain,
        labels: mine,
        headers,
        inline: p.artifact,
        storeSeq: this.#d.watermark(),
      },
      this.#d.trust,
    );
    if (verdict.kind === "refuse") {
      this.#d.onRefused?.(p.apiUuid, {
        revision,
        code: verdict.signature ? "GWSYNC_SIGNATURE_INVALID" : "GWSYNC_EVENT_INVALID",
        message: verdict.reason,
      });
      this.#d.metrics.eventsRejected.inc({
        stream,
        reason: verdict.signature ? "GWSYNC_SIGNATURE_INVALID" : "GWSYNC_ARTIFACT_INVALID",
      });
      if (verdict.signature)
        this.#d.metrics.signatureRejected.inc({ reason: signatureReasonLabel(verdict.reason) });
      return { kind: "reject", reason: verdict.reason };
    }
    if (verdict.inlineIgnored !== undefined)
      this.#d.metrics.eventsSkipped.inc({ stream, why: `inline-${verdict.inlineIgnored}` });
    const inline: InlineArtifact | undefined = verdict.inline;
    // A catch-up about to apply this API (after a reconnect, every queued event's API is in it): wait
    // for it, then this event is likely stale — no fetch of its own (issue 20, B9's reconnect storm).
    if (
      inline === undefined &&
      revision !== undefined &&
      (await this.#d.reconciler.waitForCatchUp?.(p.apiUuid, this.#d.signal)) &&
      this.#d.reconciler.isStale(p.apiUuid, revision, change)
    ) {
      this.#d.metrics.eventsSkipped.inc({ stream, why: "stale" });
      // The catch-up applied this revision or a newer one while the event waited: measured to that apply.
      this.#observeDeployed(ts, this.#d.reconciler.deployedAt?.(p.apiUuid, revision, arrived));
      return ACK;
    }
    try {
      const outcome = await this.#d.reconciler.reconcile(p.apiUuid, mine, {
        signal: this.#d.signal,
        action: p.action,
        ...(inline ? { inline } : {}),
      });
      // Stopped half-way by a shutdown: give the message back so it is applied after the restart.
      if (outcome === "superseded" && this.#d.signal.aborted)
        return { kind: "retry", reason: "shutting down" };
      // A removal's revision counts only when trusted (signed, or inline taken from the control plane by
      // configuration) and once the store confirmed the API gone: a forged REMOVE with a high revision
      // must not block the API's next publish.
      if (
        p.action === "remove" &&
        verdict.trustedRevision !== undefined &&
        this.#d.deployer.get(p.apiUuid) === undefined
      )
        this.#d.reconciler.noteRevision(p.apiUuid, verdict.trustedRevision);
      const at =
        revision === undefined ? undefined : this.#d.reconciler.deployedAt?.(p.apiUuid, revision, arrived);
      if (outcome === "deployed" || outcome === "removed") {
        this.#d.metrics.eventsApplied.inc({ stream });
        // Measured to its own apply (a removal, whose noted revision is the old one, to now).
        this.#observeDeployed(ts, at ?? Date.now());
      } else {
        this.#d.metrics.eventsSkipped.inc({ stream, why: outcome });
        // Nothing left to do because another path applied its change after it arrived (a catch-up
        // removed the API): measured to that apply.
        if (outcome === "unchanged") this.#observeDeployed(ts, at);
      }
      return ACK;
    } catch (err) {
      if (this.#d.signal.aborted) return { kind: "retry", reason: "shutting down" };
      if (isGwsyncError(err) && !err.retryable) {
        // details.refusal / details.revision: the finer reason and the revision refused, when known.
        const refusal = err.details?.refusal;
        const refused = err.details?.revision;
        this.#d.onRefused?.(p.apiUuid, {
          revision: typeof refused === "number" ? refused : revision,
          code: typeof refusal === "string" ? refusal : err.code,
          message: err.message,
        });
        this.#d.metrics.eventsRejected.inc({ stream, reason: err.code });
        return { kind: "reject", reason: `${err.code}: ${err.message}` };
      }
      // Retries spent: keep the message (requeued with a delay); the changelog catch-up also repairs it.
      return { kind: "retry", reason: (err as Error).message };
    }
  }

  /**
   * gwsync_publish_to_deployed_seconds: from the event's timestamp to `at`, the moment its change was
   * applied here (Reconciler.deployedAt); nothing when unknown or already measured ("observed").
   */
  #observeDeployed(ts: unknown, at: number | "observed" | undefined): void {
    if (typeof ts !== "number" || ts <= 0 || typeof at !== "number") return;
    this.#d.metrics.publishToDeployed.observe(Math.max(0, at - ts) / 1000);
  }

  /**
   * WSO2's [apim.event_hub] event_waiting_time: a notification or webhook message is acted on no earlier
   * than its timestamp plus the waiting time (GatewayJMSMessageListener.java:94-103, the listener of
   * those two topics only: GatewayStartupListener.java:255-259). Token revocations and key managers
   * are never held back.
   */
  #waitForEventTime(msg: Envelope): Promise<void> | undefined {
    // Undefined (no promise to await) when nothing waits: every token revocation (issue 19, B4).
    if (msg.stream !== "notification" && msg.stream !== "asyncWebhooksData") return undefined;
    const wait = this.#d.config.eventHub.eventWaitingTimeMs;
    const ts = msg.properties.timestamp;
    if (!wait || typeof ts !== "number") return undefined;
    const delay = Math.min(ts + wait - Date.now(), MAX_EVENT_WAIT_MS);
    return delay > 0 ? (this.#d.sleep ?? sleep)(delay) : undefined;
  }
}

function toInt(v: unknown): number | undefined {
  const n = typeof v === "number" ? v : typeof v === "string" ? Number(v) : Number.NaN;
  return Number.isSafeInteger(n) ? n : undefined;
}
