import { subscribe } from "node:diagnostics_channel";
import { HOP_CHANNEL, type HopRecord } from "../../src/hops.js";
import { nowMs } from "./clock.js";

/** Parent → child and child → parent messages are plain objects with a `type`. */
export interface IpcMessage {
  type: string;
  [key: string]: unknown;
}

export function send(m: IpcMessage): void {
  process.send?.(m);
}

/**
 * Run a child's message handler; the common messages (ping for the clock offset) are answered here,
 * and a failure is reported to the parent instead of killing the child silently.
 */
export function serve(handle: (m: IpcMessage) => Promise<void> | void): void {
  if (!process.send) {
    process.stderr.write("this is a bench child process: start it through bench/run.ts\n");
    process.exit(2);
  }
  process.on("message", (raw) => {
    const m = raw as IpcMessage;
    if (m.type === "ping") {
      send({ type: "pong", id: m.id, t: nowMs() });
      return;
    }
    if (m.type === "hops-record") {
      recordHops();
      send({ type: "hops-recording" });
      return;
    }
    if (m.type === "hops-take") {
      send({ type: "hops", records: hopRecords.splice(0) });
      return;
    }
    Promise.resolve()
      .then(() => handle(m))
      .catch((err: unknown) =>
        send({ type: "error", message: err instanceof Error ? (err.stack ?? err.message) : String(err) }),
      );
  });
  // The parent went away (crash, Ctrl-C): do not linger as an orphan holding queues and files.
  process.on("disconnect", () => process.exit(0));
  send({ type: "booted", t: nowMs() });
}

/** The hops (src/hops.ts) this process passed since "hops-record", until the parent takes them. */
const hopRecords: HopRecord[] = [];
let recording = false;

function recordHops(): void {
  if (recording) return;
  recording = true;
  subscribe(HOP_CHANNEL, (r) => {
    hopRecords.push(r as HopRecord);
  });
}
