import type { FastifyInstance } from "fastify";
import type { Relay } from "./relay.js";

/** The relay's HTTP API: probes, Prometheus metrics and the state of each region link. */
export function registerRelayRoutes(app: FastifyInstance, relay: Relay): void {
  app.get("/healthz", async () => ({ status: "ok" }));

  // Ready once consuming locally: a remote region that is down is a backlog, not unreadiness.
  app.get("/readyz", async (_req, reply) => {
    const local = relay.localStatus.state;
    const ready = local === "connected";
    return reply
      .code(ready ? 200 : 503)
      .send({ status: ready ? "ready" : "not-ready", broker: local, links: relay.links() });
  });

  app.get("/metrics", async (_req, reply) => {
    await relay.backlog();
    reply.header("content-type", relay.metrics.registry.contentType);
    return relay.metrics.text();
  });

  app.get("/api/v1/relay", async () => ({
    region: relay.region,
    broker: relay.localStatus.state,
    links: relay.links(),
    backlog: await relay.backlog(),
    catchUp: relay.catchUpStatus(),
  }));
}
