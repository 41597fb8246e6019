import type { FastifyInstance } from "fastify";
import type { GwsyncConfig } from "../config/types.js";
import type { ServiceMetrics } from "../http/metrics.js";
import { createServiceHttp, listenOn, listenUrl } from "../http/server.js";
import type { Logger } from "../log.js";

/**
 * What the three services (publisher, gateway, relay) share of their skeleton: the HTTP API started
 * one way (Basic auth, limits, metrics, /healthz and /readyz, then the role's routes), its address
 * formatted in one place, and a stop that runs every step.
 */
export { listenUrl };

/** Creates the role's HTTP server, registers its routes and listens on [gwsync] http_host:http_port. */
export async function serveHttp(
  g: GwsyncConfig["gwsync"],
  log: Logger,
  metrics: ServiceMetrics,
  registerRoutes: (app: FastifyInstance) => void,
): Promise<FastifyInstance> {
  const app = createServiceHttp(g, log, metrics);
  registerRoutes(app);
  await listenOn(app, g.httpHost, g.httpPort);
  return app;
}

/**
 * Runs every step of a stop in order, logs each failure, and throws the first once all have run: a
 * step that fails (a state file that cannot be written) must not leave the HTTP server or a broker
 * connection open, or the process would never exit.
 */
export async function stopAll(log: Logger, steps: (() => unknown)[]): Promise<void> {
  const failures: unknown[] = [];
  for (const step of steps) {
    try {
      await step();
    } catch (err) {
      log.error({ err: (err as Error).message }, "a step of the shutdown failed; stopping the rest anyway");
      failures.push(err);
    }
  }
  if (failures.length > 0) throw failures[0];
}
