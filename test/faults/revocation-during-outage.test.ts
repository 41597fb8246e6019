import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import type { Gateway } from "../../src/gateway/gateway.js";
import { FaultControlPlane } from "../harness/fault-http.js";
import { assertClean } from "../harness/invariants.js";
import { counter, waitFor } from "../harness/wait.js";
import { FaultWorld, tinyApi } from "./world.js";

/** More deploy events than a gateway holds unacknowledged (its notification prefetch is 64). */
const APIS = 100;
const LABEL = "R";
/** Each held deploy event waits 5 s, 10 s, 20 s ... between fetches: minutes in all. */
const RETRY_MS = 5_000;
/** A revocation must not wait for those retries: it is applied well within one of their waits. */
const REVOCATION_DEADLINE_MS = RETRY_MS;

describe("token revocations while the control plane is down", () => {
  const world = new FaultWorld();
  const cp = new FaultControlPlane(() => world.publisherUrl);
  after(async () => {
    await cp.down();
    await world.close();
  });

  test(`a revocation is applied while ${APIS} deploy events wait to fetch their artifacts`, async () => {
    const svc = await world.startPublisher();
    const pub = svc.publisher;
    await cp.up();
    const gw: Gateway = await world.startGateway({
      name: "gw",
      labels: [LABEL],
      serviceUrl: cp.url,
      retryMs: RETRY_MS,
      maxRetries: 5,
      maxRetryDelayMs: 60_000,
      catchUpMs: 0,
    });
    await world.waitConverged("gw");

    // The control plane stops answering: every deploy event's fetch fails and waits to be retried.
    await cp.down();
    const retries = counter(gw.events, "fetch-retry");
    for (let i = 0; i < APIS; i++) await pub.deployApi(tinyApi(`Api${i}`, 1), [LABEL]);
    // The gateway holds as many deploy events as it may (each failed its first fetch)...
    await waitFor(gw.events, "fetch-retry", () => retries.count >= 64, "64 deploy events waiting to retry");

    // ...and a token revoked now must still be revoked at once: a revoked token must not keep working
    // for as long as the control plane is away.
    const token = `revoked-during-outage-${world.id}`;
    await pub.emit({ stream: "tokenRevocation", event: { revokedToken: token, expiryTime: 0, type: "JWT" } });
    await waitFor(
      gw.events,
      ["runtime", "handled"],
      () => gw.runtime.revokedTokens.isRevoked(token) !== undefined,
      "the revocation, while deploy events wait for the control plane",
      REVOCATION_DEADLINE_MS,
    );
    assert.equal(gw.deployer.size, 0, "nothing was deployed: the control plane is still down");

    // The control plane comes back: every API arrives, none twice.
    await cp.up();
    await world.waitConverged("gw", 180_000);
    assert.equal(gw.deployer.size, APIS);
    assertClean(await world.judge("gw"));
  });
});
