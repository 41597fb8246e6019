import { randomBytes } from "node:crypto";
import amqp from "amqplib";

export const BROKER_URL = process.env.GWSYNC_TEST_BROKER_URL ?? "amqp://guest:guest@127.0.0.1:5672";

/** A random prefix per test so tests sharing the one broker never see each other's messages. */
export function testId(prefix = "t"): string {
  return `${prefix}-${randomBytes(4).toString("hex")}`;
}

/** Delete the test's exchange and queues (best effort: a deleted queue is fine). */
export async function cleanupBroker(options: { exchanges?: string[]; queues?: string[]; url?: string }): Promise<void> {
  const conn = await amqp.connect(options.url ?? BROKER_URL);
  try {
    for (const q of options.queues ?? []) {
      const ch = await conn.createChannel();
      ch.on("error", () => undefined);
      await ch.deleteQueue(q).catch(() => undefined);
      await ch.close().catch(() => undefined);
    }
    for (const x of options.exchanges ?? []) {
      const ch = await conn.createChannel();
      ch.on("error", () => undefined);
      await ch.deleteExchange(x).catch(() => undefined);
      await ch.close().catch(() => undefined);
    }
  } finally {
    await conn.close();
  }
}

/** Publish raw bytes to an exchange with confirms (to inject WSO2 samples and bad payloads). */
export async function publishRaw(
  exchange: string,
  routingKey: string,
  bodies: Buffer[],
  options: { url?: string; headers?: Record<string, unknown>; messageId?: (i: number) => string } = {},
): Promise<void> {
  const conn = await amqp.connect(options.url ?? BROKER_URL);
  try {
    const ch = await conn.createConfirmChannel();
    for (const [i, body] of bodies.entries()) {
      ch.publish(exchange, routingKey, body, {
        persistent: true,
        contentType: "application/json",
        timestamp: Date.now(),
        ...(options.messageId ? { messageId: options.messageId(i) } : {}),
        ...(options.headers ? { headers: options.headers } : {}),
      });
    }
    await ch.waitForConfirms();
    await ch.close();
  } finally {
    await conn.close();
  }
}

/** Read every message of a queue (dead-letter inspection). */
export async function drainQueue(queue: string, url = BROKER_URL): Promise<{ body: Buffer; headers: Record<string, unknown> }[]> {
  const conn = await amqp.connect(url);
  const out: { body: Buffer; headers: Record<string, unknown> }[] = [];
  try {
    const ch = await conn.createChannel();
    for (;;) {
      const m = await ch.get(queue, { noAck: true });
      if (m === false) break;
      out.push({ body: m.content, headers: (m.properties.headers ?? {}) as Record<string, unknown> });
    }
    await ch.close();
  } finally {
    await conn.close();
  }
  return out;
}

/**
 * Drain a queue until it has given at least `atLeast` messages (or the timeout passed), then return all
 * of them. A consumer publishes its dead-letter copy just before it acks, so a test that saw the
 * "rejected" event can still be a few milliseconds ahead of the copy reaching the queue.
 */
export async function drainQueueUntil(
  queue: string,
  atLeast: number,
  options: { url?: string; timeoutMs?: number } = {},
): Promise<{ body: Buffer; headers: Record<string, unknown> }[]> {
  const deadline = Date.now() + (options.timeoutMs ?? 10_000);
  const out: { body: Buffer; headers: Record<string, unknown> }[] = [];
  for (;;) {
    out.push(...(await drainQueue(queue, options.url)));
    if (out.length >= atLeast || Date.now() > deadline) return out;
    await new Promise((r) => setTimeout(r, 25));
  }
}
