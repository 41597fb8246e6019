/**
 * BrokerConnection without a broker: a fake `open` stands in for amqplib's connect (as
 * jwalton/node-amqp-connection-manager tests its reconnects), so failover order, the options each
 * attempt gets, setup per connection, giving up and a refused login are checked exactly. The real
 * broker is in test/integration/transport.test.ts and the fault suite (connection-faults).
 */
import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import { describe, test } from "node:test";
import type { Channel, ChannelModel, Options } from "amqplib";
import {
  BrokerConnection,
  type BrokerStatus,
  type OpenConnection,
  reconnectDelay,
  type SetupLink,
} from "../../src/amqp/connection.js";
import type { BrokerEndpoint } from "../../src/config/types.js";
import { isGwsyncError } from "../../src/errors.js";

const endpoint = (hostname: string): BrokerEndpoint => ({
  protocol: "amqp",
  hostname,
  port: 5672,
  username: "u",
  password: "p",
  vhost: "/",
});

class FakeModel extends EventEmitter {
  closed = false;
  constructor(readonly host: string) {
    super();
  }
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // amqplib's ChannelModel emits 'close' on a close it asked for too.
    this.emit("close");
  }
  /** The broker went away: amqplib emits 'error' then 'close'. */
  drop(): void {
    this.emit("error", new Error("read ECONNRESET"));
    this.emit("close", new Error("read ECONNRESET"));
  }
}

/** A fake broker set: `refuse` hosts fail to open with the given message. */
function fakeBrokers(refuse: Record<string, string> = {}) {
  const targets: Options.Connect[] = [];
  const snapshots: string[] = [];
  const models: FakeModel[] = [];
  const open: OpenConnection = async (target) => {
    targets.push(target);
    snapshots.push(JSON.stringify(target));
    const host = target.hostname!;
    if (refuse[host] !== undefined) throw new Error(refuse[host]);
    const m = new FakeModel(host);
    models.push(m);
    return m as unknown as ChannelModel;
  };
  return { open, targets, snapshots, models };
}

/** A channel the broker can close: amqplib emits 'error' (the broker's reason) then 'close'. */
class FakeChannel extends EventEmitter {
  closeByBroker(reason = "404 (NOT-FOUND) with message \"NOT_FOUND - no exchange 'x'\""): void {
    this.emit("error", new Error(`Channel closed by server: ${reason}`));
    this.emit("close");
  }
}

function connection(
  hosts: string[],
  open: OpenConnection,
  setup: (m: ChannelModel, link: SetupLink) => Promise<void> = async () => undefined,
  extra: { initialMaxRetries?: number } = {},
): BrokerConnection {
  return new BrokerConnection({
    endpoints: hosts.map(endpoint),
    connectionName: "test",
    heartbeatSec: 0,
    reconnectInitialDelayMs: 1,
    reconnectMaxDelayMs: 4,
    open,
    setup,
    ...extra,
  });
}

function nextEvent(conn: BrokerConnection, name: string): Promise<unknown[]> {
  return new Promise((resolve) => conn.once(name, (...args: unknown[]) => resolve(args)));
}

describe("BrokerConnection over an explicit broker list (fake transport)", () => {
  test("fails over to the next broker, each attempt with its own options object, none changed afterwards", async () => {
    const brokers = fakeBrokers({ a: "connect ECONNREFUSED a:5672" });
    const conn = connection(["a", "b"], brokers.open);
    await conn.start();
    assert.deepEqual(
      brokers.targets.map((t) => t.hostname),
      ["a", "b"],
    );
    assert.notEqual(brokers.targets[0], brokers.targets[1]);
    // What each attempt was given is what it still holds: nothing shared is mutated for failover.
    assert.deepEqual(
      brokers.targets.map((t) => JSON.stringify(t)),
      brokers.snapshots,
    );
    assert.equal(conn.currentBroker, "amqp://b:5672");
    assert.equal(conn.status.state, "connected");
    await conn.close();
    assert.equal(brokers.models[0]!.closed, true);
  });

  test("a lost connection reconnects to the next broker and runs setup again on the new connection", async () => {
    const brokers = fakeBrokers();
    const setUp: string[] = [];
    const conn = connection(["a", "b", "c"], brokers.open, async (m) => {
      setUp.push((m as unknown as FakeModel).host);
    });
    const states: string[] = [];
    conn.on("status", (s: BrokerStatus) => states.push(s.state));
    await conn.start();
    const disconnected = nextEvent(conn, "disconnect");
    const reconnected = nextEvent(conn, "connect");
    brokers.models[0]!.drop();
    const [err] = await disconnected;
    assert.match((err as Error).message, /ECONNRESET/);
    await reconnected;
    assert.deepEqual(setUp, ["a", "b"]);
    assert.deepEqual(states, ["connected", "disconnected", "connecting", "connected"]);
    // Another loss goes on round the list.
    const again = nextEvent(conn, "connect");
    brokers.models[1]!.drop();
    await again;
    assert.deepEqual(setUp, ["a", "b", "c"]);
    await conn.close();
    assert.equal(conn.status.state, "closed");
  });

  test("a setup that fails closes that connection and the next attempt goes to the next broker", async () => {
    const brokers = fakeBrokers();
    let calls = 0;
    const conn = connection(["a", "b"], brokers.open, async () => {
      calls += 1;
      if (calls === 1) throw new Error("PRECONDITION_FAILED - inequivalent arg 'x-queue-type'");
    });
    await conn.start();
    assert.equal(brokers.models.length, 2);
    assert.equal(brokers.models[0]!.closed, true);
    assert.equal(brokers.models[1]!.host, "b");
    await conn.close();
  });

  test("initialMaxRetries spent: start() rejects with GWSYNC_BROKER_UNREACHABLE naming every broker", async () => {
    const brokers = fakeBrokers({ a: "connect ECONNREFUSED", b: "connect ECONNREFUSED" });
    const conn = connection(["a", "b"], brokers.open, undefined, { initialMaxRetries: 3 });
    let failed = 0;
    conn.on("failed", () => failed++);
    await assert.rejects(conn.start(), (err: unknown) => {
      assert.ok(isGwsyncError(err) && err.code === "GWSYNC_BROKER_UNREACHABLE");
      assert.match((err as Error).message, /amqp:\/\/a:5672, amqp:\/\/b:5672/);
      return true;
    });
    assert.equal(brokers.targets.length, 4, "the first attempt and three retries");
    assert.deepEqual(
      brokers.targets.map((t) => t.hostname),
      ["a", "b", "a", "b"],
    );
    assert.equal(failed, 1);
  });

  test("a refused login stops for good: start() rejects with GWSYNC_BROKER_ACCESS_REFUSED, no retry", async () => {
    const brokers = fakeBrokers({ a: "Handshake terminated by server: 403 (ACCESS-REFUSED) with message" });
    const conn = connection(["a", "b"], brokers.open);
    const fatal = nextEvent(conn, "fatal");
    await assert.rejects(conn.start(), (err: unknown) => {
      assert.ok(isGwsyncError(err) && err.code === "GWSYNC_BROKER_ACCESS_REFUSED");
      return true;
    });
    await fatal;
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(brokers.targets.length, 1);
    assert.equal(conn.fatalError?.code, "GWSYNC_BROKER_ACCESS_REFUSED");
  });

  test("close() while waiting to reconnect stops the loop: no attempt after it", async () => {
    const brokers = fakeBrokers({ a: "connect ECONNREFUSED" });
    const conn = new BrokerConnection({
      endpoints: [endpoint("a")],
      connectionName: "test",
      heartbeatSec: 0,
      reconnectInitialDelayMs: 30,
      open: brokers.open,
      setup: async () => undefined,
    });
    const started = conn.start();
    await new Promise((r) => setTimeout(r, 5));
    await conn.close();
    await assert.rejects(started);
    const attempts = brokers.targets.length;
    await new Promise((r) => setTimeout(r, 80));
    assert.equal(brokers.targets.length, attempts);
  });
});

describe("reconnectDelay", () => {
  const policy = { initialDelayMs: 200, maxDelayMs: 10_000, factor: 2, jitter: 0.2 };
  test("doubles from the initial delay without jitter at the midpoint", () => {
    const mid = () => 0.5;
    assert.deepEqual(
      [1, 2, 3, 4].map((a) => reconnectDelay(policy, a, mid)),
      [200, 400, 800, 1600],
    );
  });
  test("jitter stays within ± 20 % and the cap is never exceeded", () => {
    assert.equal(
      reconnectDelay(policy, 1, () => 0),
      160,
    );
    assert.equal(
      reconnectDelay(policy, 1, () => 1),
      240,
    );
    for (let a = 1; a < 40; a++) assert.ok(reconnectDelay(policy, a, () => 1) <= 10_000);
    assert.equal(
      reconnectDelay(policy, 40, () => 1),
      10_000,
    );
  });
});

describe("BrokerConnection: a setup the broker never finishes", () => {
  test("is given up after the setup timeout, the connection closed, and the next broker set up instead", async () => {
    const brokers = fakeBrokers();
    const conn = new BrokerConnection({
      endpoints: ["a", "b"].map(endpoint),
      connectionName: "test",
      heartbeatSec: 0,
      reconnectInitialDelayMs: 1,
      reconnectMaxDelayMs: 4,
      setupTimeoutMs: 30,
      open: brokers.open,
      // On "a" an RPC is never answered; "b" sets up at once.
      setup: (m) =>
        (m as unknown as FakeModel).host === "a" ? new Promise<void>(() => undefined) : Promise.resolve(),
    });
    await conn.start();
    assert.equal(conn.currentBroker, "amqp://b:5672");
    assert.equal(conn.status.state, "connected");
    assert.deepEqual(
      brokers.models.map((m) => [m.host, m.closed]),
      [
        ["a", true],
        ["b", false],
      ],
    );
    await conn.close();
  });
});

describe("BrokerConnection: a channel the broker closes while the connection stays up", () => {
  /** Setup opens two channels per connection; only the first is marked essential. */
  function twoChannels() {
    const brokers = fakeBrokers();
    const essential: FakeChannel[] = [];
    const optional: FakeChannel[] = [];
    const setUp: string[] = [];
    const conn = connection(["a", "b"], brokers.open, async (m, link) => {
      setUp.push((m as unknown as FakeModel).host);
      const e = new FakeChannel();
      const o = new FakeChannel();
      o.on("error", () => undefined); // as the services' channels all have
      link.essential(e as unknown as Channel, "consumer's");
      essential.push(e);
      optional.push(o);
    });
    return { brokers, essential, optional, setUp, conn };
  }

  test("an essential channel closed by the broker sets the connection up again on the same broker", async () => {
    const { brokers, essential, setUp, conn } = twoChannels();
    await conn.start();
    const disconnected = nextEvent(conn, "disconnect");
    const reconnected = nextEvent(conn, "connect");
    essential[0]!.closeByBroker();
    const [err] = await disconnected;
    assert.match((err as Error).message, /the broker closed the consumer's channel \(.*NOT_FOUND/);
    await reconnected;
    // No failover: the broker is up, only a channel was lost.
    assert.deepEqual(setUp, ["a", "a"]);
    assert.equal(brokers.models[0]!.closed, true);
    assert.equal(conn.currentBroker, "amqp://a:5672");
    assert.equal(conn.status.state, "connected");
    await conn.close();
  });

  test("a channel not marked essential may close: the connection stays as it is", async () => {
    const { brokers, optional, setUp, conn } = twoChannels();
    await conn.start();
    const events: string[] = [];
    conn.on("disconnect", () => events.push("disconnect"));
    optional[0]!.closeByBroker("403 (ACCESS-REFUSED)");
    // The essential channel's watcher runs on the next turn (setImmediate): wait two.
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(events, []);
    assert.deepEqual(setUp, ["a"]);
    assert.equal(brokers.models[0]!.closed, false);
    await conn.close();
  });

  test("an essential channel closed during the setup fails that setup; the next attempt sets up", async () => {
    const brokers = fakeBrokers();
    let calls = 0;
    const conn = connection(["a", "b"], brokers.open, async (_m, link) => {
      calls++;
      const ch = new FakeChannel();
      link.essential(ch as unknown as Channel, "consumer's");
      if (calls === 1) {
        ch.closeByBroker();
        // The setup goes on as if nothing happened (as a consumer start would).
        await new Promise((r) => setImmediate(r));
      }
    });
    await conn.start();
    assert.equal(calls, 2);
    assert.deepEqual(
      brokers.models.map((m) => [m.host, m.closed]),
      [
        ["a", true],
        ["b", false],
      ],
    );
    await conn.close();
  });

  test("renewals in a row wait as failed attempts do: the reconnect attempt number grows with the streak", async () => {
    const { essential, conn } = twoChannels();
    const attempts: number[] = [];
    conn.on("status", (s: BrokerStatus) => {
      if (s.state === "connecting") attempts.push(s.attempt);
    });
    await conn.start();
    for (let i = 0; i < 3; i++) {
      const reconnected = nextEvent(conn, "connect");
      essential[i]!.closeByBroker();
      await reconnected;
    }
    assert.deepEqual(attempts, [1, 2, 3]);
    await conn.close();
  });

  test("a channel closing because its connection was lost is the connection's loss, counted once", async () => {
    const { brokers, essential, setUp, conn } = twoChannels();
    await conn.start();
    const disconnects: string[] = [];
    conn.on("disconnect", (err: Error) => disconnects.push(err.message));
    const reconnected = nextEvent(conn, "connect");
    // amqplib closes the channels, then reports the connection's close.
    essential[0]!.emit("close");
    brokers.models[0]!.drop();
    await reconnected;
    await new Promise((r) => setImmediate(r));
    assert.equal(disconnects.length, 1);
    assert.match(disconnects[0]!, /ECONNRESET/);
    // A lost connection fails over to the next broker.
    assert.deepEqual(setUp, ["a", "b"]);
    await conn.close();
  });
});

describe("BrokerConnection.renew", () => {
  test("sets the current connection up again on the same broker; a no-op when not connected", async () => {
    const brokers = fakeBrokers();
    const setUp: string[] = [];
    const conn = connection(["a", "b"], brokers.open, async (m) => {
      setUp.push((m as unknown as FakeModel).host);
    });
    conn.renew("before start: nothing to renew");
    await conn.start();
    const disconnected = nextEvent(conn, "disconnect");
    const reconnected = nextEvent(conn, "connect");
    conn.renew("the broker nacked every publish on this channel");
    const [err] = await disconnected;
    assert.match((err as Error).message, /nacked every publish/);
    await reconnected;
    assert.deepEqual(setUp, ["a", "a"]);
    await conn.close();
    conn.renew("after close: nothing to renew");
    assert.equal(brokers.models.length, 2);
  });
});
