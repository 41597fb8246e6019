import { execFile } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

/**
 * Moves the ports of the extra nodes the tests start (5673, 5674), so that two checkouts on one machine
 * can run their suites at once without sharing a node.
 */
export const TEST_PORT_OFFSET = Number(process.env.GWSYNC_TEST_PORT_OFFSET ?? "0");
/** Region B's node in the relay tests. */
export const REGION_B_PORT = 5673 + TEST_PORT_OFFSET;

/** A RabbitMQ node boots in about 10 s here (docs/architecture.md#test-machine); allow for a loaded CI machine. */
export const BROKER_BOOT_TIMEOUT_MS = 60 * 1000;
const PORT_POLL_MS = 200;
/** The Erlang distribution port sits this far above the AMQP port (25672 for 5672). */
const DIST_PORT_OFFSET = 20000;

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

/** Polls the port until it is open (a node's boot has no other completion signal), bounded. */
export async function waitForPort(port: number, timeoutMs = BROKER_BOOT_TIMEOUT_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await portOpen(port))) {
    if (Date.now() > deadline) throw new Error(`RabbitMQ did not open port ${port} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, PORT_POLL_MS));
  }
}

/**
 * An extra RabbitMQ node on its own port, for a second region and for outages (docs/architecture.md#test-machine): its
 * folders in a temp dir owned by user rabbitmq (Debian's rabbitmq-server switches to it), its own
 * node name, AMQP and distribution ports, and a config file that listens on the port on loopback
 * only (the machine's rabbitmq.conf pins 5672). A node already listening on the port is reused and
 * left running at the end.
 */
export class SecondBroker {
  readonly port: number;
  readonly node: string;
  #dir: string | undefined;
  #startedHere = false;

  constructor(options: { port?: number; name?: string } = {}) {
    this.port = options.port ?? REGION_B_PORT;
    this.node = `${options.name ?? `gwsync${this.port}`}@localhost`;
  }

  url(vhost = "/"): string {
    return `amqp://guest:guest@127.0.0.1:${this.port}/${encodeURIComponent(vhost)}`;
  }

  async start(): Promise<void> {
    if (await portOpen(this.port)) return;
    const dir = mkdtempSync(join(tmpdir(), "gwsync-rabbit-"));
    this.#dir = dir;
    mkdirSync(join(dir, "mnesia"));
    mkdirSync(join(dir, "log"));
    writeFileSync(join(dir, "plugins"), "[].\n");
    writeFileSync(join(dir, "rabbitmq.conf"), `listeners.tcp.local = 127.0.0.1:${this.port}\n`);
    chmodSync(dir, 0o755);
    await run("chown", ["-R", "rabbitmq:rabbitmq", dir]);
    await run("rabbitmq-server", ["-detached"], {
      env: {
        ...process.env,
        RABBITMQ_NODENAME: this.node,
        RABBITMQ_NODE_PORT: String(this.port),
        RABBITMQ_DIST_PORT: String(this.port + DIST_PORT_OFFSET),
        RABBITMQ_CONFIG_FILE: join(dir, "rabbitmq.conf"),
        RABBITMQ_MNESIA_BASE: join(dir, "mnesia"),
        RABBITMQ_LOG_BASE: join(dir, "log"),
        RABBITMQ_ENABLED_PLUGINS_FILE: join(dir, "plugins"),
        RABBITMQ_PID_FILE: join(dir, "pid"),
      },
    });
    this.#startedHere = true;
    await waitForPort(this.port);
  }

  async ctl(...args: string[]): Promise<string> {
    const { stdout } = await run("rabbitmqctl", ["-n", this.node, ...args]);
    return stdout;
  }

  /** A region outage: the node stays up, the broker application (and its port) goes away. */
  async stopApp(): Promise<void> {
    await this.ctl("stop_app");
  }

  async startApp(): Promise<void> {
    await this.ctl("start_app");
    await waitForPort(this.port);
  }

  /** A vhost with full rights for guest: a third "region" on the same node. */
  async addVhost(vhost: string): Promise<void> {
    await this.ctl("add_vhost", vhost);
    await this.ctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*");
  }

  async deleteVhost(vhost: string): Promise<void> {
    await this.ctl("delete_vhost", vhost).catch(() => undefined);
  }

  /** Stop the node if this harness started it, and remove its folders. */
  async stop(): Promise<void> {
    if (!this.#startedHere) return;
    await this.ctl("stop").catch(() => undefined);
    if (this.#dir) rmSync(this.#dir, { recursive: true, force: true });
    this.#startedHere = false;
  }
}
