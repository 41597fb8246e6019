import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { buildGatewayEvent } from "../../src/publisher/events-out.js";
import { toGatewayApiDto } from "../../src/publisher/artifact-input.js";
import type { NewOutboxMessage } from "../../src/store/types.js";
import { assertClean } from "../harness/invariants.js";
import { counter, waitFor } from "../harness/wait.js";
import { FaultWorld, prng, publishMessages, shuffle, tinyApi } from "./world.js";

const APIS = 100;
const REVISIONS = 10;
const EVENTS = APIS * REVISIONS;
const LABEL = "D";
const INLINE_MAX_BYTES = 1024 * 1024;

/**
 * Commits APIS × REVISIONS changes straight into the store (no outbox row: this test is the only
 * sender) and returns each change's event as the outbox would have carried it.
 */
async function commitChanges(world: FaultWorld, inline: boolean): Promise<NewOutboxMessage[]> {
  const store = world.publisher!.publisher.store;
  const events: NewOutboxMessage[] = [];
  for (let r = 0; r < REVISIONS; r++) {
    for (let a = 0; a < APIS; a++) {
      const dto = toGatewayApiDto(tinyApi(`Api${a}`, r));
      await store.saveArtifact({ dto, labels: [LABEL], instruction: "Publish" }, (result) => {
        events.push(
          buildGatewayEvent({
            action: "deploy",
            dto,
            labels: [LABEL],
            result,
            region: "test",
            ...(inline ? { inlineArtifact: { maxBytes: INLINE_MAX_BYTES } } : {}),
          }),
        );
        return [];
      });
    }
  }
  return events;
}

for (const inline of [false, true]) {
  describe(`shuffled duplicates (${inline ? "artifact inline in the event" : "fetched by the gateway"})`, () => {
    const world = new FaultWorld();
    after(() => world.close());

    test(`${EVENTS} deliveries shuffled and each delivered twice: the latest revision wins and each revision is applied at most once`, async () => {
      await world.startPublisher();
      // Catch-up off: only the shuffled deliveries can bring the changes.
      const gw = await world.startGateway({ name: "gw", labels: [LABEL], catchUpMs: 0, acceptInline: inline });
      const events = await commitChanges(world, inline);
      assert.equal(events.length, EVENTS);
      const deliveries = shuffle([...events, ...events], prng(7));
      const handled = counter(gw.events, "handled");
      const deployed = counter(gw.events, "applied", (outcome) => outcome === "deployed");
      await publishMessages(world.exchange, deliveries);
      await waitFor(
        gw.events,
        "handled",
        () => handled.count >= deliveries.length,
        `${deliveries.length} deliveries handled`,
        120_000,
      );
      await world.waitConverged("gw");
      // Fetched: every event reconciles with the store's latest, so each API is deployed once.
      // Inline: the event's own revision is applied unless a newer one already was.
      if (!inline)
        assert.equal(deployed.count, APIS, "each API deployed exactly once, at its latest revision");
      else assert.ok(deployed.count >= APIS && deployed.count <= EVENTS, `${deployed.count} deploys`);
      console.log(`inline=${inline}: ${handled.count} deliveries, ${deployed.count} deploys`);
      assertClean(await world.judge("gw"));
    });
  });
}
