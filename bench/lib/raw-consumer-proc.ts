/**
 * The baseline consumer: plain amqplib, no gwsync. "file" mode writes each message body to a file
 * atomically (temp + fsync + rename) then acks — the least a script that deploys files must do;
 * "token" mode parses the JSON revocation and keeps it in a Map, then acks. Acks go out once per turn
 * of the event loop, one basic.ack with `multiple` for the messages of that turn (ack: "turn", the
 * default of bench/lib/world.ts), or one per message at once (ack: "each"). With `journal` (token mode),
 * each event is also appended to a file, fsynced before the turn's ack; with `burnUs`, each event
 * also keeps the CPU busy that long (bench/b4-raw-variants.ts: what a consumer's CPU per event costs).
 */
import { fsyncSync, mkdirSync, openSync, writeSync } from "node:fs";
import { join } from "node:path";
import amqp, { type ConsumeMessage } from "amqplib";
import { writeAtomic } from "./atomic-write.js";
import { type IpcMessage, send, serve } from "./child-ipc.js";
import { nowMs } from "./clock.js";

let reportEach = false;
let target = Number.POSITIVE_INFINITY;
let count = 0;
let firstT = 0;
const tokens = new Map<string, number>();
let close: (() => Promise<void>) | undefined;
/** The journal file (token mode with `journal`). */
let journalFd: number | undefined;
/** CPU spent per event on nothing, µs (0: none). */
let burnUs = 0;

async function start(m: IpcMessage): Promise<void> {
  const dir = m.dir as string;
  const mode = m.mode as "file" | "token";
  reportEach = m.reportEach === true;
  mkdirSync(dir, { recursive: true });
  if (m.journal === true && mode === "token") journalFd = openSync(join(dir, "journal"), "a");
  burnUs = typeof m.burnUs === "number" ? m.burnUs : 0;
  // noDelay: Nagle would hold 5 KB frames back ~40 ms (docs/architecture.md#nagle).
  // Named (as gwsync's connections are) so the broker's per-connection figures can tell them apart.
  const conn = await amqp.connect(m.url as string, {
    noDelay: true,
    clientProperties: { connection_name: `raw-consumer-${m.queue as string}` },
  });
  const ch = await conn.createChannel();
  await ch.prefetch(m.prefetch as number);
  const ackPerTurn = m.ack === "turn";
  let last: ConsumeMessage | undefined;
  let ackScheduled = false;
  const onMessage = (msg: ConsumeMessage | null) => {
    if (!msg) return;
    if (mode === "file") {
      const name = String(msg.properties.headers?.["x-file"] ?? "api.xml");
      writeAtomic(join(dir, name), msg.content);
    } else {
      const body = JSON.parse(msg.content.toString("utf8")) as {
        event: { payloadData: { revokedToken: string; expiryTime: number } };
      };
      tokens.set(body.event.payloadData.revokedToken, body.event.payloadData.expiryTime);
      if (journalFd !== undefined) writeSync(journalFd, msg.content);
    }
    if (burnUs > 0) {
      const until = performance.now() + burnUs / 1000;
      while (performance.now() < until) {
        // busy: a consumer that spends this much more CPU per event
      }
    }
    if (ackPerTurn) {
      // One ack with `multiple` for every message of this turn (as gwsync's consumers ack).
      last = msg;
      if (!ackScheduled) {
        ackScheduled = true;
        setImmediate(() => {
          ackScheduled = false;
          if (journalFd !== undefined) fsyncSync(journalFd);
          if (last) ch.ack(last, true);
          last = undefined;
        });
      }
    } else {
      if (journalFd !== undefined) fsyncSync(journalFd);
      ch.ack(msg);
    }
    const t = nowMs();
    if (firstT === 0) firstT = t;
    count++;
    if (reportEach) send({ type: "written", id: msg.properties.messageId, t });
    if (count === target) send({ type: "done", t, firstT, count });
  };
  await ch.consume(m.queue as string, onMessage, { noAck: false });
  close = async () => {
    await ch.close().catch(() => undefined);
    await conn.close().catch(() => undefined);
  };
  send({ type: "consuming" });
}

async function handle(m: IpcMessage): Promise<void> {
  switch (m.type) {
    case "start":
      return start(m);
    case "target":
      target = count + (m.count as number);
      firstT = 0;
      if (count >= target) send({ type: "done", t: nowMs(), firstT, count });
      return;
    case "reset":
      count = 0;
      target = Number.POSITIVE_INFINITY;
      return;
    case "stop":
      await close?.();
      process.exit(0);
  }
}

serve(handle);
