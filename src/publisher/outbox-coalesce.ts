import { HEADER_BATCH } from "../events/batch.js";
import { HEADER_HOPS, HEADER_ORIGIN } from "../events/topics.js";
import type { OutboxMessage } from "../store/types.js";

/**
 * Outbox coalescing (issue 20, B9): a DEPLOY_API_IN_GATEWAY / REMOVE_API_FROM_GATEWAY that a later
 * pending outbox row of the same key supersedes is not published; the dispatcher deletes it as sent.
 *
 * The key: the notification stream only, a DEPLOY or REMOVE event, and equal API UUID, tenant (domain
 * and id), label set, name, version, provider, context and API type, origin region and hops. Why a
 * later row of the same key makes the earlier one redundant, for every consumer of the stream:
 *
 * - gwsync gateways (src/gateway/pipeline.ts → reconciler.ts): an event only says "API X changed on
 *   labels L"; the reconcile reads the store's current state of X on L (or applies the inline artifact,
 *   and the later row carries the newer one), and an event whose revision is not above what was applied
 *   is acknowledged without work (Reconciler.isStale). Both rows were committed before the dispatcher
 *   saw them, so the earlier one, published, would fetch the same state the later one does.
 * - WSO2 4.x gateways (carbon-apimgt @ 68732448b122, org.wso2.carbon.apimgt.gateway): events are handled
 *   one at a time, in order (listeners/GatewayJMSMessageListener.java:81, a single-thread executor;
 *   :157-215). A DEPLOY fetches the API's current runtime artifact for its labels
 *   (InMemoryAPIDeployer.java:112 → retrieveArtifact :181-209), undeploys the API named by the event's
 *   name/version/provider/tenant/apiType (:117 → :377-436, which also invalidates the context's resource cache) and deploys what it fetched (:118); a REMOVE
 *   undeploys by the same fields (:438-443) and drops the event's context from the tenant's map
 *   (GatewayJMSMessageListener.java:213). So with those fields equal (they are in the key), a later
 *   DEPLOY does what an earlier REMOVE or DEPLOY did and then deploys the current artifact, and a later
 *   REMOVE leaves the API undeployed whatever the earlier event did.
 * - WSO2 3.2.0 gateways (carbon-apimgt @ cb3daa44148d, same module): both events fetch the stored
 *   artifact of the first matching label (listeners/GatewayJMSMessageListener.java:118-150;
 *   InMemoryAPIDeployer.java:67-99 deploy with the Publish instruction, :161-169 undeploy whatever is
 *   stored), so the event carries nothing but the API and the label: the later one does it all.
 * - Relays (src/relay/forward-plan.ts) send the store's current state of the API, not the event's.
 *
 * Never coalesced: the other streams (each token revocation, key manager and webhook event is a fact of
 * its own), other notifications, gwsync batches, rows that do not parse, and events of other label sets
 * (a gateway of label A must not lose an event because B's changed later).
 *
 * Chains stay safe across publisher nodes: a row is deleted only once confirmed or superseded by a later
 * row; the newest row of a key is never superseded, so it is published, after every row it superseded
 * was committed.
 */

const GATEWAY_EVENT_TYPES: ReadonlySet<string> = new Set([
  "DEPLOY_API_IN_GATEWAY",
  "REMOVE_API_FROM_GATEWAY",
]);

/** The coalescing key of an outbox row, or undefined when the row is never coalesced. */
export function coalesceKey(row: Pick<OutboxMessage, "topic" | "body" | "headers">): string | undefined {
  if (row.topic !== "notification") return undefined;
  if (row.headers[HEADER_BATCH] !== undefined) return undefined;
  try {
    const outer = JSON.parse(row.body.toString("utf8")) as {
      event?: { payloadData?: Record<string, unknown> };
    };
    const pd = outer?.event?.payloadData;
    if (pd === undefined || pd === null || typeof pd !== "object") return undefined;
    const eventType = pd.eventType;
    if (typeof eventType !== "string" || !GATEWAY_EVENT_TYPES.has(eventType)) return undefined;
    if (typeof pd.event !== "string") return undefined;
    const inner = JSON.parse(Buffer.from(pd.event, "base64").toString("utf8")) as Record<string, unknown>;
    if (inner === null || typeof inner !== "object" || inner.type !== eventType) return undefined;
    const uuid = typeof inner.uuid === "string" ? inner.uuid : inner.apiId;
    if (typeof uuid !== "string" || uuid === "") return undefined;
    const labels = inner.gatewayLabels;
    if (!Array.isArray(labels) || labels.length === 0 || !labels.every((l) => typeof l === "string"))
      return undefined;
    const labelSet = [...new Set(labels as string[])].sort();
    return JSON.stringify([
      uuid,
      inner.tenantDomain ?? null,
      inner.tenantId ?? null,
      labelSet,
      inner.name ?? null,
      inner.version ?? null,
      inner.provider ?? null,
      inner.context ?? null,
      inner.apiType ?? null,
      row.headers[HEADER_ORIGIN] ?? null,
      row.headers[HEADER_HOPS] ?? null,
    ]);
  } catch {
    return undefined;
  }
}

/**
 * What the dispatcher knows of the pending backlog: per key, the highest outbox id seen pending. A row
 * seen pending stays a valid superseder once published (it was committed after the rows it supersedes),
 * so entries never go stale; they are dropped only to bound memory (forget()).
 */
export class OutboxCoalescer {
  readonly #latest = new Map<string, number>();
  /** Rows up to this id were read (by a claim or a look-ahead): the next look-ahead starts after it. */
  #readUpTo = 0;
  readonly #maxKeys: number;

  constructor(maxKeys = 200_000) {
    this.#maxKeys = maxKeys;
  }

  get readUpTo(): number {
    return this.#readUpTo;
  }

  get size(): number {
    return this.#latest.size;
  }

  /** Remember rows seen pending (a claim's or a look-ahead's). */
  note(rows: readonly OutboxMessage[], keys: readonly (string | undefined)[] = rows.map(coalesceKey)): void {
    for (const [i, row] of rows.entries()) {
      if (row.id > this.#readUpTo) this.#readUpTo = row.id;
      const key = keys[i];
      if (key === undefined) continue;
      if ((this.#latest.get(key) ?? 0) < row.id) {
        if (this.#latest.size >= this.#maxKeys && !this.#latest.has(key)) continue;
        this.#latest.set(key, row.id);
      }
    }
  }

  /**
   * The rows of `rows` (a claim) a later pending row supersedes. Notes the rows first, so a claim
   * coalesces within itself as well.
   */
  superseded(
    rows: readonly OutboxMessage[],
    keys: readonly (string | undefined)[] = rows.map(coalesceKey),
  ): OutboxMessage[] {
    this.note(rows, keys);
    const out: OutboxMessage[] = [];
    for (const [i, row] of rows.entries()) {
      const key = keys[i];
      if (key !== undefined && (this.#latest.get(key) ?? 0) > row.id) out.push(row);
    }
    return out;
  }

  /** The outbox was found empty: nothing pending can need the entries any more. */
  forget(): void {
    this.#latest.clear();
    this.#readUpTo = 0;
  }
}
