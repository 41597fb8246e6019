/**
 * Outbox coalescing (src/publisher/outbox-coalesce.ts): which rows a later pending row supersedes,
 * which never are, and the dispatcher publishing one event per API of a backlog larger than a claim.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { ConfirmPublisher, OutgoingMessage } from "../../src/amqp/confirm-publisher.js";
import type { GatewayApiDto } from "../../src/artifacts/types.js";
import { HEADER_BATCH } from "../../src/events/batch.js";
import { silentLogger } from "../../src/log.js";
import { buildGatewayEvent, buildStreamEvent } from "../../src/publisher/events-out.js";
import { coalesceKey, OutboxCoalescer } from "../../src/publisher/outbox-coalesce.js";
import {
  DEFAULT_OUTBOX_BATCH,
  OutboxDispatcher,
  type OutboxDispatcherOptions,
} from "../../src/publisher/outbox-dispatcher.js";
import type { NewOutboxMessage, OutboxMessage } from "../../src/store/types.js";
import { fakeOutbox } from "../harness/fake-outbox.js";

function dto(apiId: string, over: Partial<GatewayApiDto> = {}): GatewayApiDto {
  return {
    apiId,
    name: `N${apiId}`,
    version: "1.0",
    provider: "admin",
    tenantDomain: "carbon.super",
    apiDefinition: `<api name="admin--N${apiId}" context="/n${apiId}/1.0" version="1.0"/>`,
    apiContext: `/n${apiId}/1.0`,
    ...over,
  };
}

function gatewayEvent(
  action: "deploy" | "remove",
  apiId: string,
  revision: number,
  o: { labels?: string[]; dto?: Partial<GatewayApiDto>; inline?: boolean; origin?: string } = {},
): NewOutboxMessage {
  return buildGatewayEvent({
    action,
    dto: dto(apiId, o.dto),
    labels: o.labels ?? ["A"],
    result: {
      apiId,
      revision,
      sha256: `sha${revision}`,
      seq: revision,
      labels: o.labels ?? ["A"],
      changed: true,
    } as never,
    region: "r1",
    ...(o.origin ? { originRegion: o.origin } : {}),
    ...(o.inline ? { inlineArtifact: { maxBytes: 1 << 20 } } : {}),
  });
}

let nextId = 1;
function row(m: NewOutboxMessage): OutboxMessage {
  return { ...m, id: nextId++, createdAt: 1, attempts: 0 };
}

/** The message ids of `rows` a coalescer that saw them all in one claim drops. */
function dropped(...messages: NewOutboxMessage[]): string[] {
  const rows = messages.map(row);
  return new OutboxCoalescer().superseded(rows).map((r) => r.messageId);
}

describe("outbox coalescing rule", () => {
  test("an earlier DEPLOY or REMOVE of the same API, tenant and labels is superseded; the newest never is", () => {
    const d1 = gatewayEvent("deploy", "x", 1);
    const d2 = gatewayEvent("deploy", "x", 2);
    const r3 = gatewayEvent("remove", "x", 3);
    const d4 = gatewayEvent("deploy", "x", 4);
    assert.deepEqual(dropped(d1, d2, r3, d4), [d1.messageId, d2.messageId, r3.messageId]);
    assert.deepEqual(dropped(d4), []);
  });

  test("label order and duplicates do not matter; another label set is never coalesced", () => {
    const ab = gatewayEvent("deploy", "x", 1, { labels: ["A", "B"] });
    const ba = gatewayEvent("deploy", "x", 2, { labels: ["B", "A", "A"] });
    assert.deepEqual(dropped(ab, ba), [ab.messageId]);
    const a = gatewayEvent("deploy", "x", 1, { labels: ["A"] });
    const aAndB = gatewayEvent("deploy", "x", 2, { labels: ["A", "B"] });
    const b = gatewayEvent("remove", "x", 3, { labels: ["B"] });
    assert.deepEqual(dropped(a, aAndB, b), []);
  });

  test("other APIs, tenants, names, contexts or origins are never coalesced", () => {
    assert.deepEqual(dropped(gatewayEvent("deploy", "x", 1), gatewayEvent("deploy", "y", 1)), []);
    assert.deepEqual(
      dropped(
        gatewayEvent("deploy", "x", 1),
        gatewayEvent("deploy", "x", 2, { dto: { tenantDomain: "t.com" } }),
      ),
      [],
    );
    // A WSO2 4.x gateway undeploys by the event's name/version/provider (InMemoryAPIDeployer.java:377-436):
    // a REMOVE of the old name must still reach it when the API is deployed again under a new one.
    assert.deepEqual(
      dropped(gatewayEvent("remove", "x", 1), gatewayEvent("deploy", "x", 2, { dto: { name: "Renamed" } })),
      [],
    );
    assert.deepEqual(
      dropped(
        gatewayEvent("deploy", "x", 1),
        gatewayEvent("deploy", "x", 2, { dto: { apiContext: "/moved" } }),
      ),
      [],
    );
    assert.deepEqual(
      dropped(gatewayEvent("deploy", "x", 1), gatewayEvent("deploy", "x", 2, { origin: "r2" })),
      [],
    );
  });

  test("inline-artifact events are superseded the same way (the later one carries the newer artifact)", () => {
    const i1 = gatewayEvent("deploy", "x", 1, { inline: true });
    const i2 = gatewayEvent("deploy", "x", 2, { inline: true });
    assert.deepEqual(dropped(i1, i2), [i1.messageId]);
  });

  test("the other streams, other notifications, batches and unreadable rows never are", () => {
    const revoke = buildStreamEvent(
      { stream: "tokenRevocation", event: { revokedToken: "t1", type: "JWT" } as never },
      "r1",
    );
    assert.equal(coalesceKey(revoke), undefined);
    assert.deepEqual(dropped(revoke, { ...revoke, messageId: "again" }), []);
    const km = buildStreamEvent(
      {
        stream: "keyManager",
        event: { action: "update", name: "km", type: "default", enabled: true, config: {} } as never,
      },
      "r1",
    );
    assert.equal(coalesceKey(km), undefined);
    const deploy = gatewayEvent("deploy", "x", 1);
    assert.equal(coalesceKey({ ...deploy, topic: "tokenRevocation" }), undefined);
    assert.equal(coalesceKey({ ...deploy, headers: { ...deploy.headers, [HEADER_BATCH]: 2 } }), undefined);
    assert.equal(coalesceKey({ ...deploy, body: Buffer.from("not json") }), undefined);
    // Another notification type (an API_UPDATE of WSO2's stream) with the same shape: never.
    const other = JSON.parse(deploy.body.toString()) as { event: { payloadData: Record<string, unknown> } };
    other.event.payloadData.eventType = "API_UPDATE";
    assert.equal(coalesceKey({ ...deploy, body: Buffer.from(JSON.stringify(other)) }), undefined);
    assert.notEqual(coalesceKey(deploy), undefined);
  });

  test("a row seen pending in a look-ahead supersedes claimed rows before it, never after it", () => {
    const c = new OutboxCoalescer();
    const early = row(gatewayEvent("deploy", "x", 1));
    const later = row(gatewayEvent("deploy", "x", 2));
    c.note([later]);
    assert.deepEqual(c.superseded([early]), [early]);
    const newest = row(gatewayEvent("deploy", "x", 3));
    assert.deepEqual(c.superseded([newest]), []);
    c.forget();
    assert.deepEqual(c.superseded([early]), []);
  });
});

/** A broker that confirms at once and records what was published. */
function confirmingPublisher() {
  const published: OutgoingMessage[] = [];
  const publisher = {
    ready: true,
    publishAll: async (messages: OutgoingMessage[]) => {
      published.push(...messages);
    },
  } as unknown as ConfirmPublisher;
  return { publisher, published };
}

describe("outbox dispatcher coalescing", () => {
  test("a backlog of 3 APIs × 200 revisions (beyond one claim) goes out as 3 events, the revocations all", async () => {
    const rows: OutboxMessage[] = [];
    for (let rev = 1; rev <= 200; rev++) {
      for (const api of ["a", "b", "c"]) rows.push(row(gatewayEvent("deploy", api, rev)));
      if (rev % 50 === 0)
        rows.push(
          row(
            buildStreamEvent(
              { stream: "tokenRevocation", event: { revokedToken: `t${rev}`, type: "JWT" } as never },
              "r1",
            ),
          ),
        );
    }
    assert.ok(rows.length > 2 * DEFAULT_OUTBOX_BATCH);
    const out = fakeOutbox(rows);
    const { publisher, published } = confirmingPublisher();
    let coalesced = 0;
    const d = dispatcherOver(out, publisher, {
      onCoalesced: (r) => {
        coalesced += r.length;
      },
    });
    await d.drain();
    assert.deepEqual(out.left(), []);
    const last = new Set(
      rows
        .filter((r) => r.topic === "notification")
        .slice(-3)
        .map((r) => r.messageId),
    );
    const notifications = published.filter((m) => m.routingKey === "notification");
    assert.deepEqual(new Set(notifications.map((m) => m.options.messageId)), last);
    assert.equal(published.filter((m) => m.routingKey === "tokenRevocation").length, 4);
    assert.equal(coalesced, 597);
  });

  test("a row another node holds is left alone, and still supersedes this node's earlier rows", async () => {
    const [r1, r2, r3] = [1, 2, 3].map((rev) => row(gatewayEvent("deploy", "x", rev)));
    const out = fakeOutbox([r3!]);
    // Another publisher node claimed the newest row (it will publish it); then rows 1 and 2 show up.
    const theirs = await out.store.claimOutbox(10);
    assert.deepEqual(
      theirs.rows.map((r) => r.id),
      [r3!.id],
    );
    out.commitElsewhere([r1!, r2!]);
    const { publisher, published } = confirmingPublisher();
    let coalesced: string[] = [];
    // A claim window of 2: this node's claim comes back full, so it looks ahead and sees row 3.
    const d = dispatcherOver(out, publisher, {
      batchSize: 2,
      onCoalesced: (rows) => {
        coalesced = rows.map((r) => r.messageId);
      },
    });
    await d.drain();
    assert.deepEqual(published, []);
    assert.deepEqual(coalesced, [r1!.messageId, r2!.messageId]);
    assert.deepEqual(out.left(), [r3!.messageId]);
    await theirs.sent();
    assert.deepEqual(out.left(), []);
  });

  test("a full claim of runtime events alone reads no look-ahead; one holding a deploy still does", async () => {
    const revocation = (n: number) =>
      row(
        buildStreamEvent(
          { stream: "tokenRevocation", event: { revokedToken: `t${n}`, type: "JWT" } as never },
          "r1",
        ),
      );
    // Claims of 2: rows 1-2 and 3-4 are revocations only; 5-6 hold a deploy superseded by row 7.
    const rows = [1, 2, 3, 4].map(revocation);
    rows.push(row(gatewayEvent("deploy", "y", 1)), revocation(6), row(gatewayEvent("deploy", "y", 2)));
    const out = fakeOutbox(rows);
    const peeks: number[] = [];
    const peek = out.store.peekOutbox.bind(out.store);
    out.store.peekOutbox = async (limit: number, afterId?: number) => {
      peeks.push(afterId ?? 0);
      return peek(limit, afterId);
    };
    const { publisher, published } = confirmingPublisher();
    const d = dispatcherOver(out, publisher, {
      batchSize: 2,
    });
    await d.drain();
    assert.deepEqual(out.left(), []);
    assert.deepEqual(peeks, [rows[5]!.id], "one look-ahead, after the claim that holds the deploy");
    assert.deepEqual(
      published.map((m) => m.options.messageId),
      rows.filter((r) => r !== rows[4]).map((r) => r.messageId),
    );
  });

  test("coalesce = false publishes every row", async () => {
    const rows = [1, 2, 3].map((rev) => row(gatewayEvent("deploy", "x", rev)));
    const out = fakeOutbox(rows);
    const { publisher, published } = confirmingPublisher();
    const d = dispatcherOver(out, publisher, {
      coalesce: false,
    });
    await d.drain();
    assert.equal(published.length, 3);
  });
});

/** A dispatcher over the fake outbox and publisher, with the options a test sets. */
function dispatcherOver(
  out: ReturnType<typeof fakeOutbox>,
  publisher: ConfirmPublisher,
  options: Partial<OutboxDispatcherOptions>,
): OutboxDispatcher {
  return new OutboxDispatcher({ store: out.store, publisher, exchange: "x", logger: silentLogger, ...options });
}
