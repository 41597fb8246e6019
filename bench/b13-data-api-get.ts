/**
 * B13: the data-API GET alone (issue 19: B1's fetched mode spends ~0.75 ms of the publisher's CPU per
 * GET served). One 5 KB API is published, then the bench process fetches it N times in a row exactly as
 * a gwsync gateway does: its own `HttpArtifactRetriever` (src/gateway/retriever.ts: node:http on a
 * keep-alive agent, `GET /internal/data/v1/runtime-artifacts?apiId=&gatewayLabel=<base64url>&type=Synapse`,
 * Basic auth, the tenant headers, the reply parsed and its DTO validated). Nothing is published
 * meanwhile, so every GET after the first is answered from the publisher's shared replies (the 3 of
 * B1's 4 gateways that do not read the store).
 *
 * Its floor, interleaved call by call: `bench/lib/floor-proc.ts` ("start-get"), a node:http server in
 * its own process that checks Basic auth and answers a precomputed Buffer of the same reply bytes —
 * the least a cached GET needs. Each call is sent to the floor by the same retriever (so the client's
 * work is the same on both sides) and by a bare node:http GET that only collects the bytes (the
 * client's floor). Figures: CPU per GET of the publisher and the floor processes (from /proc, over the
 * whole measured loop), and of this process's clients (process.cpuUsage around each call), p50 / p99.
 */
import { Agent as HttpAgent, request as httpRequest } from "node:http";
import { synapseApi } from "../test/harness/cluster.js";
import { encodeLabels, INTERNAL_DATA_PATH, RUNTIME_ARTIFACTS_PATH } from "../src/data-api/wire.js";
import { HttpArtifactRetriever } from "../src/gateway/retriever.js";
import { restPoster } from "./b1-latency.js";
import { type BenchChild, readProcCpuMs, spawnChild } from "./lib/children.js";
import { nowMs } from "./lib/clock.js";
import type { BenchContext, BenchOutcome } from "./lib/report.js";
import { scaled } from "./lib/scale.js";
import { API_SIZE_BYTES } from "./lib/seed.js";
import { fmtMs, summarize } from "./lib/stats.js";
import { BenchWorld, LABEL } from "./lib/world.js";

const FULL_CALLS = 5000;
const API_NAME = "B13Api";

/** A bare keep-alive GET that collects the reply's bytes: the least a client does. */
function rawGetter(base: string, headers: Record<string, string>): (path: string) => Promise<Buffer> {
  const agent = new HttpAgent({ keepAlive: true, maxSockets: 1 });
  return (path) =>
    new Promise((resolve, reject) => {
      const req = httpRequest(`${base}${path}`, { agent, headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          res.statusCode === 200
            ? resolve(Buffer.concat(chunks))
            : reject(new Error(`GET ${res.statusCode}`)),
        );
        res.on("error", reject);
      });
      req.on("error", reject);
      req.end();
    });
}

const cpuNowMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

export async function b13DataApiGet(ctx: BenchContext): Promise<BenchOutcome> {
  const n = scaled("B13", FULL_CALLS, 100);
  const warmup = Math.min(500, Math.ceil(n / 10));
  const world = new BenchWorld();
  try {
    const { url, child: pub } = await world.startPublisherProcess();
    const headers = { authorization: world.authorization, "content-type": "application/xml" };
    const publish = restPoster(
      `${url}/api/v1/artifacts?label=${encodeURIComponent(LABEL)}`,
      headers,
      (s, t) => {
        if (s < 200 || s > 299) throw new Error(`POST answered ${s}: ${t.slice(0, 300)}`);
        return JSON.parse(t) as { apiId: string };
      },
    );
    const { apiId } = await publish(synapseApi({ name: API_NAME, revision: 1, size: API_SIZE_BYTES }));
    const { username, password } = world.httpCredentials;
    const retrieverOf = (serviceUrl: string) => new HttpArtifactRetriever({ serviceUrl, username, password });
    const toPub = retrieverOf(url);
    // The exact request the retriever sends, to take the reply's bytes for the floor.
    const path = `${INTERNAL_DATA_PATH}${RUNTIME_ARTIFACTS_PATH}?${new URLSearchParams({ apiId, gatewayLabel: encodeLabels([LABEL]), type: "Synapse" })}`;
    const getHeaders = {
      authorization: world.authorization,
      accept: "application/json",
      xWSO2Tenant: "carbon.super",
      "X-WSO2-Tenant": "ALL",
    };
    const reply = await new Promise<{ body: string; contentType: string }>((resolve, reject) => {
      httpRequest(`${url}${path}`, { headers: getHeaders }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          res.statusCode === 200
            ? resolve({
                body: Buffer.concat(chunks).toString("utf8"),
                contentType: String(res.headers["content-type"]),
              })
            : reject(new Error(`GET ${path} answered ${res.statusCode}`)),
        );
      })
        .on("error", reject)
        .end();
    });
    const floor = await spawnChild("floor", "floor-proc", []);
    world.children.set("floor", floor);
    const floorReady = await floor.request(
      {
        type: "start-get",
        authorization: world.authorization,
        body: reply.body,
        contentType: reply.contentType,
      },
      "ready",
    );
    const floorUrl = floorReady.httpUrl as string;
    const toFloor = retrieverOf(floorUrl);
    const rawFloor = rawGetter(floorUrl, getHeaders);
    const cpu = (c: BenchChild) => readProcCpuMs(c.pid);
    let cpu0 = { pub: 0, floor: 0 };
    const lat = { pub: [] as number[], floor: [] as number[], raw: [] as number[] };
    const client = { pub: 0, floor: 0, raw: 0 };
    ctx.log(
      `B13: ${warmup} warm-up + ${n} sequential data-API GETs of one 5 KB API (${reply.body.length} B reply), floor interleaved`,
    );
    for (let i = 0; i < warmup + n; i++) {
      if (i === warmup) cpu0 = { pub: cpu(pub), floor: cpu(floor) };
      const measured = i >= warmup;
      let c0 = cpuNowMs();
      let t0 = nowMs();
      const fromFloor = await toFloor.retrieveArtifact(apiId, LABEL);
      let t1 = nowMs();
      let c1 = cpuNowMs();
      if (fromFloor?.apiId !== apiId) throw new Error("the floor's reply did not hold the API");
      if (measured) {
        lat.floor.push(t1 - t0);
        client.floor += c1 - c0;
      }
      c0 = cpuNowMs();
      t0 = nowMs();
      const got = await toPub.retrieveArtifact(apiId, LABEL);
      t1 = nowMs();
      c1 = cpuNowMs();
      if (got?.apiId !== apiId) throw new Error("the publisher's reply did not hold the API");
      if (measured) {
        lat.pub.push(t1 - t0);
        client.pub += c1 - c0;
      }
      c0 = cpuNowMs();
      t0 = nowMs();
      await rawFloor(path);
      t1 = nowMs();
      c1 = cpuNowMs();
      if (measured) {
        lat.raw.push(t1 - t0);
        client.raw += c1 - c0;
      }
    }
    const cpuPub = (cpu(pub) - cpu0.pub) / n;
    // The floor serves two GETs per round: the retriever's and the bare client's.
    const cpuFloor = (cpu(floor) - cpu0.floor) / (2 * n);
    toPub.close();
    toFloor.close();
    const g = summarize(lat.pub);
    const f = summarize(lat.floor);
    const r = summarize(lat.raw);
    const perCall = { pub: client.pub / n, floor: client.floor / n, raw: client.raw / n };
    ctx.log(
      `B13: GET p50 / p99 ${fmtMs(g.p50)} / ${fmtMs(g.p99)}; floor ${fmtMs(f.p50)} / ${fmtMs(f.p99)} (bare client ${fmtMs(r.p50)} / ${fmtMs(r.p99)})`,
    );
    ctx.log(
      `B13: server CPU per GET: publisher ${fmtMs(cpuPub)}, floor ${fmtMs(cpuFloor)} (from /proc, 10 ms ticks, over ${n} GETs)`,
    );
    ctx.log(
      `B13: client CPU per GET: retriever → publisher ${fmtMs(perCall.pub)}, retriever → floor ${fmtMs(perCall.floor)}, bare GET → floor ${fmtMs(perCall.raw)}`,
    );
    const what = `data-API GET of a 5 KB API, cached (${n} sequential, publisher in its own process)`;
    return {
      rows: [
        {
          id: "B13",
          what: `${what}, publisher CPU per GET`,
          gwsync: fmtMs(cpuPub),
          baseline: `${fmtMs(cpuFloor)} floor`,
          ratio: cpuPub / cpuFloor,
          goal: "—",
          note: `p50 / p99 ${fmtMs(g.p50)} / ${fmtMs(g.p99)}, floor ${fmtMs(f.p50)} / ${fmtMs(f.p99)}; client CPU per GET retriever ${fmtMs(perCall.pub)} (→ floor ${fmtMs(perCall.floor)}), bare ${fmtMs(perCall.raw)}`,
        },
        {
          id: "B13",
          what: `${what}, p50`,
          gwsync: fmtMs(g.p50),
          baseline: `${fmtMs(f.p50)} floor`,
          ratio: g.p50 / f.p50,
          goal: "—",
        },
      ],
      details: {
        calls: n,
        warmup,
        replyBytes: reply.body.length,
        gwsync: g,
        floor: f,
        bareClient: r,
        serverCpuPerGetMs: { publisher: cpuPub, floor: cpuFloor },
        clientCpuPerGetMs: perCall,
      },
    };
  } finally {
    await world.close();
  }
}
