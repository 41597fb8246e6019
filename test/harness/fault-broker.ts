import { execFile } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

/** The fault suite's own node, never the relay's (5673) nor the shared one (5672). */
export const FAULT_BROKER_PORT = 5674 + Number(process.env.GWSYNC_TEST_PORT_OFFSET ?? "0");
export const FAULT_BROKER_NAME = `faults${process.env.GWSYNC_TEST_PORT_OFFSET ?? ""}`;
/** A node boots in about 10 s here (docs/architecture.md#test-machine); a loaded CI box needs more. */
export const BROKER_BOOT_TIMEOUT_MS = 90_000;
const PORT_POLL_MS = 100;
/** Erlang distribution port = AMQP port + 20000 (25672 for 5672). */
const DIST_PORT_OFFSET = 20_000;

export function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: "127.0.0.1", port });
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}

/** Polls the port (a node's boot has no other completion signal a test can wait on), bounded. */
export async function waitForPort(
  port: number,
  open: boolean,
  timeoutMs = BROKER_BOOT_TIMEOUT_MS,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while ((await portOpen(port)) !== open) {
    if (Date.now() > deadline)
      throw new Error(`port ${port} did not ${open ? "open" : "close"} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, PORT_POLL_MS));
  }
}

/**
 * A RabbitMQ node the fault tests may stop, start and kill -9 (docs/architecture.md#test-machine): its own folders
 * (kept across restarts, so durable queues and persistent messages survive as on a real server),
 * node name and ports, listening on loopback only.
 */
export class FaultBroker {
  readonly port: number;
  readonly node: string;
  readonly dir: string;
  #env: NodeJS.ProcessEnv;

  constructor(options: { port?: number; name?: string } = {}) {
    this.port = options.port ?? FAULT_BROKER_PORT;
    this.node = `${options.name ?? FAULT_BROKER_NAME}@localhost`;
    this.dir = mkdtempSync(join(tmpdir(), "gwsync-fault-rabbit-"));
    this.#env = {
      ...process.env,
      RABBITMQ_NODENAME: this.node,
      RABBITMQ_NODE_PORT: String(this.port),
      RABBITMQ_DIST_PORT: String(this.port + DIST_PORT_OFFSET),
      RABBITMQ_CONFIG_FILE: join(this.dir, "rabbitmq.conf"),
      RABBITMQ_MNESIA_BASE: join(this.dir, "mnesia"),
      RABBITMQ_LOG_BASE: join(this.dir, "log"),
      RABBITMQ_ENABLED_PLUGINS_FILE: join(this.dir, "plugins"),
      RABBITMQ_PID_FILE: join(this.dir, "pid"),
    };
  }

  get url(): string {
    return `amqp://guest:guest@127.0.0.1:${this.port}`;
  }

  /** Boot the node (first time: create its folders) and wait for its AMQP port. */
  async start(): Promise<void> {
    if (await portOpen(this.port))
      throw new Error(`port ${this.port} is taken: another node runs there; stop it first`);
    mkdirSync(join(this.dir, "mnesia"), { recursive: true });
    mkdirSync(join(this.dir, "log"), { recursive: true });
    writeFileSync(join(this.dir, "plugins"), "[].\n");
    writeFileSync(
      join(this.dir, "rabbitmq.conf"),
      `listeners.tcp.local = 127.0.0.1:${this.port}\nloopback_users = none\n`,
    );
    chmodSync(this.dir, 0o755);
    await run("chown", ["-R", "rabbitmq:rabbitmq", this.dir]);
    await run("rabbitmq-server", ["-detached"], { env: this.#env });
    await waitForPort(this.port, true);
  }

  async ctl(...args: string[]): Promise<string> {
    const { stdout } = await run("rabbitmqctl", ["-n", this.node, ...args]);
    return stdout;
  }

  /** `rabbitmqctl stop_app`: the broker goes away cleanly (connections closed), the node stays. */
  async stopApp(): Promise<void> {
    await this.ctl("stop_app");
    await waitForPort(this.port, false);
  }

  async startApp(): Promise<void> {
    await this.ctl("start_app");
    await waitForPort(this.port, true);
  }

  /** kill -9 of the node's VM: no goodbye to anyone, only what is on disk survives. */
  async kill9(): Promise<void> {
    const pid = Number(readFileSync(join(this.dir, "pid"), "utf8").trim());
    if (!Number.isSafeInteger(pid) || pid <= 1) throw new Error(`no pid in ${join(this.dir, "pid")}`);
    process.kill(pid, "SIGKILL");
    await waitForPort(this.port, false);
    // The VM must be gone before the same node name can boot again.
    const deadline = Date.now() + BROKER_BOOT_TIMEOUT_MS;
    while (alive(pid)) {
      if (Date.now() > deadline) throw new Error(`broker pid ${pid} survived SIGKILL`);
      await new Promise((r) => setTimeout(r, PORT_POLL_MS));
    }
  }

  /** Stop the node and remove its folders. */
  async destroy(): Promise<void> {
    await this.ctl("stop").catch(() => undefined);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
