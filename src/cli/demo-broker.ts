import { execFile } from "node:child_process";
import { accessSync, chmodSync, constants, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { promisify } from "node:util";
import type { Logger } from "../log.js";
import { ExitError } from "./common.js";
import { EXIT_RUNTIME } from "./exit-codes.js";

const run = promisify(execFile);

/** A broker that does not accept a TCP connection within this long is not there. */
const PROBE_TIMEOUT_MS = 1500;
/** A RabbitMQ node boots in about 10 s (docs/architecture.md#test-machine); a busy laptop needs more. */
const BOOT_TIMEOUT_MS = 90_000;
const POLL_MS = 250;
/** The Erlang distribution port sits this far above the AMQP port (25672 for 5672). */
const DIST_PORT_OFFSET = 20_000;

export function portOpen(host: string, port: number, timeoutMs = PROBE_TIMEOUT_MS): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (open: boolean) => {
      socket.destroy();
      resolve(open);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once("connect", () => done(true));
    socket.once("error", () => done(false));
  });
}

function onPath(command: string): boolean {
  const dirs = [...(process.env.PATH ?? "").split(delimiter), "/usr/sbin", "/usr/local/sbin", "/sbin"];
  return dirs.some((d) => {
    try {
      accessSync(join(d, command), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

function isLocal(host: string): boolean {
  return host === "localhost" || host.startsWith("127.") || host === "::1" || host === "[::1]";
}

const isRoot = () => process.getuid?.() === 0;

/** The one command that gives this machine a broker on 5672. */
export function brokerFixCommand(): string {
  const sudo = isRoot() ? "" : "sudo ";
  if (onPath("rabbitmq-server")) {
    return onPath("systemctl") && onPath("systemd-notify")
      ? `${sudo}systemctl start rabbitmq-server`
      : `${sudo}rabbitmq-server -detached`;
  }
  if (onPath("apt-get")) return `${sudo}apt-get install -y rabbitmq-server`;
  if (onPath("docker")) return "docker run -d --rm --name gwsync-rabbitmq -p 5672:5672 rabbitmq:4";
  return "install RabbitMQ (https://www.rabbitmq.com/docs/download) and start it";
}

/**
 * A RabbitMQ node of the demo's own, for a machine where RabbitMQ is installed but not running: its
 * own node name, folders in the temp folder (owned by user rabbitmq, which Debian's rabbitmq-server
 * switches to) and loopback listener; stopped and removed when the demo stops.
 */
export class PrivateNode {
  readonly node: string;
  readonly #dir: string;
  readonly #port: number;

  constructor(port: number) {
    this.#port = port;
    this.node = `gwsync-demo-${port}@localhost`;
    this.#dir = mkdtempSync(join(tmpdir(), "gwsync-demo-rabbit-"));
  }

  async start(): Promise<void> {
    const dir = this.#dir;
    mkdirSync(join(dir, "mnesia"));
    mkdirSync(join(dir, "log"));
    writeFileSync(join(dir, "plugins"), "[].\n");
    writeFileSync(join(dir, "rabbitmq.conf"), `listeners.tcp.local = 127.0.0.1:${this.#port}\n`);
    chmodSync(dir, 0o755);
    await run("chown", ["-R", "rabbitmq:rabbitmq", dir]);
    await run("rabbitmq-server", ["-detached"], {
      env: {
        ...process.env,
        RABBITMQ_NODENAME: this.node,
        RABBITMQ_NODE_PORT: String(this.#port),
        RABBITMQ_DIST_PORT: String(this.#port + DIST_PORT_OFFSET),
        RABBITMQ_CONFIG_FILE: join(dir, "rabbitmq.conf"),
        RABBITMQ_MNESIA_BASE: join(dir, "mnesia"),
        RABBITMQ_LOG_BASE: join(dir, "log"),
        RABBITMQ_ENABLED_PLUGINS_FILE: join(dir, "plugins"),
        RABBITMQ_PID_FILE: join(dir, "pid"),
      },
    });
    const deadline = Date.now() + BOOT_TIMEOUT_MS;
    while (!(await portOpen("127.0.0.1", this.#port))) {
      if (Date.now() > deadline) {
        await this.stop();
        throw new Error(
          `the private RabbitMQ node did not open port ${this.#port} within ${BOOT_TIMEOUT_MS} ms`,
        );
      }
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
  }

  async stop(): Promise<void> {
    await run("rabbitmqctl", ["-n", this.node, "stop"]).catch(() => undefined);
    rmSync(this.#dir, { recursive: true, force: true });
  }
}

/**
 * Make sure the demo has a broker at host:port: there already, or (RabbitMQ installed, not running,
 * and we may start it) a private node; else fail at once with the one command that fixes it.
 */
export async function ensureDemoBroker(
  host: string,
  port: number,
  log: Logger,
): Promise<PrivateNode | undefined> {
  if (await portOpen(host, port)) return undefined;
  if (!isLocal(host)) {
    throw new ExitError(
      EXIT_RUNTIME,
      `gwsync demo: no broker answers at ${host}:${port}: check GWSYNC_BROKER_URLS, or unset it to use a RabbitMQ on 127.0.0.1:5672`,
    );
  }
  if (onPath("rabbitmq-server") && onPath("rabbitmqctl") && isRoot()) {
    log.info(
      { port },
      "RabbitMQ is installed but not running: starting a private node for the demo (stopped with it)",
    );
    const node = new PrivateNode(port);
    try {
      await node.start();
    } catch (err) {
      throw new ExitError(
        EXIT_RUNTIME,
        `gwsync demo: could not start a private RabbitMQ node (${(err as Error).message}); start RabbitMQ with: ${brokerFixCommand()}`,
      );
    }
    return node;
  }
  throw new ExitError(
    EXIT_RUNTIME,
    `gwsync demo: no RabbitMQ on ${host}:${port}. Run this, then try again:\n  ${brokerFixCommand()}`,
  );
}
