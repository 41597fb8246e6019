import type { FastifyInstance } from "fastify";
import { GwsyncError } from "../errors.js";
import { fleetStatus, gatewayState } from "./fleet-status.js";
import type { Publisher } from "./publisher.js";

/** `gwsync status` over REST: the fleet as the store knows it, and forgetting a gateway. */
export function registerStatusRoutes(app: FastifyInstance, publisher: Publisher): void {
  app.get("/api/v1/status", async () => await fleetStatus(publisher.store));

  app.delete<{ Params: { nodeId: string } }>("/api/v1/gateways/:nodeId", async (req) => {
    const { nodeId } = req.params;
    const known = (await publisher.store.listGateways()).find((g) => g.nodeId === nodeId);
    if (known === undefined || !(await publisher.store.forgetGateway(nodeId))) {
      throw new GwsyncError("GWSYNC_NOT_FOUND", `no gateway ${nodeId} has been seen`);
    }
    // A gateway still beating is back with its next heartbeat: say so rather than pretend it is gone.
    return { nodeId, forgotten: true, state: gatewayState(known, Date.now()) };
  });
}
