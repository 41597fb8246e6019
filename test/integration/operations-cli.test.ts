import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { readFileSync, writeFileSync } from "node:fs";
import { type AddressInfo, createServer, type Server } from "node:net";
import path from "node:path";
import { after, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import amqp from "amqplib";
import { BULK_PAGE_SIZE } from "../../src/gateway/reconciler.js";
import { cleanupBroker, testId } from "../harness/broker.js";
import { synapseApi, TEST_PASSWORD, TEST_USER, TestCluster } from "../harness/cluster.js";
import { tempDir } from "../harness/temp-dir.js";
import { waitFor } from "../harness/wait.js";

/** The services as the CLI runs them: refused logins, SIGTERM in every state, ports, progress, status. */

const BIN = fileURLToPath(new URL("../../bin/gwsync.js", import.meta.url));
const EXIT = { OK: 0, USAGE: 2, NOT_FOUND: 4, AUTH: 5 };
const EXIT_TIMEOUT_MS = 30_000;

interface Proc {
  child: ChildProcess;
  stderr: () => string;
  stdout: () => string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function start(args: string[], cwd: string, env: Record<string, string> = {}): Proc {
  const base: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith("GWSYNC_")) base[k] = v;
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd,
    env: { ...base, GWSYNC_LOG_FORMAT: "json", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let err = "";
  let out = "";
  child.stderr!.on("data", (d: Buffer) => {
    err += d.toString("utf8");
  });
  child.stdout!.on("data", (d: Buffer) => {
    out += d.toString("utf8");
  });
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`gwsync ${args.join(" ")} did not exit within ${EXIT_TIMEOUT_MS} ms:\n${err}`));
    }, EXIT_TIMEOUT_MS);
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal });
    });
  });
  return { child, stderr: () => err, stdout: () => out, exit };
}

/** Resolves when the process has written a log line matching `re` to stderr. */
async function logged(p: Proc, re: RegExp, what: string): Promise<void> {
  await waitFor(p.child.stderr!, "data", () => re.test(p.stderr()), what, EXIT_TIMEOUT_MS);
}

/** A port nothing listens on: one the system just gave out and took back. */
function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer();
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

const dir = tempDir("gwsync-ops-cli-");
const q = (s: string) => JSON.stringify(s);

function config(name: string, body: string): string {
  const file = path.join(dir, `${name}.toml`);
  writeFileSync(
    file,
    `[gwsync]\nnode_id = ${q(`${testId("ops")}-${name}`)}\ndata_dir = ${q(path.join(dir, name))}\nhttp_port = 0\n${body}`,
  );
  return file;
}

const GATEWAY =
  '[apim.sync_runtime_artifacts.gateway]\ngateway_labels = ["Ops"]\ndeployment_retry_duration = 200\n';
const PUBLISHER = '[apim.sync_runtime_artifacts.publisher]\nartifact_saver = "DBSaver"\n';
const broker = (port: number, password = "guest") =>
  `[apim.event_hub]\nevent_listening_endpoints = ["tcp://127.0.0.1:${port}"]\nusername = "guest"\npassword = ${q(password)}\n`;

describe("a refused broker login is fatal", () => {
  for (const [role, section] of [
    ["gateway", GATEWAY],
    ["publisher", PUBLISHER],
  ] as const) {
    test(`gwsync ${role} with a wrong broker password exits 5 with one clear line, without retrying`, async () => {
      const file = config(`refused-${role}`, `${section}${broker(5672, "not-the-password")}`);
      const p = start([role, "-c", file], dir);
      const { code } = await p.exit;
      assert.equal(code, EXIT.AUTH, p.stderr());
      const last = p.stderr().trim().split("\n").at(-1) ?? "";
      assert.match(
        last,
        /^gwsync: GWSYNC_BROKER_ACCESS_REFUSED: the broker amqp:\/\/127\.0\.0\.1:5672 refused the login of user "guest" \(ACCESS_REFUSED\): check \[apim\.event_hub\] username and password/,
      );
      assert.ok(!p.stderr().includes("not-the-password"), "the password is never printed");
      assert.ok(!p.stderr().includes("connection attempt failed"), "not retried as if transient");
    });
  }
});

describe("SIGTERM exits 0 in every state", () => {
  test("while connecting to a broker that is not there (publisher and gateway)", async () => {
    const port = await closedPort();
    for (const [role, section] of [
      ["publisher", PUBLISHER],
      ["gateway", `${GATEWAY}data_retrieval_mode = "async"\n`],
    ] as const) {
      const p = start([role, "-c", config(`connecting-${role}`, `${section}${broker(port)}`)], dir);
      await logged(p, /broker connection attempt failed/, `${role} trying to connect`);
      p.child.kill("SIGTERM");
      const { code, signal } = await p.exit;
      assert.deepEqual([code, signal], [EXIT.OK, null], p.stderr());
      assert.match(p.stderr(), new RegExp(`"${role} shutting down \\(SIGTERM`));
    }
  });

  test("while the startup load waits for an unreachable control plane (sync mode)", async () => {
    const cp = await closedPort();
    const file = config(
      "loading",
      `${GATEWAY}data_retrieval_mode = "sync"\n${broker(5672)}service_url = "http://127.0.0.1:${cp}"\n`,
    );
    const p = start(["gateway", "-c", file], dir);
    await logged(p, /artifact fetch failed; retrying/, "the startup load retrying");
    p.child.kill("SIGTERM");
    const { code } = await p.exit;
    assert.equal(code, EXIT.OK, p.stderr());
    assert.match(p.stderr(), /"gateway shutting down \(SIGTERM while starting\)"/);
    await cleanupBroker({ queues: queuesOf(file) });
  });
});

function queuesOf(file: string): string[] {
  const node = /node_id = "([^"]+)"/.exec(readFileSync(file, "utf8"))![1]!;
  return [`gwsync.gateway.${node}`, `gwsync.gateway.${node}.runtime`, `gwsync.gateway.${node}.dead-letter`];
}

describe("a taken port names the key to change", () => {
  let blocker: Server;
  after(() => blocker?.close());

  test("EADDRINUSE: exit 2 and '[gwsync] http_port N ... is already in use'", async () => {
    blocker = createServer().listen(0, "127.0.0.1");
    await once(blocker, "listening");
    const port = (blocker.address() as AddressInfo).port;
    const file = config("port", `${GATEWAY}${broker(5672)}`);
    writeFileSync(file, readFileSync(file, "utf8").replace("http_port = 0", `http_port = ${port}`));
    const p = start(["gateway", "-c", file], dir);
    const { code } = await p.exit;
    assert.equal(code, EXIT.USAGE, p.stderr());
    assert.ok(
      p
        .stderr()
        .includes(
          `[gwsync] http_port ${port} on 127.0.0.1 is already in use by another process (EADDRINUSE)`,
        ),
      p.stderr(),
    );
  });
});

describe("startup progress counts to the right end", () => {
  const cluster = new TestCluster();
  after(() => cluster.close());

  test(`${BULK_PAGE_SIZE * 2 + 200} APIs, paged: every report has the true total and the last is total/total`, async () => {
    const n = BULK_PAGE_SIZE * 2 + 200;
    const svc = await cluster.startPublisher();
    for (let i = 0; i < n; i++) await svc.publisher.deployApi(synapseApi({ name: `P${i}` }), ["Paged"]);
    const reports: [number, number][] = [];
    const gw = cluster.makeGateway(
      { name: "paged", labels: ["Paged"], saveLocally: false },
      { onStartupProgress: (done, total) => reports.push([done, total]) },
    );
    await gw.start();
    assert.deepEqual(
      [...new Set(reports.map(([, total]) => total))],
      [n],
      "one total, the true one, from the first report on",
    );
    assert.deepEqual(reports.at(-1), [n, n]);
    assert.ok(
      reports.every(([done], i) => i === 0 || done >= reports[i - 1]![0]),
      "done never goes back",
    );
  });
});

describe("gwsync status: alive, stopped, missing, and forget", () => {
  const cluster = new TestCluster();
  after(() => cluster.close());
  const env = () => ({ GWSYNC_HTTP_USERNAME: TEST_USER, GWSYNC_HTTP_PASSWORD: TEST_PASSWORD });

  interface Row {
    nodeId: string;
    state: string;
    status: string;
  }
  async function status(url: string): Promise<Row[]> {
    const p = start(["status", "--json", "--url", url], dir, env());
    assert.equal((await p.exit).code, EXIT.OK, p.stderr());
    return (JSON.parse(p.stdout()) as { gateways: Row[] }).gateways;
  }

  test("a cleanly stopped gateway is 'stopped' (its last beat says so), a silent one 'missing'; forget drops either", async () => {
    const svc = await cluster.startPublisher();
    const url = svc.httpUrl!;
    const gw = cluster.makeGateway({ name: "beats", labels: ["S"] });
    Object.assign(gw.config.gwsync, { heartbeatIntervalMs: 200 });
    const node = gw.config.gwsync.nodeId;
    const beat = (status: string) =>
      waitFor(
        svc.publisher.events,
        "heartbeat",
        async () =>
          (await svc.publisher.store.listGateways()).some((g) => g.nodeId === node && g.status === status),
        `a "${status}" heartbeat from ${node}`,
      );
    await gw.start();
    await beat("ready");
    assert.equal((await status(url)).find((g) => g.nodeId === node)?.state, "alive");
    await cluster.stopGateway("beats");
    await beat("stopped");
    const stopped = (await status(url)).find((g) => g.nodeId === node);
    assert.deepEqual([stopped?.state, stopped?.status], ["stopped", "stopped"]);
    const text = start(["status", "--url", url], dir, env());
    await text.exit;
    assert.match(text.stdout(), new RegExp(`^ {2}${node} +stopped +test `, "m"));

    // A gateway killed without a goodbye: its last beat is three intervals old.
    const ghost = `${node}-ghost`;
    await svc.publisher.store.recordHeartbeat({
      nodeId: ghost,
      region: "test",
      labels: ["S"],
      appliedSeq: 0,
      deployed: 0,
      version: "0.0.0",
      status: "ready",
      intervalMs: 1000,
      lastSeen: Date.now() - 3001,
    });
    assert.equal((await status(url)).find((g) => g.nodeId === ghost)?.state, "missing");

    for (const gone of [node, ghost]) {
      const f = start(["status", "forget", gone, "--url", url], dir, env());
      assert.equal((await f.exit).code, EXIT.OK, f.stderr());
      assert.equal(f.stdout(), `forgot gateway ${gone}\n`);
    }
    assert.deepEqual(
      (await status(url)).filter((g) => g.nodeId.startsWith(node)),
      [],
    );
    const again = start(["status", "forget", ghost, "--url", url], dir, env());
    assert.equal((await again.exit).code, EXIT.NOT_FOUND);
    assert.match(again.stderr(), new RegExp(`no gateway ${ghost} has been seen`));
  });
});

describe("gwsync demo", () => {
  async function queueExists(name: string): Promise<boolean> {
    const conn = await amqp.connect("amqp://guest:guest@127.0.0.1:5672");
    try {
      const ch = await conn.createChannel();
      ch.on("error", () => undefined);
      const ok = await ch.checkQueue(name).then(
        () => true,
        () => false,
      );
      await ch.close().catch(() => undefined);
      return ok;
    } finally {
      await conn.close();
    }
  }

  test("two demos at once get their own node ids and queues; each deletes its queues on SIGTERM and exits 0", async () => {
    const run = async (i: number) => {
      const [pp, gp] = [await closedPort(), await closedPort()];
      const p = start(
        [
          "demo",
          "--json",
          "--dir",
          path.join(dir, `demo${i}`),
          "--publisher-port",
          String(pp),
          "--gateway-port",
          String(gp),
        ],
        dir,
      );
      await waitFor(
        p.child.stdout!,
        "data",
        () => p.stdout().includes('"running":true'),
        "the demo to run",
        EXIT_TIMEOUT_MS,
      );
      return { p, facts: JSON.parse(p.stdout()) as { gatewayNode: string; try: string } };
    };
    const [a, b] = [await run(1), await run(2)];
    assert.notEqual(a.facts.gatewayNode, b.facts.gatewayNode);
    assert.match(a.facts.gatewayNode, /^demo-.+-[0-9a-f]{6}-gateway$/);
    assert.match(a.facts.try, /^gwsync publish api\.xml --label Default --url http:\/\/127\.0\.0\.1:\d+$/);
    for (const d of [a, b]) assert.ok(await queueExists(`gwsync.gateway.${d.facts.gatewayNode}`));
    for (const d of [a, b]) {
      d.p.child.kill("SIGTERM");
      assert.equal((await d.p.exit).code, EXIT.OK, d.p.stderr());
      for (const suffix of ["", ".runtime", ".dead-letter"]) {
        assert.equal(await queueExists(`gwsync.gateway.${d.facts.gatewayNode}${suffix}`), false, suffix);
      }
    }
  });

  test("with no broker where it should be, it fails at once saying what to do", async () => {
    // TEST-NET-1 (RFC 5737): never routed, so nothing answers.
    const p = start(["demo", "--dir", path.join(dir, "nobroker")], dir, {
      GWSYNC_BROKER_URLS: "tcp://192.0.2.1:5672",
    });
    const t0 = Date.now();
    const { code } = await p.exit;
    assert.equal(code, 1, p.stderr());
    assert.ok(Date.now() - t0 < EXIT_TIMEOUT_MS);
    assert.match(p.stderr(), /gwsync demo: no broker answers at 192\.0\.2\.1:5672: check GWSYNC_BROKER_URLS/);
  });
});
