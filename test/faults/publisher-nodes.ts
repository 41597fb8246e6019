/**
 * The body of publisher-nodes-{postgres,mariadb}.test.ts (one file per engine, so each stays within
 * the suite's per-file timeout). Two publisher nodes on one database, four gateways, 2,000 publishes split
 * across both nodes, and kill -9 of a node 5 times while they go on. A client behind a balancer sends
 * each publish to a live node and sends it again to the other when its node died under it; gateways
 * fetch through the balancer. Catch-up is off: what reaches a gateway reaches it through the outbox
 * of one node or the other. At the end every gateway holds exactly the store's latest revision of
 * every API of its labels (lost 0, applied twice 0, stale 0), and a reader that followed
 * `changesSince` during the run saw every sequence number, none skipped.
 */
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, describe, test } from "node:test";
import type { Gateway } from "../../src/gateway/gateway.js";
import { openStore } from "../../src/store/open-store.js";
import type { ArtifactStore } from "../../src/store/types.js";
import { freePort } from "../harness/fault-http.js";
import { assertClean } from "../harness/invariants.js";
import type { ChildMessage, ChildService } from "../harness/processes.js";
import type { EngineFactory, TestDatabase } from "../harness/store-engines.js";
import { FaultWorld, pollUntil, prng, tinyApi } from "./world.js";

const PUBLISHES = 2_000;
const KILLS = 5;
const APIS = 150;
/** Publishes in flight per live node. */
const WINDOW = 6;
const GATEWAYS: { name: string; labels: string[] }[] = [
  { name: "gw1", labels: ["P"] },
  { name: "gw2", labels: ["P"] },
  { name: "gw3", labels: ["Q"] },
  { name: "gw4", labels: ["P", "Q"] },
];
/** Each API keeps its labels for the whole run. */
const labelsOf = (i: number) => [["P"], ["Q"], ["P", "Q"]][i % 3]!;

/** A load balancer in front of the nodes' REST APIs: the first live node, round robin. */
class Balancer {
  #server: Server | undefined;
  #next = 0;
  port = 0;
  constructor(readonly targets: string[]) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    const server = createServer(async (req, res) => {
      const start = this.#next++;
      for (let i = 0; i < this.targets.length; i++) {
        const target = this.targets[(start + i) % this.targets.length]!;
        try {
          const r = await fetch(target + (req.url ?? "/"), {
            method: req.method ?? "GET",
            headers: { authorization: req.headers.authorization ?? "" },
          });
          res.writeHead(r.status, { "content-type": r.headers.get("content-type") ?? "application/json" });
          res.end(Buffer.from(await r.arrayBuffer()));
          return;
        } catch {
          // That node is down: the next one.
        }
      }
      res.writeHead(502).end();
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
    this.port = (server.address() as AddressInfo).port;
    this.#server = server;
  }

  async stop(): Promise<void> {
    const s = this.#server;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((r) => s.close(() => r()));
  }
}

interface Node {
  name: string;
  port: number;
  proc: ChildService;
  /** Ready and not killed: the balancer's client sends it publishes. */
  live: boolean;
  /** Publishes this life of the node was asked for and has not answered. */
  inFlight: number;
}

export function nodesTest(engine: EngineFactory): void {
  describe(`two publisher nodes on one ${engine.name} database`, () => {
    const world = new FaultWorld();
    let db: TestDatabase | undefined;
    let balancer: Balancer | undefined;
    after(async () => {
      await world.close();
      await balancer?.stop();
      await db?.drop();
    });

    // About 4 minutes on a loaded 2-core machine: more than the suite's default per-test timeout.
    test(`${PUBLISHES} publishes across both nodes, ${KILLS} kill -9: lost 0, applied twice 0, stale 0, no changelog gap`, {
      timeout: 900_000,
    }, async () => {
      db = await engine.create();
      world.database = db.config;
      const ports = [await freePort(), await freePort()];
      balancer = new Balancer(ports.map((p) => `http://127.0.0.1:${p}`));
      await balancer.start();
      world.publisherUrl = balancer.url;
      const spawn = (name: string, port: number): Node => ({
        name,
        port,
        proc: world.spawnPublisher({ node: name, httpPort: port, outboxPollMs: 250 }),
        live: true,
        inFlight: 0,
      });
      const nodes = [spawn("node-a", ports[0]!), spawn("node-b", ports[1]!)];
      await Promise.all(nodes.map((n) => n.proc.ready()));
      const restarts: Promise<unknown>[] = [];

      const gateways: Gateway[] = [];
      for (const g of GATEWAYS) {
        gateways.push(
          await world.startGateway({
            ...g,
            catchUpMs: 0,
            retryMs: 50,
            maxRetries: 10,
            maxRetryDelayMs: 1000,
          }),
        );
      }

      // A reader following the changelog as a gateway's catch-up or a relay does.
      const reader: ArtifactStore = openStore(db.config, { readonly: true, region: "test" });
      let following = true;
      const seen: number[] = [];
      const follow = (async () => {
        let cursor = 0;
        for (;;) {
          const stop = !following;
          const page = await reader.changesSince(cursor, ["P", "Q"], 500);
          for (const c of page) {
            seen.push(c.seq);
            cursor = c.seq;
          }
          if (page.length === 0) {
            if (stop) return;
            await new Promise((r) => setTimeout(r, 20));
          }
        }
      })();

      const rnd = prng(17);
      let sent = 0;
      let committed = 0;
      let resent = 0;
      let rr = 0;
      const killAt = Array.from({ length: KILLS }, (_, k) => Math.round(((k + 1) * PUBLISHES) / (KILLS + 1)));
      const kills: string[] = [];
      /** One publish: to a live node; again to another when its node dies before answering. */
      const publishOnce = async (xml: string, labels: string[]): Promise<void> => {
        for (let attempt = 0; attempt < 20; attempt++) {
          const live = nodes.filter((n) => n.live && !n.proc.exited);
          const node = live[rr++ % live.length];
          if (node === undefined) {
            await new Promise((r) => setTimeout(r, 50));
            continue;
          }
          const proc = node.proc;
          node.inFlight++;
          const outcome = await new Promise<"ok" | "died" | Error>((resolve) => {
            const done = (v: "ok" | "died" | Error) => {
              proc.removeListener("committed", onCommitted);
              proc.removeListener("error", onError);
              proc.removeListener("exit", onExit);
              resolve(v);
            };
            const id = `${sent}-${attempt}`;
            const onCommitted = (m: ChildMessage) => m.req === id && done("ok");
            const onError = (m: ChildMessage) => m.req === id && done(new Error(String(m.message)));
            const onExit = () => done("died");
            proc.on("committed", onCommitted);
            proc.on("error", onError);
            proc.once("exit", onExit);
            proc.send({ type: "deploy", xml, labels, req: id });
          });
          node.inFlight--;
          if (outcome === "ok") {
            committed++;
            return;
          }
          if (outcome instanceof Error) {
            // A store error a client would retry (the node's database connection broke, ...).
            resent++;
            continue;
          }
          resent++;
        }
        throw new Error(`a publish found no live node in 20 tries: ${xml.slice(0, 80)}`);
      };

      const work = async (): Promise<void> => {
        while (sent < PUBLISHES) {
          const n = sent++;
          if (killAt.includes(n)) {
            // kill -9 the node that has most publishes in flight, then start it again.
            const victim = nodes.filter((x) => x.live).sort((x, y) => y.inFlight - x.inFlight)[0]!;
            kills.push(`${victim.name}@${n}(${victim.inFlight} in flight)`);
            victim.live = false;
            restarts.push(
              victim.proc.kill9().then(async () => {
                const reborn = world.spawnPublisher({
                  node: victim.name,
                  httpPort: victim.port,
                  outboxPollMs: 250,
                });
                await reborn.ready();
                victim.proc = reborn;
                victim.live = true;
              }),
            );
          }
          const api = Math.floor(rnd() * APIS);
          await publishOnce(tinyApi(`Api${api}`, n), labelsOf(api));
        }
      };
      await Promise.all(Array.from({ length: WINDOW * 2 }, () => work()));
      await Promise.all(restarts);
      assert.equal(committed, PUBLISHES);

      // Both nodes' dispatchers empty the outbox (a dead node's claims came back to the living).
      await pollUntil(async () => (await reader.outboxDepth()) === 0, "the outbox to drain", 120_000);
      for (const g of GATEWAYS) await world.waitConverged(g.name, 180_000);
      following = false;
      await follow;

      const head = await reader.headSeq();
      assert.deepEqual(
        seen,
        Array.from({ length: head }, (_, i) => i + 1),
        "the reader saw every seq once, in order",
      );
      // Revisions grew per API in sequence order, whichever node wrote them.
      const byApi = new Map<string, number>();
      for (const c of await reader.changesSince(0, ["P", "Q"], head)) {
        const prev = byApi.get(`${c.apiId}/${c.label}`) ?? 0;
        assert.ok(
          c.revision > prev,
          `revision of ${c.apiId} on ${c.label} went from ${prev} to ${c.revision}`,
        );
        byApi.set(`${c.apiId}/${c.label}`, c.revision);
      }
      await reader.close();
      console.log(
        `${engine.name}: ${PUBLISHES} publishes (${resent} sent again after a node died), head seq ${head}, kills: ${kills.join(" ")}`,
      );
      assertClean(await Promise.all(GATEWAYS.map((g) => world.judge(g.name))));
      for (const n of nodes) assert.equal((await n.proc.stop()).code, 0);
    });
  });
}
