/**
 * What the machine's broker did during one phase of a benchmark: its CPU (beam.smp, from /proc), and
 * with GWSYNC_BENCH_WIRE=1 what `rabbitmqctl` says of the world's queues (disk reads and writes: a
 * persistent message the queue had to write because it was not acked in time) and of every
 * connection (bytes and socket reads/writes each way), so two paths can be compared per event.
 * rabbitmqctl costs about 1 s of CPU per call (its own VM): the wire figures are for diagnosis, the
 * CPU figures are cheap and always on.
 */
import { execFileSync } from "node:child_process";
import { readProcCpuMs } from "./children.js";

/** The pid of the process listening on `port` (the broker), or undefined when it cannot be told. */
export function listenerPid(port: number): number | undefined {
  try {
    const out = execFileSync("ss", ["-ltnpH", `sport = :${port}`], { encoding: "utf8" });
    const m = /pid=(\d+)/.exec(out);
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

export interface QueueWire {
  diskReads: number;
  diskWrites: number;
  messages: number;
}

export interface ConnectionWire {
  recvOct: number;
  recvCnt: number;
  sendOct: number;
  sendCnt: number;
}

export interface WireSnapshot {
  queues: Map<string, QueueWire>;
  /** By the client's connection_name (unnamed ones by the broker's name for them). */
  connections: Map<string, ConnectionWire>;
}

export const WIRE_STATS = process.env.GWSYNC_BENCH_WIRE === "1";

function rabbitmqctlJson(args: string[]): unknown[] {
  const out = execFileSync("rabbitmqctl", ["-q", "--formatter", "json", ...args], {
    encoding: "utf8",
    maxBuffer: 64 * 1024 * 1024,
  });
  return JSON.parse(out) as unknown[];
}

/** The world's queues (names starting with one of `prefixes`) and every connection, now. */
export function wireSnapshot(prefixes: readonly string[]): WireSnapshot {
  const queues = new Map<string, QueueWire>();
  for (const q of rabbitmqctlJson(["list_queues", "name", "disk_reads", "disk_writes", "messages"]) as {
    name: string;
    disk_reads: number;
    disk_writes: number;
    messages: number;
  }[]) {
    if (!prefixes.some((p) => q.name.includes(p))) continue;
    queues.set(q.name, { diskReads: q.disk_reads, diskWrites: q.disk_writes, messages: q.messages });
  }
  const connections = new Map<string, ConnectionWire>();
  for (const c of rabbitmqctlJson([
    "list_connections",
    "name",
    "recv_oct",
    "recv_cnt",
    "send_oct",
    "send_cnt",
    "client_properties",
  ]) as {
    name: string;
    recv_oct: number;
    recv_cnt: number;
    send_oct: number;
    send_cnt: number;
    client_properties: [string, string, unknown][];
  }[]) {
    const named = c.client_properties.find((p) => p[0] === "connection_name");
    const key = typeof named?.[2] === "string" ? named[2] : c.name;
    connections.set(key, {
      recvOct: c.recv_oct,
      recvCnt: c.recv_cnt,
      sendOct: c.send_oct,
      sendCnt: c.send_cnt,
    });
  }
  return { queues, connections };
}

/** What changed between two snapshots, per queue and per connection (those that exist in `after`). */
export function wireDelta(
  before: WireSnapshot,
  after: WireSnapshot,
): { queues: Record<string, QueueWire>; connections: Record<string, ConnectionWire> } {
  const queues: Record<string, QueueWire> = {};
  for (const [name, q] of after.queues) {
    const b = before.queues.get(name) ?? { diskReads: 0, diskWrites: 0, messages: 0 };
    queues[name] = {
      diskReads: q.diskReads - b.diskReads,
      diskWrites: q.diskWrites - b.diskWrites,
      messages: q.messages,
    };
  }
  const connections: Record<string, ConnectionWire> = {};
  for (const [name, c] of after.connections) {
    const b = before.connections.get(name) ?? { recvOct: 0, recvCnt: 0, sendOct: 0, sendCnt: 0 };
    const d = {
      recvOct: c.recvOct - b.recvOct,
      recvCnt: c.recvCnt - b.recvCnt,
      sendOct: c.sendOct - b.sendOct,
      sendCnt: c.sendCnt - b.sendCnt,
    };
    if (d.recvOct !== 0 || d.sendOct !== 0) connections[name] = d;
  }
  return { queues, connections };
}

/** CPU (ms) used so far by each of a set of processes; missing ones count 0. */
export function cpuMs(pids: readonly (number | undefined)[]): number {
  let sum = 0;
  for (const pid of pids) {
    if (pid === undefined || pid < 0) continue;
    try {
      sum += readProcCpuMs(pid);
    } catch {
      // Gone: nothing more to count.
    }
  }
  return sum;
}
