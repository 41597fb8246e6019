/**
 * What every private RabbitMQ node of the tests and benchmarks shares (docs/architecture.md#test-machine):
 * its folders in a temp dir owned by user rabbitmq (Debian's rabbitmq-server switches to it), the
 * RABBITMQ_* environment that gives it its own node name, ports and folders, and waiting for its AMQP
 * port. Used by SecondBroker (region B), FaultBroker (the fault suite's node), BrokerCluster (three
 * clustered nodes) and the fleet benchmarks' PrivateBroker.
 */
import { execFile } from "node:child_process";
import { chmodSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

/**
 * Moves the ports of the extra nodes the tests start (5673, 5674, 5675–5677), so that two checkouts on one
 * machine can run their suites at once without sharing a node.
 */
export const TEST_PORT_OFFSET = Number(process.env.GWSYNC_TEST_PORT_OFFSET ?? "0");
/** A node boots in about 10 s here; a loaded CI machine needs more. */
export const BROKER_BOOT_TIMEOUT_MS = 90_000;
/** The Erlang distribution port sits this far above the AMQP port (25672 for 5672). */
export const DIST_PORT_OFFSET = 20_000;
const PORT_POLL_MS = 100;

/** Whether something accepts TCP connections on 127.0.0.1:port. */
export function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

/**
 * Polls the port until it is open (or, with `open: false`, closed): a node's boot has no other
 * completion signal a test can wait on. Bounded.
 */
export async function waitForPort(
  port: number,
  options: { open?: boolean; timeoutMs?: number } = {},
): Promise<void> {
  const open = options.open ?? true;
  const timeoutMs = options.timeoutMs ?? BROKER_BOOT_TIMEOUT_MS;
  const deadline = Date.now() + timeoutMs;
  while ((await portOpen(port)) !== open) {
    if (Date.now() > deadline)
      throw new Error(`port ${port} did not ${open ? "open" : "close"} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, PORT_POLL_MS));
  }
}

/**
 * Creates (or keeps) a node's folders under `dir`: mnesia, log, an empty plugins file and a config that
 * listens on `port` on loopback only (the machine's rabbitmq.conf pins 5672) and lets guest log in from
 * anywhere; all owned by user rabbitmq.
 */
export async function prepareNodeDir(dir: string, port: number): Promise<void> {
  mkdirSync(join(dir, "mnesia"), { recursive: true });
  mkdirSync(join(dir, "log"), { recursive: true });
  writeFileSync(join(dir, "plugins"), "[].\n");
  writeFileSync(
    join(dir, "rabbitmq.conf"),
    `listeners.tcp.local = 127.0.0.1:${port}\nloopback_users = none\n`,
  );
  chmodSync(dir, 0o755);
  await run("chown", ["-R", "rabbitmq:rabbitmq", dir]);
}

/** The file in a node's folder that names the process that started the node (its owner). */
const OWNER_FILE = "owner";

/**
 * Marks `dir` as a node folder owned by this process: reclaimAbandonedNodes() ends the node and removes
 * the folder once this process is gone without having done so (a test file killed at its timeout).
 */
export function claimNodeDir(dir: string): void {
  writeFileSync(join(dir, OWNER_FILE), `${process.pid}\n`);
}

/** The OS pids whose environment puts their node folders under `dir` (the node's beam, its epmd child's not). */
export function nodeProcessesOf(dir: string): number[] {
  const mnesia = `RABBITMQ_MNESIA_BASE=${join(dir, "mnesia")}`;
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    const pid = Number(entry);
    if (!Number.isSafeInteger(pid) || pid <= 1 || pid === process.pid) continue;
    try {
      if (readFileSync(`/proc/${pid}/environ`, "latin1").split("\0").includes(mnesia)) pids.push(pid);
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return pids;
}

/**
 * Ends every node whose folder under the temp dir starts with one of `prefixes` and whose owner
 * process (claimNodeDir) is gone, and removes its folder; returns the folders reclaimed. A test file
 * the runner killed at its timeout never ran its clean-up: its nodes kept their ports, and the next
 * run's start failed with "port … is taken". Nodes whose owner still runs (another checkout's suite,
 * another file of this run) are left alone.
 */
export async function reclaimAbandonedNodes(prefixes: readonly string[]): Promise<string[]> {
  const reclaimed: string[] = [];
  for (const name of readdirSync(tmpdir())) {
    if (!prefixes.some((p) => name.startsWith(p))) continue;
    const dir = join(tmpdir(), name);
    let owner: number;
    try {
      owner = Number(readFileSync(join(dir, OWNER_FILE), "utf8").trim());
    } catch {
      continue; // not claimed (yet): being prepared, or from before claimNodeDir
    }
    if (!Number.isSafeInteger(owner) || owner <= 1 || processAlive(owner)) continue;
    const pids = nodeProcessesOf(dir);
    for (const pid of pids) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // ended meanwhile
      }
    }
    const deadline = Date.now() + BROKER_BOOT_TIMEOUT_MS;
    while (pids.some(processAlive)) {
      if (Date.now() > deadline) throw new Error(`abandoned broker ${dir}: pids ${pids} survived SIGKILL`);
      await new Promise((r) => setTimeout(r, PORT_POLL_MS));
    }
    rmSync(dir, { recursive: true, force: true });
    reclaimed.push(dir);
  }
  return reclaimed;
}

/** The environment that makes rabbitmq-server run node `node` on `port` with its folders under `dir`. */
export function nodeEnv(node: string, port: number, dir: string): Record<string, string> {
  return {
    RABBITMQ_NODENAME: node,
    RABBITMQ_NODE_PORT: String(port),
    RABBITMQ_DIST_PORT: String(port + DIST_PORT_OFFSET),
    RABBITMQ_CONFIG_FILE: join(dir, "rabbitmq.conf"),
    RABBITMQ_MNESIA_BASE: join(dir, "mnesia"),
    RABBITMQ_LOG_BASE: join(dir, "log"),
    RABBITMQ_ENABLED_PLUGINS_FILE: join(dir, "plugins"),
    RABBITMQ_PID_FILE: join(dir, "pid"),
  };
}

/** The node's OS pid, from the pid file under `dir` (written once the node has booted). */
export function readNodePid(dir: string): number {
  const file = join(dir, "pid");
  const pid = Number(readFileSync(file, "utf8").trim());
  if (!Number.isSafeInteger(pid) || pid <= 1) throw new Error(`no pid in ${file}`);
  return pid;
}

export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * kill -9 of a node's VM: no goodbye to its peers nor its clients. Resolves once its port is closed and
 * the VM is gone (the same node name cannot boot again before).
 */
export async function killNode(dir: string, port: number): Promise<void> {
  const pid = readNodePid(dir);
  process.kill(pid, "SIGKILL");
  await waitForPort(port, { open: false });
  const deadline = Date.now() + BROKER_BOOT_TIMEOUT_MS;
  while (processAlive(pid)) {
    if (Date.now() > deadline) throw new Error(`broker pid ${pid} survived SIGKILL`);
    await new Promise((r) => setTimeout(r, PORT_POLL_MS));
  }
}
