/**
 * The fleet benchmarks' own RabbitMQ node (B8–B10): a SecondBroker on a port of its own, so that its
 * memory and CPU are the benchmark's alone and the machine's broker (5672), which other work uses, is
 * not disturbed. Started fresh (a node already on the port is refused: its figures would not be ours)
 * and stopped with its folders at the end.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { nodeEnv, portOpen, prepareNodeDir, TEST_PORT_OFFSET, waitForPort } from "../../test/harness/rabbit-node.js";
import { SecondBroker } from "../../test/harness/second-broker.js";
import { readProcMemory } from "./children.js";

const run = promisify(execFile);

/** Above the test suite's extra nodes (5673, 5674 + offset). */
export const FLEET_BROKER_PORT = 5690 + TEST_PORT_OFFSET;
/**
 * Open files the node may hold: a connection is a socket, and 1,000 gateways are 1,000 connections.
 * Debian's rabbitmq-server wrapper switches user with su, whose PAM session puts the soft limit back
 * to 1024; the node then ran out of descriptors at 1,000 gateways (connections refused, rabbitmqctl
 * could not reach it). The node is started here without su, under this limit.
 */
const NODE_OPEN_FILES = 20_000;
const SERVER = "/usr/lib/rabbitmq/bin/rabbitmq-server";
/** /proc/<pid>/stat counts CPU time in clock ticks (USER_HZ, 100 on Linux). */
const TICKS_PER_SECOND = 100;

export interface BrokerMemory {
  /**
   * In use by the node (rabbitmq-diagnostics memory_breakdown: every category but the allocators' slack).
   * It includes "binary", which counts a message body once per process referencing it (every queue of a
   * fan-out): subtract binaryMb for what is there; rssMb is what the OS sees.
   */
  totalMb: number;
  /** Queue processes (classic queues' and streams' own memory), connections+channels, binaries. */
  queuesMb: number;
  connectionsMb: number;
  binaryMb: number;
  /** beam.smp's resident memory from /proc. */
  rssMb: number;
}

export class PrivateBroker {
  readonly #node = new SecondBroker({ port: FLEET_BROKER_PORT, name: `gwsyncbench${FLEET_BROKER_PORT}` });
  #pid = -1;
  #dir: string | undefined;

  get port(): number {
    return this.#node.port;
  }

  get nodeName(): string {
    return this.#node.node;
  }

  url(): string {
    return this.#node.url();
  }

  get pid(): number {
    return this.#pid;
  }

  async start(): Promise<void> {
    if (await portOpen(this.port)) {
      throw new Error(`port ${this.port} is already in use: the fleet benchmarks need a node of their own there`);
    }
    // As SecondBroker.start (test/harness/second-broker.ts), but as user rabbitmq through setpriv (no
    // PAM session) with the open-files limit raised, and the cookie of the machine's rabbitmqctl.
    const dir = mkdtempSync(join(tmpdir(), "gwsync-rabbit-"));
    this.#dir = dir;
    await prepareNodeDir(dir, this.port);
    await run(
      "prlimit",
      [
        `--nofile=${NODE_OPEN_FILES}:${NODE_OPEN_FILES}`,
        "setpriv",
        "--reuid=rabbitmq",
        "--regid=rabbitmq",
        "--init-groups",
        SERVER,
        "-detached",
      ],
      {
        cwd: "/var/lib/rabbitmq",
        env: {
          PATH: process.env.PATH ?? "/usr/bin:/bin",
          HOME: "/var/lib/rabbitmq",
          ...nodeEnv(this.nodeName, this.port, dir),
        },
      },
    );
    await waitForPort(this.port);
    await this.#readPid();
    const limits = readFileSync(`/proc/${this.#pid}/limits`, "utf8");
    const open = /Max open files\s+(\d+)/.exec(limits)?.[1];
    if (Number(open) < NODE_OPEN_FILES) throw new Error(`the node's open-files limit is ${open}, not ${NODE_OPEN_FILES}`);
  }

  /** Where the node's log is (kept when GWSYNC_BENCH_KEEP_BROKER=1). */
  get dir(): string | undefined {
    return this.#dir;
  }

  async #readPid(): Promise<void> {
    const out = await this.#node.ctl("eval", "os:getpid().");
    this.#pid = Number(out.trim().replace(/"/g, ""));
    if (!Number.isInteger(this.#pid) || this.#pid <= 0) throw new Error(`could not read the node's pid: ${out}`);
  }

  /** Cut every connection: the broker application stops (the node and its queues' files stay). */
  async stopApp(): Promise<void> {
    await this.#node.stopApp();
  }

  async startApp(): Promise<void> {
    await this.#node.startApp();
  }

  /** beam.smp's CPU seconds so far (user + system). */
  cpuSeconds(): number {
    const stat = readFileSync(`/proc/${this.#pid}/stat`, "utf8");
    // Fields after the command name (which may hold spaces) start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // utime and stime are fields 14 and 15 of stat, i.e. 12 and 13 after the name.
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
  }

  rssKb(): number {
    return readProcMemory(this.#pid).rssKb;
  }

  async memory(): Promise<BrokerMemory> {
    const { stdout } = await run("rabbitmq-diagnostics", [
      "-n",
      this.nodeName,
      "memory_breakdown",
      "--unit",
      "bytes",
      "--formatter",
      "json",
    ]);
    const m = JSON.parse(stdout) as Record<string, unknown>;
    // Each category is {"bytes": n, "percentage": p} in the JSON formatter's output.
    const bytes = (k: string): number => {
      const v = m[k];
      if (typeof v === "number") return v;
      const b = (v as { bytes?: unknown } | undefined)?.bytes;
      return typeof b === "number" ? b : 0;
    };
    const mb = (b: number) => b / 2 ** 20;
    // "total" is an object (erlang, rss, allocated); allocated_unused and reserved_unallocated are the
    // allocators' slack, not the node's data.
    const slack = new Set(["total", "allocated_unused", "reserved_unallocated", "strategy"]);
    const used = Object.keys(m)
      .filter((k) => !slack.has(k))
      .reduce((s, k) => s + bytes(k), 0);
    return {
      totalMb: mb(used),
      queuesMb: mb(
        bytes("queue_procs") +
          bytes("queue_slave_procs") +
          bytes("quorum_queue_procs") +
          bytes("stream_queue_procs") +
          bytes("stream_queue_replica_reader_procs") +
          bytes("stream_queue_coordinator_procs"),
      ),
      connectionsMb: mb(
        bytes("connection_readers") + bytes("connection_writers") + bytes("connection_channels") + bytes("connection_other"),
      ),
      binaryMb: mb(bytes("binary")),
      rssMb: this.rssKb() / 1024,
    };
  }

  /** Queues the node holds. */
  async queueCount(): Promise<number> {
    const out = await this.#node.ctl("list_queues", "-q", "--no-table-headers", "name");
    return out.split("\n").filter((l) => l.trim() !== "").length;
  }

  /** Bytes received and sent on all client connections so far, and how many connections. */
  async connectionOctets(): Promise<{ recv: number; send: number; connections: number }> {
    const out = await this.#node.ctl("list_connections", "-q", "--no-table-headers", "recv_oct", "send_oct");
    let recv = 0;
    let send = 0;
    let connections = 0;
    for (const line of out.split("\n")) {
      const [r, s] = line.trim().split(/\s+/).map(Number);
      if (r === undefined || s === undefined || Number.isNaN(r) || Number.isNaN(s)) continue;
      recv += r;
      send += s;
      connections++;
    }
    return { recv, send, connections };
  }

  async stop(): Promise<void> {
    if (this.#dir === undefined) return;
    await this.#node.ctl("stop").catch(() => undefined);
    if (process.env.GWSYNC_BENCH_KEEP_BROKER !== "1") rmSync(this.#dir, { recursive: true, force: true });
    this.#dir = undefined;
  }
}

/** Samples beam.smp's RSS every `everyMs` until stopped; returns the peak (kB). */
export function samplePeakRss(broker: PrivateBroker, everyMs = 250): { stop: () => number } {
  let peak = broker.rssKb();
  const timer = setInterval(() => {
    try {
      peak = Math.max(peak, broker.rssKb());
    } catch {
      // The node is restarting (B9): no sample this time.
    }
  }, everyMs);
  // Never what keeps the process alive (a benchmark that failed before stop()).
  timer.unref();
  return {
    stop: () => {
      clearInterval(timer);
      return peak;
    },
  };
}
