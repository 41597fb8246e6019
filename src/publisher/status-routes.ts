import type { FastifyInstance } from "fastify";
import { GwsyncError } from "../errors.js";
import { queryInteger, queryList, queryString } from "../http/server.js";
import { fleetStatus, gatewayState } from "./fleet-status.js";
import { fleetView, MAX_ROLLOUT_PAGE, refusalList, rolloutPage, rolloutView } from "./fleet-view.js";
import type { Publisher } from "./publisher.js";
import { parseWait, type WaitResult, waitFor, waitForRollout } from "./rollout-wait.js";

/**
 * `gwsync status` over REST: the fleet as the store knows it, one API's rollout across its gateways,
 * and forgetting a gateway.
 */
export function registerStatusRoutes(app: FastifyInstance, publisher: Publisher): void {
  app.get("/api/v1/status", async () => await fleetStatus(publisher.store));

  app.get("/api/v1/fleet", async () => await fleetView(publisher.store, Date.now(), publisher.fleetLags));

  // The status page's API list: ?q=text&offset=0&limit=50&problems=1 (only rollouts not complete).
  app.get("/api/v1/rollouts", async (req) => {
    const q = queryString(req.query, "q");
    return await rolloutPage(publisher.store, {
      ...(q === undefined ? {} : { q: q.slice(0, 200) }),
      offset: queryInteger(req.query, "offset", 0),
      limit: queryInteger(req.query, "limit", 50, MAX_ROLLOUT_PAGE),
      problems: ["1", "true"].includes(queryString(req.query, "problems") ?? ""),
      index: publisher.rollouts,
    });
  });

  // The newest refusals the gateways reported, each judged against the store now (current or past).
  app.get("/api/v1/refusals", async (req) => ({
    items: await refusalList(publisher.store, queryInteger(req.query, "limit", 200, 1000)),
  }));

  // ?wait=30s[&label=L...]: answer once every live gateway of the labels (default: all the API's)
  // serves what the store says, or one refused it, or the wait ended; `wait` says how it went.
  app.get<{ Params: { apiId: string } }>("/api/v1/artifacts/:apiId/rollout", async (req) => {
    const tenantDomain = queryString(req.query, "tenantDomain");
    const apiId = await publisher.resolveApiId(req.params.apiId, tenantDomain);
    const w = queryString(req.query, "wait");
    let wait: WaitResult | undefined;
    if (w !== undefined) {
      const timeoutMs = parseWait(w, "?wait=");
      const asked = queryList(req.query, "label");
      const labels =
        asked.length > 0 ? asked : (await publisher.store.listApiLabels(apiId)).map((r) => r.label);
      wait = await waitFor(
        req,
        (signal) =>
          waitForRollout({
            store: publisher.store,
            events: publisher.events,
            apiId,
            labels,
            timeoutMs,
            signal,
          }),
        timeoutMs,
      );
    }
    const r = await rolloutView(publisher.store, apiId);
    if (r === undefined)
      throw new GwsyncError("GWSYNC_NOT_FOUND", `API ${req.params.apiId} is not in the store`);
    return wait === undefined ? r : { ...r, wait };
  });

  app.delete<{ Params: { nodeId: string } }>("/api/v1/gateways/:nodeId", async (req) => {
    const { nodeId } = req.params;
    const known = (await publisher.store.listGateways()).find((g) => g.nodeId === nodeId);
    if (known === undefined || !(await publisher.store.forgetGateway(nodeId))) {
      throw new GwsyncError("GWSYNC_NOT_FOUND", `no gateway ${nodeId} has been seen`);
    }
    publisher.reports.forget(nodeId);
    publisher.fleetLags.forget(nodeId);
    await publisher.rollouts.forget(nodeId);
    // A gateway still beating is back with its next heartbeat: say so rather than pretend it is gone.
    return { nodeId, forgotten: true, state: gatewayState(known, Date.now()) };
  });
}
