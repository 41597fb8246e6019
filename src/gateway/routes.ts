import type { FastifyInstance } from "fastify";
import { queryString } from "../http/server.js";
import type { GatewayView } from "./gateway-view.js";

/** The gateway sidecar's HTTP API (docs/architecture.md#http): probes, metrics, deployed APIs, runtime state. */
export function registerGatewayRoutes(app: FastifyInstance, gw: GatewayView): void {
  app.get("/healthz", async () => ({ status: "ok" }));

  app.get("/readyz", async (_req, reply) => {
    const s = gw.startup;
    const mode = gw.config.gateway.dataRetrievalMode;
    const body = {
      status: gw.restoring ? "restoring" : !gw.ready ? "starting" : s.phase === "stale" ? "stale" : "ready",
      mode,
      startup: s.phase,
      deployed: gw.deployer.size,
      broker: gw.brokerStatus.state,
      catchUp: gw.catchingUp ? "running" : "idle",
      ...(s.phase === "stale" ? { error: s.error } : {}),
    };
    return reply.code(gw.ready ? 200 : 503).send(body);
  });

  app.get("/metrics", async (_req, reply) => {
    reply.header("content-type", gw.metrics.registry.contentType);
    return gw.metrics.text();
  });

  app.get("/api/v1/apis", async () => {
    const list = gw.deployer.deployed().map((a) => ({
      apiId: a.apiId,
      name: a.name,
      version: a.version,
      provider: a.provider,
      context: a.context,
      labels: a.labels,
      revision: a.revision,
      sha256: a.sha256,
      seq: a.seq,
    }));
    return { count: list.length, watermark: gw.watermark, list };
  });

  app.get<{ Params: { token: string } }>("/api/v1/revoked-tokens/:token", async (req, reply) => {
    const hit = gw.runtime.revokedTokens.isRevoked(req.params.token);
    if (!hit) return reply.code(404).send({ code: "GWSYNC_NOT_FOUND", message: "token is not revoked" });
    return { revoked: true, expiresAt: hit.expiresAt, type: hit.type };
  });

  app.get("/api/v1/key-managers", async () => {
    const list = gw.runtime.keyManagers.snapshot();
    return { count: list.length, list };
  });

  app.get("/api/v1/webhook-subscriptions", async (req) => {
    const apiUUID = queryString(req.query, "apiUUID");
    const topic = queryString(req.query, "topic");
    const list = gw.runtime.webhookSubscriptions.snapshot({
      ...(apiUUID ? { apiUUID } : {}),
      ...(topic ? { topic } : {}),
    });
    return { count: list.length, list };
  });

  app.get("/api/v1/runtime", async () => gw.runtime.counts());
}
