import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import {
  claimNodeDir,
  killNode,
  nodeEnv,
  portOpen,
  prepareNodeDir,
  reclaimAbandonedNodes,
  TEST_PORT_OFFSET,
  waitForPort,
} from "./rabbit-node.js";

const run = promisify(execFile);

/** The fault suite's own node, never the relay's (5673) nor the shared one (5672). */
export const FAULT_BROKER_PORT = 5674 + TEST_PORT_OFFSET;
/** The prefix of the node's folder in the temp dir. */
export const FAULT_DIR_PREFIX = "gwsync-fault-rabbit-";
export const FAULT_BROKER_NAME = `faults${process.env.GWSYNC_TEST_PORT_OFFSET ?? ""}`;

/**
 * A RabbitMQ node the fault tests may stop, start and kill -9 (docs/architecture.md#test-machine): its own folders
 * (kept across restarts, so durable queues and persistent messages survive as on a real server),
 * node name and ports, listening on loopback only.
 */
export class FaultBroker {
  readonly port: number;
  readonly node: string;
  readonly dir: string;
  readonly #env: NodeJS.ProcessEnv;

  constructor(options: { port?: number; name?: string } = {}) {
    this.port = options.port ?? FAULT_BROKER_PORT;
    this.node = `${options.name ?? FAULT_BROKER_NAME}@localhost`;
    this.dir = mkdtempSync(join(tmpdir(), FAULT_DIR_PREFIX));
    this.#env = { ...process.env, ...nodeEnv(this.node, this.port, this.dir) };
  }

  get url(): string {
    return `amqp://guest:guest@127.0.0.1:${this.port}`;
  }

  /** Boot the node (first time: create its folders) and wait for its AMQP port. */
  async start(): Promise<void> {
    // A node whose test file was killed at its timeout still holds the port: end it first.
    await reclaimAbandonedNodes([FAULT_DIR_PREFIX]);
    if (await portOpen(this.port))
      throw new Error(`port ${this.port} is taken: another node runs there; stop it first`);
    await prepareNodeDir(this.dir, this.port);
    claimNodeDir(this.dir);
    await run("rabbitmq-server", ["-detached"], { env: this.#env });
    await waitForPort(this.port);
  }

  async ctl(...args: string[]): Promise<string> {
    const { stdout } = await run("rabbitmqctl", ["-n", this.node, ...args]);
    return stdout;
  }

  /** `rabbitmqctl stop_app`: the broker goes away cleanly (connections closed), the node stays. */
  async stopApp(): Promise<void> {
    await this.ctl("stop_app");
    await waitForPort(this.port, { open: false });
  }

  async startApp(): Promise<void> {
    await this.ctl("start_app");
    await waitForPort(this.port);
  }

  /** kill -9 of the node's VM: no goodbye to anyone, only what is on disk survives. */
  async kill9(): Promise<void> {
    await killNode(this.dir, this.port);
  }

  /** Stop the node and remove its folders. */
  async destroy(): Promise<void> {
    await this.ctl("stop").catch(() => undefined);
    rmSync(this.dir, { recursive: true, force: true });
  }
}
