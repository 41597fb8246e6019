import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { nodeEnv, portOpen, prepareNodeDir, TEST_PORT_OFFSET, waitForPort } from "./rabbit-node.js";

const run = promisify(execFile);

/** Region B's node in the relay tests. */
export const REGION_B_PORT = 5673 + TEST_PORT_OFFSET;

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
    await prepareNodeDir(dir, this.port);
    await run("rabbitmq-server", ["-detached"], {
      env: { ...process.env, ...nodeEnv(this.node, this.port, dir) },
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
