import type { FastifyInstance } from "fastify";
import { GwsyncError } from "../errors.js";
import { queryInteger, queryList, queryString } from "../http/server.js";
import { exportBundle } from "./bundle.js";
import { parseJsonWithin } from "../security/json-limits.js";
import type { AgreementRole } from "../store/types.js";
import {
  type Agreement,
  agreementView,
  createConsumerBody,
  createSupplierBody,
  parseAgreementBody,
  pullerView,
  updateBody,
} from "./agreement.js";
import { DEFAULT_FEED_PAGE, MAX_FEED_PAGE, type ReplicationService } from "./service.js";

export const AGREEMENTS_PATH = "/api/v1/replication/agreements";
export const EXPORT_PATH = "/api/v1/replication/export";
export const IMPORT_PATH = "/api/v1/replication/import";

/** `?type=consumer|supplier` (OAM's), or the body's replicaType ("CONSUMER"/"SUPPLIER"). */
function roleOf(query: unknown, body?: { replicaType?: string | undefined }): AgreementRole | undefined {
  const t = queryString(query, "type")?.toLowerCase() ?? body?.replicaType;
  if (t === undefined) return undefined;
  if (t !== "consumer" && t !== "supplier") {
    throw new GwsyncError(
      "GWSYNC_HTTP_BAD_REQUEST",
      `type must be consumer or supplier, got ${JSON.stringify(t.slice(0, 40))}`,
    );
  }
  return t;
}

function jsonBody(body: unknown, maxDepth: number): unknown {
  if (body === undefined || body === null || body === "") {
    throw new GwsyncError("GWSYNC_HTTP_BAD_REQUEST", "a JSON body is required");
  }
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

/**
 * The replication REST API (docs/replication.md), OAM's `_replication` resource in gwsync's terms.
 * Every route needs the publisher's Basic credentials (src/http/server.ts).
 */
export function registerReplicationRoutes(app: FastifyInstance, svc: ReplicationService): void {
  const maxDepth = svc.publisher.config.gwsync.limits.maxJsonDepth;
  const view = async (a: Agreement) => {
    if (a.type === "supplier") return { ...agreementView(a), lag: await svc.supplierLag(a) };
    // A node that does not pull the agreement shows the store's record: the puller's progress and name.
    await svc.fresh(a);
    const v = agreementView(a);
    if (a.type !== "consumer" || a.puller === undefined || !a.enabled) return v;
    const thisNode = a.puller.nodeId === svc.nodeId && svc.isLeading(a.id);
    return { ...v, puller: { ...pullerView(a.puller), thisNode } };
  };

  app.get(AGREEMENTS_PATH, async (req) => {
    const role = roleOf(req.query);
    const list = svc.list(role);
    return {
      featureEnabled: true,
      region: svc.region,
      identifiers: [...new Set(list.map((a) => a.id))],
      list: await Promise.all(list.map(view)),
    };
  });

  app.post(AGREEMENTS_PATH, async (req, reply) => {
    const body = jsonBody(req.body, maxDepth) as { replicaType?: string };
    const role = roleOf(req.query, typeof body === "object" ? body : undefined) ?? "consumer";
    if (role === "supplier") {
      const a = await svc.createSupplier(parseAgreementBody(createSupplierBody, body, "supplier agreement"));
      return reply
        .code(201)
        .send({ ...(await view(a)), masterRegion: svc.region, head: a.startingSequenceNumber });
    }
    const a = await svc.createConsumer(parseAgreementBody(createConsumerBody, body, "agreement"));
    return reply.code(201).send(await view(a));
  });

  app.get<{ Params: { id: string } }>(`${AGREEMENTS_PATH}/:id`, async (req) => {
    return await view(svc.resolve(req.params.id, roleOf(req.query), "supplier"));
  });

  app.put<{ Params: { id: string } }>(`${AGREEMENTS_PATH}/:id`, async (req) => {
    const body = parseAgreementBody(updateBody, jsonBody(req.body, maxDepth), "agreement update");
    const a = svc.resolve(req.params.id, roleOf(req.query, body), "refuse");
    return await view(await svc.update(a, body));
  });

  app.delete<{ Params: { id: string } }>(`${AGREEMENTS_PATH}/:id`, async (req) => {
    const a = svc.resolve(req.params.id, roleOf(req.query), "refuse");
    const r = await svc.remove(a);
    return { identifier: a.id, replicaType: a.type.toUpperCase(), deleted: true, ...r };
  });

  app.post<{ Params: { id: string } }>(`${AGREEMENTS_PATH}/:id/pull`, async (req) => {
    const summary = await svc.pull(req.params.id);
    const a = svc.get(req.params.id, "consumer");
    return { ...summary, ...(a ? { agreement: await view(a) } : {}) };
  });

  // The master's changelog as a clone pulls it: only for an agreement this master holds and has enabled.
  app.get<{ Params: { id: string } }>(`${AGREEMENTS_PATH}/:id/changes`, async (req) => {
    const since = queryInteger(req.query, "since", 0);
    const limit = queryInteger(req.query, "limit", DEFAULT_FEED_PAGE, MAX_FEED_PAGE);
    if (limit < 1)
      throw new GwsyncError("GWSYNC_HTTP_BAD_REQUEST", `limit must be from 1 to ${MAX_FEED_PAGE}`);
    return await svc.feed(req.params.id, since, limit);
  });

  // Export/import when no link joins the data centers (docs/replication.md, "Export and import").
  app.get(EXPORT_PATH, async (req) => {
    const labels = queryList(req.query, "label");
    if (labels.length === 0)
      throw new GwsyncError("GWSYNC_HTTP_BAD_REQUEST", "label query parameter is required");
    const raw = (req.query as Record<string, unknown> | undefined)?.since;
    const since = raw === undefined ? undefined : queryInteger(req.query, "since", 0);
    const pem = svc.publisher.config.gwsync.signing.privateKeyPem;
    return await exportBundle(svc.publisher.store, {
      region: svc.region,
      labels,
      ...(since === undefined ? {} : { since }),
      ...(pem === undefined ? {} : { privateKeyPem: pem }),
    });
  });

  app.post(IMPORT_PATH, async (req) => {
    const agreement = queryString(req.query, "agreement");
    return await svc.importBundle(jsonBody(req.body, maxDepth), agreement === undefined ? {} : { agreement });
  });
}
