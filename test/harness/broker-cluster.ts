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

/** The cluster's first AMQP port (5675, 5676, 5677 + GWSYNC_TEST_PORT_OFFSET): apart from 5672-5674. */
export const CLUSTER_BASE_PORT = 5675 + TEST_PORT_OFFSET;
/** The prefix of the nodes' folders in the temp dir. */
export const CLUSTER_DIR_PREFIX = "gwsync-cluster-rabbit-";
/** rabbitmqctl's own timeout for a command that waits (await_startup, join_cluster). */
const CTL_TIMEOUT_SEC = 90;

export interface ClusterNode {
  readonly port: number;
  readonly node: string;
  readonly dir: string;
  running: boolean;
}

/**
 * Three RabbitMQ nodes on this machine clustered together (docs/architecture.md#test-machine): each
 * with its own node name, AMQP and distribution ports and folders (owned by user rabbitmq, as
 * SecondBroker's), all under the same Erlang cookie (Debian's rabbitmq user's), joined with
 * `stop_app; join_cluster <first>; start_app`. kill9(i) takes a node away as a crash does.
 */
export class BrokerCluster {
  readonly nodes: ClusterNode[];

  constructor(size = 3, basePort = CLUSTER_BASE_PORT) {
    this.nodes = Array.from({ length: size }, (_, i) => {
      const port = basePort + i;
      return {
        port,
        node: `gwsyncq${port}@localhost`,
        dir: mkdtempSync(join(tmpdir(), CLUSTER_DIR_PREFIX)),
        running: false,
      };
    });
  }

  get ports(): number[] {
    return this.nodes.map((n) => n.port);
  }

  url(i: number): string {
    return `amqp://guest:guest@127.0.0.1:${this.nodes[i]!.port}`;
  }

  #env(n: ClusterNode): NodeJS.ProcessEnv {
    return { ...process.env, ...nodeEnv(n.node, n.port, n.dir) };
  }

  async ctl(i: number, ...args: string[]): Promise<string> {
    const { stdout } = await run("rabbitmqctl", ["-n", this.nodes[i]!.node, ...args]);
    return stdout;
  }

  /** Boot every node, then join the others to the first; resolves when all three run as one cluster. */
  async start(): Promise<void> {
    // A cluster whose test file was killed at its timeout still holds the ports: end it first.
    await reclaimAbandonedNodes([CLUSTER_DIR_PREFIX]);
    for (const n of this.nodes) {
      if (await portOpen(n.port))
        throw new Error(`port ${n.port} is taken: another node runs there; stop it first`);
    }
    await Promise.all(
      this.nodes.map(async (n) => {
        await prepareNodeDir(n.dir, n.port);
        claimNodeDir(n.dir);
        await run("rabbitmq-server", ["-detached"], { env: this.#env(n) });
        n.running = true;
      }),
    );
    // A detached node registers with epmd only some seconds after rabbitmq-server returns: wait for its
    // AMQP port (bounded) before asking it anything.
    for (let i = 0; i < this.nodes.length; i++) {
      await waitForPort(this.nodes[i]!.port);
      await this.ctl(i, "await_startup", "--timeout", String(CTL_TIMEOUT_SEC));
    }
    for (let i = 1; i < this.nodes.length; i++) {
      await this.ctl(i, "stop_app");
      await this.ctl(i, "join_cluster", this.nodes[0]!.node);
      await this.ctl(i, "start_app");
      await waitForPort(this.nodes[i]!.port);
    }
    const running = this.runningNodes(await this.ctl(0, "cluster_status", "--formatter", "json"));
    if (running.length !== this.nodes.length) {
      throw new Error(
        `cluster has ${running.length} running nodes after joining, not ${this.nodes.length}: ${running}`,
      );
    }
  }

  /** The running nodes `cluster_status --formatter json` lists. */
  runningNodes(statusJson: string): string[] {
    const status = JSON.parse(statusJson) as { running_nodes?: string[] };
    return status.running_nodes ?? [];
  }

  /** kill -9 of a node's VM: no goodbye to its peers nor its clients. Resolves once its port is closed and the VM is gone. */
  async kill9(i: number): Promise<void> {
    const n = this.nodes[i]!;
    await killNode(n.dir, n.port);
    n.running = false;
  }

  /**
   * End every node still running and remove all folders. The nodes are throwaway, so they are killed
   * (all at once) rather than stopped: `rabbitmqctl stop` of clustered nodes holding quorum queues took
   * ~90 s of every run, one node after the other.
   */
  async destroy(): Promise<void> {
    await Promise.all(
      this.nodes.map(async (n) => {
        if (n.running) await killNode(n.dir, n.port).catch(() => undefined);
        n.running = false;
      }),
    );
    for (const n of this.nodes) {
      // A killed node's epmd registration and beam are gone; its folder is all that is left.
      rmSync(n.dir, { recursive: true, force: true });
    }
  }
}
