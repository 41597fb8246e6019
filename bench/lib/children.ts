import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { type ChildEntry, childLaunchers } from "./bundle.js";
import { nowMs } from "./clock.js";

/** Every message a bench child sends over IPC has a type; the rest depends on the child. */
export interface ChildMessage {
  type: string;
  [key: string]: unknown;
}

const DEFAULT_WAIT_MS = 120_000;
const CLOCK_PINGS = 15;
const STOP_GRACE_MS = 10_000;

/**
 * A bench child process (gateway, raw consumer, raw loader) talking over IPC. Messages are buffered
 * until someone waits for them, so a reply that arrives before the wait starts is not lost.
 */
export class BenchChild {
  readonly name: string;
  readonly proc: ChildProcess;
  /** childClock − parentClock, ms (measured by `measureClockOffset`; 0 until then). */
  clockOffsetMs = 0;
  readonly #buffer: ChildMessage[] = [];
  readonly #waiters = new Set<{ match: (m: ChildMessage) => boolean; resolve: (m: ChildMessage) => void }>();
  readonly #listeners = new Set<(m: ChildMessage) => void>();
  #exit: Promise<number | null>;
  #exited = false;

  constructor(name: string, proc: ChildProcess) {
    this.name = name;
    this.proc = proc;
    proc.on("message", (raw) => this.#deliver(raw as ChildMessage));
    this.#exit = new Promise((resolve) =>
      proc.once("exit", (code) => {
        this.#exited = true;
        resolve(code);
      }),
    );
  }

  get pid(): number {
    return this.proc.pid ?? -1;
  }

  #deliver(m: ChildMessage): void {
    if (m.type === "error") process.stderr.write(`[${this.name}] ${String(m.message)}\n`);
    for (const l of this.#listeners) l(m);
    for (const w of this.#waiters) {
      if (w.match(m)) {
        this.#waiters.delete(w);
        w.resolve(m);
        return;
      }
    }
    // Streams of per-event reports are consumed by listeners; only keep what a wait may still ask for.
    if (this.#listeners.size === 0) this.#buffer.push(m);
  }

  /** Called for every message (per-event reports in latency benchmarks). */
  onMessage(fn: (m: ChildMessage) => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  send(m: ChildMessage): void {
    this.proc.send(m);
  }

  /** The next message of `type` (and matching `where`), bounded by `timeoutMs`. */
  waitFor(
    type: string,
    timeoutMs = DEFAULT_WAIT_MS,
    where: (m: ChildMessage) => boolean = () => true,
  ): Promise<ChildMessage> {
    const match = (m: ChildMessage) => m.type === type && where(m);
    const i = this.#buffer.findIndex(match);
    if (i >= 0) return Promise.resolve(this.#buffer.splice(i, 1)[0]!);
    if (type !== "error") {
      const failed = this.#buffer.find((m) => m.type === "error");
      if (failed) return Promise.reject(new Error(`${this.name} failed: ${String(failed.message)}`));
    }
    return new Promise((resolve, reject) => {
      const waiter = { match, resolve: (m: ChildMessage) => finish(undefined, m) };
      const onExit = (code: number | null) =>
        finish(new Error(`${this.name} exited (code ${code}) while waiting for "${type}"`));
      const onError = (m: ChildMessage) => {
        if (m.type === "error" && type !== "error")
          finish(new Error(`${this.name} failed: ${String(m.message)}`));
      };
      const off = this.onMessage(onError);
      const timer = setTimeout(
        () => finish(new Error(`${this.name}: no "${type}" within ${timeoutMs} ms`)),
        timeoutMs,
      );
      const finish = (err: Error | undefined, m?: ChildMessage) => {
        clearTimeout(timer);
        this.#waiters.delete(waiter);
        this.proc.removeListener("exit", onExit);
        off();
        if (err) reject(err);
        else resolve(m!);
      };
      this.#waiters.add(waiter);
      this.proc.once("exit", onExit);
    });
  }

  /** Send `m` and wait for the reply of type `reply`. */
  async request(m: ChildMessage, reply: string, timeoutMs = DEFAULT_WAIT_MS): Promise<ChildMessage> {
    const p = this.waitFor(reply, timeoutMs);
    this.send(m);
    return p;
  }

  /** Resident memory from /proc/<pid>/status: current (VmRSS) and peak (VmHWM), in kB. */
  memory(): { rssKb: number; hwmKb: number } {
    return readProcMemory(this.pid);
  }

  /**
   * Estimate this child's clock minus ours from the ping with the smallest round trip (error ≤ RTT/2),
   * so cross-process latencies are corrected rather than trusted.
   */
  async measureClockOffset(): Promise<{ offsetMs: number; rttMs: number }> {
    let best = { offsetMs: 0, rttMs: Number.POSITIVE_INFINITY };
    for (let i = 0; i < CLOCK_PINGS; i++) {
      const sent = nowMs();
      const pong = await this.request({ type: "ping", id: i }, "pong", 10_000);
      const recv = nowMs();
      const rtt = recv - sent;
      if (rtt < best.rttMs) best = { offsetMs: (pong.t as number) - (sent + recv) / 2, rttMs: rtt };
    }
    this.clockOffsetMs = best.offsetMs;
    return best;
  }

  /** A child timestamp on the parent's clock. */
  toParentClock(t: number): number {
    return t - this.clockOffsetMs;
  }

  /** Ask for a graceful stop; kill after a grace period. */
  async stop(graceMs = STOP_GRACE_MS): Promise<void> {
    if (this.#exited) return;
    try {
      this.send({ type: "stop" });
    } catch {
      // IPC already closed: fall through to the kill.
    }
    const timer = setTimeout(() => this.kill(), graceMs);
    await this.#exit;
    clearTimeout(timer);
  }

  /** SIGKILL (a crash, or a child that did not stop). */
  async kill(): Promise<void> {
    if (this.#exited) return;
    this.proc.kill("SIGKILL");
    await this.#exit;
  }

  get exited(): boolean {
    return this.#exited;
  }
}

/** CPU time (user + system) a process has used so far, ms, from /proc/<pid>/stat. */
export function readProcCpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // Fields after the command name (which may hold spaces): utime and stime are the 14th and 15th.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const ticks = Number(fields[11]) + Number(fields[12]);
  return (ticks * 1000) / CLOCK_TICKS_PER_S;
}

/** USER_HZ: 100 on Linux for every architecture Node runs on. */
const CLOCK_TICKS_PER_S = 100;

export function readProcMemory(pid: number): { rssKb: number; hwmKb: number } {
  const text = readFileSync(`/proc/${pid}/status`, "utf8");
  const field = (name: string) =>
    Number(new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(text)?.[1] ?? Number.NaN);
  return { rssKb: field("VmRSS"), hwmKb: field("VmHWM") };
}

export interface SpawnOptions {
  /** Extra node flags (e.g. --expose-gc). */
  nodeFlags?: string[];
  env?: Record<string, string>;
}

/**
 * Start a bench child. GWSYNC_BENCH_CPU_PROF=<dir> makes every child write a V8 CPU profile there
 * on exit (node --cpu-prof), for the "where does the time go" part of BENCHMARKS.md.
 */
export async function spawnChild(
  name: string,
  entry: ChildEntry,
  args: string[],
  options: SpawnOptions = {},
): Promise<BenchChild> {
  const launch = (await childLaunchers()).get(entry)!;
  const prof = process.env.GWSYNC_BENCH_CPU_PROF;
  const flags = [
    ...launch.nodeArgs,
    ...(options.nodeFlags ?? []),
    ...(prof
      ? ["--cpu-prof", `--cpu-prof-dir=${prof}`, `--cpu-prof-name=${name}-${Date.now()}.cpuprofile`]
      : []),
  ];
  const proc = spawn(process.execPath, [...flags, launch.script, ...args], {
    stdio: ["ignore", "inherit", "inherit", "ipc"],
    env: { ...process.env, ...options.env },
  });
  const child = new BenchChild(name, proc);
  await child.waitFor("booted", 60_000);
  return child;
}

/** Stop every child (graceful first), ignoring those already gone. */
export async function stopAll(children: Iterable<BenchChild | undefined>): Promise<void> {
  await Promise.all([...children].map((c) => c?.stop().catch(() => c.kill())));
}
