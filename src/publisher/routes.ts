import type { FastifyInstance, FastifyRequest } from "fastify";
import { z } from "zod";
import { GwsyncError } from "../errors.js";
import { zodReason } from "../zod-reason.js";
import { queryInteger, queryList, queryString } from "../http/server.js";
import { parseJsonWithin } from "../security/json-limits.js";
import type { StoredArtifact } from "../store/types.js";
import { signStoredArtifact } from "./artifact-signature.js";
import { registerDataApiRoutes } from "./data-api-routes.js";
import { parseStreamEventBody } from "./events-out.js";
import { fleetCounts } from "./fleet-view.js";
import type { GitSource } from "./git-source.js";
import { parseWait, waitFor, waitForRollout } from "./rollout-wait.js";
import type { Publisher } from "./publisher.js";
import { hop } from "../hops.js";

/** At most this many revisions in one history reply (?limit=, default all up to it). */
const MAX_HISTORY = 10_000;

const rollbackBodySchema = z.strictObject({
  to: z.number().int().positive(),
  labels: z.array(z.string()).min(1).max(1000).optional(),
});

/** A revision query parameter: a positive integer, required. */
function revisionParam(query: unknown, name: string): number {
  const n = queryInteger(query, name, 0);
  if (n < 1) throw new GwsyncError("GWSYNC_HTTP_BAD_REQUEST", `${name} (a revision number, from 1) is required`);
  return n;
}

/** A JSON request body, refused unparsed when it nests deeper than max_json_depth. */
function parseBody(body: unknown, maxDepth: number): unknown {
  if (typeof body !== "string") return body;
  const r = parseJsonWithin(body, maxDepth);
  if (r.ok) return r.value;
  if (r.tooDeep) {
    throw new GwsyncError("GWSYNC_LIMIT_EXCEEDED", `body ${r.reason}`, {
      details: { limit: "max_json_depth" },
    });
  }
  throw new GwsyncError("GWSYNC_HTTP_BAD_REQUEST", `body is not valid JSON: ${r.reason}`);
}

function metaOf(a: StoredArtifact) {
  return { apiId: a.apiId, label: a.label, revision: a.revision, sha256: a.sha256, seq: a.seq };
}

/** The control plane's REST API (docs/architecture.md#http) and WSO2's internal data API shapes. */
export function registerPublisherRoutes(
  app: FastifyInstance,
  publisher: Publisher,
  gitSource: () => GitSource | undefined = () => undefined,
): void {
  const store = publisher.store;
  const limits = publisher.config.gwsync.limits;
  const { signer } = publisher;
  const region = publisher.config.gwsync.region;
  // Each served artifact carries the publisher's signature when it has a key ([gwsync.signing]).
  const servedMeta = (a: StoredArtifact) =>
    signer === undefined ? metaOf(a) : { ...metaOf(a), signature: signStoredArtifact(signer, a, region) };

  app.get("/healthz", async () => ({ status: "ok" }));
  app.get("/readyz", async (_req, reply) => {
    const s = publisher.brokerStatus;
    const db = await store.health();
    const ready = s.state === "connected" && db.ok;
    return reply.code(ready ? 200 : 503).send({
      status: ready ? "ready" : "not-ready",
      broker: s.state,
      database: { engine: db.engine, status: db.ok ? "ok" : "unavailable", detail: db.detail },
    });
  });

  app.get("/metrics", async (_req, reply) => {
    publisher.metrics.outboxDepth.set(await store.outboxDepth());
    for (const [state, n] of Object.entries(await fleetCounts(store))) publisher.metrics.fleetGateways.set({ state }, n);
    reply.header("content-type", publisher.metrics.registry.contentType);
    return publisher.metrics.text();
  });

  app.post("/api/v1/artifacts", async (req, reply) => {
    hop("publisher.received");
    const labels = queryList(req.query, "label");
    const tenantDomain = queryString(req.query, "tenantDomain");
    if (typeof req.body !== "string" || req.body.length === 0) {
      throw new GwsyncError(
        "GWSYNC_HTTP_BAD_REQUEST",
        "body must be a synapse API XML or a GatewayAPIDTO JSON",
      );
    }
    const waitMs = waitOption(req.query);
    const r = await publisher.deployApi(req.body, labels, tenantDomain ? { tenantDomain } : {});
    hop("publisher.answered", r.apiId);
    if (waitMs === undefined) return reply.code(r.changed ? 201 : 200).send(r);
    const rollout = await waitHere(req, r.apiId, labels, waitMs);
    // 202: stored, but not live on every gateway of the labels (rollout says which and why).
    return reply.code(rollout.complete ? (r.changed ? 201 : 200) : 202).send({ ...r, rollout });
  });

  // {apiId} is an API id or name:version (then ?tenantDomain= picks the tenant; default carbon.super).
  app.delete<{ Params: { apiId: string } }>("/api/v1/artifacts/:apiId", async (req, reply) => {
    const labels = queryList(req.query, "label");
    const tenantDomain = queryString(req.query, "tenantDomain");
    const waitMs = waitOption(req.query);
    const r = await publisher.removeApi(req.params.apiId, labels, tenantDomain ? { tenantDomain } : {});
    if (waitMs === undefined) return r;
    const rollout = await waitHere(req, r.apiId, labels, waitMs);
    return reply.code(rollout.complete ? 200 : 202).send({ ...r, rollout });
  });

  // History, rollback and diff: {apiId} as for DELETE (an id, or name:version with ?tenantDomain=).
  app.get<{ Params: { apiId: string } }>("/api/v1/artifacts/:apiId/history", async (req) => {
    const tenantDomain = queryString(req.query, "tenantDomain");
    const limit = queryInteger(req.query, "limit", MAX_HISTORY, MAX_HISTORY);
    if (limit < 1) throw new GwsyncError("GWSYNC_HTTP_BAD_REQUEST", `limit must be from 1 to ${MAX_HISTORY}`);
    const h = await publisher.apiHistory(req.params.apiId, { limit, ...(tenantDomain ? { tenantDomain } : {}) });
    return { ...h, count: h.revisions.length };
  });

  app.post<{ Params: { apiId: string } }>("/api/v1/artifacts/:apiId/rollback", async (req, reply) => {
    const tenantDomain = queryString(req.query, "tenantDomain");
    const parsed = rollbackBodySchema.safeParse(parseBody(req.body ?? "", limits.maxJsonDepth));
    if (!parsed.success) {
      throw new GwsyncError(
        "GWSYNC_HTTP_BAD_REQUEST",
        `body must be {"to": <revision>, "labels"?: [...]}: ${zodReason(parsed.error, "")}`,
      );
    }
    const { to, labels } = parsed.data;
    const r = await publisher.rollbackApi(req.params.apiId, to, {
      ...(labels ? { labels } : {}),
      ...(tenantDomain ? { tenantDomain } : {}),
    });
    return reply.code(r.changed ? 201 : 200).send(r);
  });

  app.get<{ Params: { apiId: string } }>("/api/v1/artifacts/:apiId/diff", async (req) => {
    const tenantDomain = queryString(req.query, "tenantDomain");
    const from = revisionParam(req.query, "from");
    const to = revisionParam(req.query, "to");
    return await publisher.diffApi(req.params.apiId, from, to, tenantDomain ? { tenantDomain } : {});
  });

  // A webhook's target (or an operator's): fetch the followed branch now instead of at the next poll.
  app.post("/api/v1/git-source/poll", async () => {
    const source = gitSource();
    if (source === undefined) {
      throw new GwsyncError("GWSYNC_NOT_FOUND", "this publisher follows no git branch ([gwsync.git_source])");
    }
    return await source.poll();
  });
  /** ?wait=30s (or ?wait for the default): how long to wait for the rollout; undefined without it. */
  function waitOption(query: unknown): number | undefined {
    const w = queryString(query, "wait");
    return w === undefined ? undefined : parseWait(w, "?wait=");
  }

  /** Waits for the rollout of what was just published or removed (?wait=). */
  function waitHere(req: FastifyRequest, apiId: string, labels: readonly string[], timeoutMs: number) {
    return waitFor(
      req,
      (signal) => waitForRollout({ store, events: publisher.events, apiId, labels, timeoutMs, signal }),
      timeoutMs,
    );
  }

  app.get("/api/v1/artifacts", async (req) => {
    const label = queryString(req.query, "label");
    const rows = await store.listArtifacts(label === undefined ? {} : { label });
    return {
      count: rows.length,
      head: await store.headSeq(),
      list: rows.map((a) => ({
        ...metaOf(a),
        name: a.name,
        version: a.version,
        provider: a.provider,
        instruction: a.instruction,
      })),
    };
  });

  for (const [path, stream] of [
    ["/api/v1/token-revocations", "tokenRevocation"],
    ["/api/v1/key-managers", "keyManager"],
    ["/api/v1/webhook-subscriptions", "asyncWebhooksData"],
  ] as const) {
    // One event, or an array of them committed together (a batch of revocations is one fsync).
    app.post(path, async (req, reply) => {
      const body = parseBody(req.body, limits.maxJsonDepth);
      if (Array.isArray(body)) {
        if (body.length > limits.maxEventsPerRequest) {
          throw new GwsyncError(
            "GWSYNC_LIMIT_EXCEEDED",
            `at most ${limits.maxEventsPerRequest} events per request (max_events_per_request), got ${body.length}`,
            { details: { limit: "max_events_per_request" } },
          );
        }
        const events = body.map((b) => parseStreamEventBody(stream, b, limits));
        return reply.code(202).send({ count: events.length, list: await publisher.emitMany(events) });
      }
      return reply.code(202).send(await publisher.emit(parseStreamEventBody(stream, body, limits)));
    });
  }

  const metrics = publisher.metrics;
  registerDataApiRoutes(app, store, servedMeta, {
    maxInFlight: publisher.config.gwsync.dataApiMaxInFlight,
    maxWaitMs: publisher.config.gwsync.dataApiMaxWaitMs,
    onAdmission: (outcome) => metrics.dataApiRequests.inc({ outcome }),
    onChangesPage: (source) => metrics.changesPages.inc({ source }),
  });
}
