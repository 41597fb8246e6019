/**
 * QueueConsumer's acks (AckBatcher, src/amqp/consumer.ts): the deliveries decided in one turn go out
 * as one basic.ack with `multiple`, never covering a delivery still being handled, and a gateway's
 * runtime event is never acked before the journal line that holds it was fsync'd.
 *
 * The channel here keeps the broker's books as RabbitMQ does (rabbit_channel:collect_acks): a tag
 * acked must be unsettled, or the channel dies with PRECONDITION_FAILED; an ack with `multiple`
 * settles every unsettled tag up to it.
 */
import assert from "node:assert/strict";
import fs, { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, afterEach, describe, mock, test } from "node:test";
import type { ConsumeMessage } from "amqplib";
import { ACK, type Outcome, QueueConsumer } from "../../src/amqp/consumer.js";
import type { Channel, Envelope } from "../../src/amqp/envelope.js";
import { loadConfig } from "../../src/config/load-config.js";
import { encodeTokenRevocation } from "../../src/events/encode.js";
import { MemoryDeployer } from "../../src/gateway/deploy/memory-deployer.js";
import { GroupCommit } from "../../src/gateway/group-commit.js";
import { GatewayPipeline } from "../../src/gateway/pipeline.js";
import { Reconciler } from "../../src/gateway/reconciler.js";
import { RuntimeState } from "../../src/gateway/runtime/runtime-state.js";
import { GatewayMetrics } from "../../src/http/metrics.js";
import { silentLogger } from "../../src/log.js";
import { fakeControlPlane } from "../harness/fake-control-plane.js";

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
afterEach(() => mock.restoreAll());

interface AckFrame {
  tag: number;
  multiple: boolean;
  /** The tags this frame settled at the broker. */
  settled: number[];
}

/** A channel that settles as RabbitMQ does and records every frame; `deliver` hands out tags 1, 2, … */
class BookkeepingChannel {
  readonly unsettled = new Set<number>();
  readonly acks: AckFrame[] = [];
  readonly nacks: { tag: number; requeue: boolean }[] = [];
  readonly published: { routingKey: string }[] = [];
  onAck: ((frame: AckFrame) => void) | undefined;
  #onMessage: ((msg: ConsumeMessage | null) => void) | undefined;
  #tags = 0;

  async prefetch(): Promise<void> {}
  async consume(_queue: string, onMessage: (msg: ConsumeMessage | null) => void) {
    this.#onMessage = onMessage;
    return { consumerTag: "c1" };
  }
  async cancel(): Promise<void> {}
  async close(): Promise<void> {}

  deliver(stream: string, content: Buffer, messageId: string): number {
    const tag = ++this.#tags;
    this.unsettled.add(tag);
    this.#onMessage!({
      content,
      fields: {
        deliveryTag: tag,
        redelivered: false,
        exchange: "amq.topic",
        routingKey: stream,
        consumerTag: "c1",
      },
      properties: { headers: {}, messageId, contentType: "text/plain" },
    } as unknown as ConsumeMessage);
    return tag;
  }

  ack(msg: ConsumeMessage, multiple = false): void {
    const tag = msg.fields.deliveryTag;
    if (!this.unsettled.has(tag)) throw new Error(`PRECONDITION_FAILED - unknown delivery tag ${tag}`);
    const settled = multiple ? [...this.unsettled].filter((t) => t <= tag).sort((a, b) => a - b) : [tag];
    for (const t of settled) this.unsettled.delete(t);
    const frame = { tag, multiple, settled };
    this.acks.push(frame);
    this.onAck?.(frame);
  }

  nack(msg: ConsumeMessage, _multiple = false, requeue = true): void {
    const tag = msg.fields.deliveryTag;
    if (!this.unsettled.has(tag)) throw new Error(`PRECONDITION_FAILED - unknown delivery tag ${tag}`);
    this.unsettled.delete(tag);
    this.nacks.push({ tag, requeue });
  }

  publish(_exchange: string, routingKey: string): boolean {
    this.published.push({ routingKey });
    return true;
  }
}

function consumerOf(handle: (env: Envelope) => Promise<Outcome>, retryDelayMs = 1): QueueConsumer {
  return new QueueConsumer({
    queue: "q",
    prefetch: 256,
    maxDeliveries: 5,
    retryDelayMs,
    handle,
    logger: silentLogger,
  });
}

/** Resolves once `ch` has settled every delivery it handed out. */
function allSettled(ch: BookkeepingChannel): Promise<void> {
  return new Promise((resolve) => {
    const check = () => (ch.unsettled.size === 0 ? resolve() : setImmediate(check));
    check();
  });
}

describe("QueueConsumer acks (AckBatcher)", () => {
  test("the deliveries of one turn are acked with one basic.ack, multiple, for the last tag", async () => {
    const ch = new BookkeepingChannel();
    const c = consumerOf(async () => ACK);
    await c.start(ch as unknown as Channel);
    for (let i = 0; i < 50; i++) ch.deliver("tokenRevocation", Buffer.from("{}"), `m${i}`);
    await allSettled(ch);
    assert.deepEqual(
      ch.acks.map((a) => ({ tag: a.tag, multiple: a.multiple, n: a.settled.length })),
      [{ tag: 50, multiple: true, n: 50 }],
    );
  });

  test("a multiple ack never covers a delivery still being handled: those behind it are acked one by one", async () => {
    const ch = new BookkeepingChannel();
    let release: (() => void) | undefined;
    const slow = new Promise<void>((r) => {
      release = r;
    });
    const c = consumerOf(async (env) => {
      if (env.properties.messageId === "m2") await slow;
      return ACK;
    });
    await c.start(ch as unknown as Channel);
    for (let i = 1; i <= 5; i++) ch.deliver("notification", Buffer.from("{}"), `m${i}`);
    // Tags 1, 3, 4, 5 decided; 2 still handled.
    await new Promise<void>((resolve) => {
      const check = () => (ch.unsettled.size === 1 ? resolve() : setImmediate(check));
      check();
    });
    assert.deepEqual([...ch.unsettled], [2], "only the delivery being handled is unsettled");
    assert.ok(
      ch.acks.every((a) => !a.settled.includes(2)),
      "no ack settled the delivery still being handled",
    );
    assert.deepEqual(
      ch.acks.map((a) => [a.tag, a.multiple]),
      [
        [1, false],
        [3, false],
        [4, false],
        [5, false],
      ],
    );
    release!();
    await allSettled(ch);
    assert.deepEqual(ch.acks.at(-1), { tag: 2, multiple: false, settled: [2] });
  });

  test("a delivery requeued for a retry is nacked alone; the ones around it are acked", async () => {
    const ch = new BookkeepingChannel();
    let tries = 0;
    const c = consumerOf(async (env) => {
      if (env.properties.messageId === "m2" && tries++ === 0) return { kind: "retry", reason: "not yet" };
      return ACK;
    });
    await c.start(ch as unknown as Channel);
    for (let i = 1; i <= 4; i++) ch.deliver("notification", Buffer.from("{}"), `m${i}`);
    await allSettled(ch);
    assert.deepEqual(ch.nacks, [{ tag: 2, requeue: true }]);
    assert.deepEqual(
      ch.acks.flatMap((a) => a.settled),
      [1, 3, 4],
    );
  });

  test("stop() sends the acks its handlers decided before it returns", async () => {
    const ch = new BookkeepingChannel();
    const c = consumerOf(async () => ACK);
    await c.start(ch as unknown as Channel);
    for (let i = 0; i < 3; i++) ch.deliver("tokenRevocation", Buffer.from("{}"), `m${i}`);
    await c.stop();
    assert.equal(ch.unsettled.size, 0);
    assert.deepEqual(
      ch.acks.map((a) => [a.tag, a.multiple]),
      [[3, true]],
    );
  });

  test("a gateway's revocations are acked only once the journal holding them was fsync'd, with one multiple ack", async () => {
    const dir = mkdtempSync(join(tmpdir(), "gwsync-ack-batching-"));
    dirs.push(dir);
    const { config } = loadConfig({
      text: `[apim.sync_runtime_artifacts.gateway]\ngateway_labels = ["Default"]\n[gwsync]\nnode_id = "gw-unit"\ndata_dir = "${dir}"\n`,
      env: {},
      baseDir: dir,
    });
    const runtimeDir = join(dir, "runtime");
    const runtime = new RuntimeState({ dir: runtimeDir, maxRevocationLifetimeMs: 24 * 3600 * 1000 });
    runtime.load();
    // What the disk holds for sure: the journal's lines as they were when an fsync returned.
    const durable = new Set<string>();
    const realFsync = fs.fsyncSync;
    let fsyncs = 0;
    mock.method(fs, "fsyncSync", (fd: number) => {
      realFsync(fd);
      fsyncs++;
      for (const file of readdirSync(runtimeDir)) {
        if (!file.endsWith(".jsonl")) continue;
        for (const line of readFileSync(join(runtimeDir, file), "utf8").split("\n")) {
          if (line !== "") durable.add((JSON.parse(line) as { v?: string }).v ?? "");
        }
      }
    });
    const deployer = new MemoryDeployer({ keepContent: false });
    const pipeline = new GatewayPipeline({
      config,
      metrics: new GatewayMetrics(),
      runtime,
      // As the Gateway assembles it: one flush (write + fsync) for every delivery waiting.
      durable: new GroupCommit(() => runtime.flush()),
      reconciler: new Reconciler({
        labels: ["Default"],
        retriever: fakeControlPlane().retriever,
        deployer,
        policy: { retries: 1, minTimeoutMs: 1, factor: 1, maxTimeoutMs: 1 },
        logger: silentLogger,
      }),
      deployer,
      trust: { acceptInline: false, keys: undefined },
      watermark: () => 0,
      signal: new AbortController().signal,
      log: silentLogger,
    });
    const ch = new BookkeepingChannel();
    const tokenOf = new Map<number, string>();
    const violations: string[] = [];
    ch.onAck = (frame) => {
      for (const tag of frame.settled) {
        const token = tokenOf.get(tag)!;
        if (!durable.has(token)) violations.push(`tag ${tag} (${token}) acked before its fsync`);
      }
    };
    const c = consumerOf((env) => pipeline.handle(env));
    await c.start(ch as unknown as Channel);
    const N = 100;
    // One socket read's worth of deliveries, then a second one a turn later.
    for (const round of [0, 1]) {
      for (let i = 0; i < N / 2; i++) {
        const token = `tok-${round}-${i}`;
        const enc = encodeTokenRevocation({
          revokedToken: token,
          expiryTime: Date.now() + 3_600_000,
          type: "JWT",
        });
        tokenOf.set(ch.deliver("tokenRevocation", enc.body, enc.eventId), token);
      }
      await new Promise((r) => setImmediate(r));
    }
    await allSettled(ch);
    runtime.close();
    assert.deepEqual(violations, []);
    assert.equal(tokenOf.size, N);
    assert.ok(fsyncs >= 1);
    // Fewer ack frames than deliveries: each group commit's deliveries share one multiple ack.
    assert.ok(ch.acks.length <= fsyncs, `${ch.acks.length} ack frames for ${fsyncs} fsyncs`);
    assert.ok(ch.acks.every((a) => a.multiple || a.settled.length === 1));
    assert.equal(
      ch.acks.reduce((n, a) => n + a.settled.length, 0),
      N,
    );
  });
});
