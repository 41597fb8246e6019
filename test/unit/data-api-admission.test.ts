/**
 * Issue 20, "reconnect and catch-up that cannot stampede": the publisher's data API admits a bounded
 * number of requests and answers 503 + Retry-After beyond it (publishes and probes untouched); gateways
 * wait out a Retry-After without spending a retry; identical changelog pages are read once.
 */
import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import type { FastifyInstance } from "fastify";
import { INTERNAL_DATA_PATH } from "../../src/data-api/wire.js";
import { isGwsyncError } from "../../src/errors.js";
import {
  admitUnder,
  RETRY_AFTER_MAX_SEC,
  RETRY_AFTER_MIN_SEC,
  retryAfterSeconds,
} from "../../src/http/admission.js";
import { createHttpServer, listenUrl } from "../../src/http/server.js";
import { HttpArtifactRetriever } from "../../src/gateway/retriever.js";
import { MAX_RETRY_DELAY_MS, parseRetryAfter, retryAfterOf, withRetry } from "../../src/gateway/retry.js";
import { GwsyncError } from "../../src/errors.js";
import { silentLogger } from "../../src/log.js";
import { registerDataApiRoutes } from "../../src/publisher/data-api-routes.js";
import { SharedPages } from "../../src/publisher/shared-pages.js";
import type { ArtifactStore, ChangeRecord } from "../../src/store/types.js";

const USER = "operator";
const PASS = "a-long-enough-secret";
const AUTH = { authorization: `Basic ${Buffer.from(`${USER}:${PASS}`).toString("base64")}` };

function server(): FastifyInstance {
  return createHttpServer({ host: "127.0.0.1", port: 0, username: USER, password: PASS, logger: silentLogger });
}

/** A promise and its resolver (a request handler held open until the test lets it go). */
function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((r) => {
    open = r;
  });
  return { promise, open };
}

describe("admission control with data_api_max_wait_ms = 0: bounded in-flight data-API requests, 503 + Retry-After beyond", () => {
  let app: FastifyInstance;
  let url: string;
  let admission: ReturnType<typeof admitUnder>;
  const outcomes = { admitted: 0, refused: 0 };
  let hold = gate();
  let entered = 0;
  const arrivals = new EventEmitter();

  before(async () => {
    app = server();
    admission = admitUnder(app, {
      prefix: `${INTERNAL_DATA_PATH}/`,
      maxInFlight: 3,
      maxWaitMs: 0,
      onOutcome: (o) => outcomes[o]++,
    });
    app.get(`${INTERNAL_DATA_PATH}/slow`, async () => {
      entered++;
      arrivals.emit("entered");
      await hold.promise;
      return { ok: true };
    });
    app.post("/api/v1/apis", async () => ({ published: true }));
    await app.listen({ host: "127.0.0.1", port: 0 });
    url = listenUrl(app)!;
  });
  after(() => app.close());

  /** Resolves once `n` requests have entered the held route (counted on its events, no sleeping). */
  function enteredAtLeast(n: number): Promise<void> {
    return new Promise((resolve) => {
      const check = () => {
        if (entered < n) return;
        arrivals.off("entered", check);
        resolve();
      };
      arrivals.on("entered", check);
      check();
    });
  }

  test("three in flight are admitted, the next ten refused at once with a jittered Retry-After; a publish and the probes still answer", async () => {
    hold = gate();
    const slow = [1, 2, 3].map(() => fetch(`${url}${INTERNAL_DATA_PATH}/slow`, { headers: AUTH }));
    await enteredAtLeast(3);
    assert.equal(admission.inFlight, 3);
    const refused = await Promise.all(
      Array.from({ length: 10 }, () => fetch(`${url}${INTERNAL_DATA_PATH}/slow`, { headers: AUTH })),
    );
    for (const r of refused) {
      assert.equal(r.status, 503);
      const after = Number(r.headers.get("retry-after"));
      assert.ok(Number.isInteger(after) && after >= RETRY_AFTER_MIN_SEC && after <= RETRY_AFTER_MAX_SEC, `retry-after ${after}`);
      assert.equal(((await r.json()) as { code: string }).code, "GWSYNC_BUSY");
    }
    // Not under the data API: never refused by it.
    const publish = await fetch(`${url}/api/v1/apis`, { method: "POST", headers: AUTH });
    assert.equal(publish.status, 200);
    assert.equal((await fetch(`${url}/healthz`)).status, 404); // no probe route here, but not a 503
    // Unauthenticated: 401 first, no slot taken, not counted.
    assert.equal((await fetch(`${url}${INTERNAL_DATA_PATH}/slow`)).status, 401);
    hold.open();
    for (const r of await Promise.all(slow)) assert.equal(r.status, 200);
    assert.deepEqual(outcomes, { admitted: 3, refused: 10 });
    // Slots are given back once the replies are sent.
    const again = await fetch(`${url}${INTERNAL_DATA_PATH}/slow`, { headers: AUTH });
    assert.equal(again.status, 200);
    assert.equal(admission.inFlight, 0);
  });

  test("a client that goes away while its request is held gives its slot back", async () => {
    hold = gate();
    const before = entered;
    const ac = new AbortController();
    const gone = fetch(`${url}${INTERNAL_DATA_PATH}/slow`, { headers: AUTH, signal: ac.signal }).catch(
      (e: Error) => e,
    );
    await enteredAtLeast(before + 1);
    assert.equal(admission.inFlight, 1);
    ac.abort();
    await gone;
    // The server sees the socket close on its next turn of the loop: poll the counter, bounded.
    const deadline = Date.now() + 5000;
    const inFlight = () => admission.inFlight;
    while (inFlight() !== 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    assert.equal(inFlight(), 0);
    hold.open();
  });

  test("Retry-After is drawn over the whole range", () => {
    const seen = new Set<number>();
    for (let i = 0; i < 100; i++) seen.add(retryAfterSeconds(() => i / 100));
    assert.deepEqual(
      [...seen].sort((a, b) => a - b),
      Array.from({ length: RETRY_AFTER_MAX_SEC - RETRY_AFTER_MIN_SEC + 1 }, (_, i) => RETRY_AFTER_MIN_SEC + i),
    );
    assert.equal(retryAfterSeconds(() => 0.999_999_999), RETRY_AFTER_MAX_SEC);
  });
});

describe("admission control: beyond the bound a request waits for a slot, in arrival order, then 503", () => {
  let app: FastifyInstance;
  let url: string;
  let admission: ReturnType<typeof admitUnder>;
  const outcomes = { admitted: 0, refused: 0 };
  /** Each held request's gate, in the order the handler was entered, and the order they were entered. */
  const held: Array<() => void> = [];
  const order: number[] = [];
  const arrivals = new EventEmitter();
  const WAIT_MS = 60_000;

  before(async () => {
    app = server();
    admission = admitUnder(app, {
      prefix: `${INTERNAL_DATA_PATH}/`,
      maxInFlight: 2,
      maxWaitMs: WAIT_MS,
      maxQueued: 4,
      onOutcome: (o) => outcomes[o]++,
    });
    app.get<{ Querystring: { n: string } }>(`${INTERNAL_DATA_PATH}/held`, async (req) => {
      const g = gate();
      held.push(g.open);
      order.push(Number(req.query.n));
      arrivals.emit("entered");
      await g.promise;
      return { n: Number(req.query.n) };
    });
    await app.listen({ host: "127.0.0.1", port: 0 });
    url = listenUrl(app)!;
  });
  after(() => app.close());

  /** Resolves once the condition holds, re-checked on every entry into the held route (no sleeping). */
  function until(cond: () => boolean): Promise<void> {
    return new Promise((resolve) => {
      const check = () => {
        if (!cond()) return;
        arrivals.off("entered", check);
        resolve();
      };
      arrivals.on("entered", check);
      check();
    });
  }
  /** Polls a counter the server updates on socket events it does not announce, bounded. */
  async function eventually(cond: () => boolean, what: string): Promise<void> {
    const deadline = Date.now() + 5000;
    while (!cond()) {
      if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 5));
    }
  }
  const get = (n: number, signal?: AbortSignal) =>
    fetch(`${url}${INTERNAL_DATA_PATH}/held?n=${n}`, { headers: AUTH, ...(signal ? { signal } : {}) });

  test("two run, four wait and are served in arrival order as slots free; a seventh (queue full) is refused at once", async () => {
    const first = [get(1), get(2)];
    await until(() => order.length === 2);
    const waiting: Array<Promise<Response>> = [];
    for (const n of [3, 4, 5, 6]) {
      waiting.push(get(n));
      await eventually(() => admission.waiting === n - 2, `request ${n} to queue`);
    }
    assert.equal(admission.inFlight, 2);
    const full = await get(7);
    assert.equal(full.status, 503);
    assert.ok(Number(full.headers.get("retry-after")) >= RETRY_AFTER_MIN_SEC);
    // Free one slot at a time: the oldest waiter takes it, the others keep waiting.
    for (let i = 0; i < 6; i++) {
      held[i]!();
      if (i < 4) await until(() => order.length === 3 + i);
    }
    const replies = await Promise.all([...first, ...waiting]);
    for (const r of replies) assert.equal(r.status, 200);
    assert.deepEqual(order.slice(0, 6), [1, 2, 3, 4, 5, 6]);
    assert.deepEqual(outcomes, { admitted: 6, refused: 1 });
    await eventually(() => admission.inFlight === 0, "every slot to be given back");
    assert.equal(admission.waiting, 0);
  });

  test("a client that gives up while waiting leaves the queue and takes no slot", async () => {
    held.length = 0;
    order.length = 0;
    const running = [get(10), get(11)];
    await until(() => order.length === 2);
    const ac = new AbortController();
    const gone = get(12, ac.signal).catch((e: Error) => e);
    await eventually(() => admission.waiting === 1, "request 12 to queue");
    const stays = get(13);
    await eventually(() => admission.waiting === 2, "request 13 to queue");
    ac.abort();
    assert.ok((await gone) instanceof Error);
    await eventually(() => admission.waiting === 1, "request 12 to leave the queue");
    held[0]!();
    await until(() => order.length === 3);
    assert.deepEqual(order, [10, 11, 13], "the slot went to 13, not to the client that left");
    held[1]!();
    held[2]!();
    for (const r of await Promise.all([...running, stays])) assert.equal(r.status, 200);
    await eventually(() => admission.inFlight === 0, "every slot to be given back");
  });
});

describe("admission control: a waiter past data_api_max_wait_ms is refused with Retry-After", () => {
  test("one slot held; the second request waits 50 ms, then 503", async () => {
    const app = server();
    const outcomes = { admitted: 0, refused: 0 };
    const admission = admitUnder(app, {
      prefix: `${INTERNAL_DATA_PATH}/`,
      maxInFlight: 1,
      maxWaitMs: 50,
      onOutcome: (o) => outcomes[o]++,
    });
    const hold = gate();
    let entered!: () => void;
    const inside = new Promise<void>((r) => {
      entered = r;
    });
    app.get(`${INTERNAL_DATA_PATH}/held`, async () => {
      entered();
      await hold.promise;
      return { ok: true };
    });
    await app.listen({ host: "127.0.0.1", port: 0 });
    try {
      const base = listenUrl(app)!;
      const first = fetch(`${base}${INTERNAL_DATA_PATH}/held`, { headers: AUTH });
      await inside;
      const t0 = Date.now();
      const late = await fetch(`${base}${INTERNAL_DATA_PATH}/held`, { headers: AUTH });
      const waited = Date.now() - t0;
      assert.equal(late.status, 503);
      assert.equal(((await late.json()) as { code: string }).code, "GWSYNC_BUSY");
      assert.ok(waited >= 45, `answered after ${waited} ms, not at once`);
      assert.equal(admission.waiting, 0);
      hold.open();
      assert.equal((await first).status, 200);
      assert.deepEqual(outcomes, { admitted: 1, refused: 1 });
    } finally {
      hold.open();
      await app.close();
    }
  });
});

describe("clients honour Retry-After", () => {
  test("parseRetryAfter: delta-seconds, HTTP-date, clamped, malformed ignored", () => {
    const now = Date.parse("2026-12-06T00:00:00Z");
    assert.equal(parseRetryAfter("3", now), 3000);
    assert.equal(parseRetryAfter(" 0 ", now), 0);
    assert.equal(parseRetryAfter("99999999999999999999999", now), MAX_RETRY_DELAY_MS);
    assert.equal(parseRetryAfter("Sun, 06 Dec 2026 00:00:10 GMT", now), 10_000);
    assert.equal(parseRetryAfter("Sat, 05 Dec 2026 23:00:00 GMT", now), 0, "a date in the past: at once");
    assert.equal(parseRetryAfter("Mon, 06 Dec 2027 00:00:00 GMT", now), MAX_RETRY_DELAY_MS);
    for (const bad of ["", "   ", "-1", "1.5", "soon", "0x10", "1e3", "1 2"]) {
      assert.equal(parseRetryAfter(bad, now), undefined, JSON.stringify(bad));
    }
    assert.equal(parseRetryAfter(null, now), undefined);
  });

  const policy = { retries: 0, minTimeoutMs: 1, factor: 2, maxTimeoutMs: 200 };
  const busy = (ms: number) =>
    new GwsyncError("GWSYNC_FETCH_FAILED", "busy", { details: { retryAfterMs: ms, status: 503 } });

  test("busy answers are waited out without spending a retry (retries = 0 still succeeds)", async () => {
    let calls = 0;
    const waits: number[] = [];
    let retries = 0;
    const t0 = Date.now();
    const v = await withRetry(
      async () => {
        if (++calls <= 5) throw busy(20);
        return "ok";
      },
      policy,
      { onBusy: (w) => waits.push(w), onRetry: () => retries++, random: () => 0 },
    );
    assert.equal(v, "ok");
    assert.equal(calls, 6);
    assert.equal(retries, 0);
    assert.deepEqual(waits, [20, 20, 20, 20, 20]);
    assert.ok(Date.now() - t0 >= 95, "it did wait");
  });

  test("a wait longer than the policy's cap is cut to the cap; jitter stretches by at most 20 %", async () => {
    const waits: number[] = [];
    let calls = 0;
    await withRetry(
      async () => {
        calls++;
        if (calls === 1) throw busy(60 * 60 * 1000 * 24);
        if (calls === 2) throw busy(100);
        return "ok";
      },
      policy,
      { onBusy: (w) => waits.push(w), random: () => 0.999 },
    );
    assert.equal(waits[0], policy.maxTimeoutMs);
    assert.ok(waits[1]! >= 100 && waits[1]! <= 120, `jittered wait ${waits[1]}`);
  });

  test("an abort during a busy wait ends it at once", async () => {
    const ac = new AbortController();
    const t0 = Date.now();
    const p = withRetry(
      async () => {
        throw busy(10_000);
      },
      { ...policy, maxTimeoutMs: 10_000 },
      { signal: ac.signal, onBusy: () => setTimeout(() => ac.abort(), 10) },
    );
    await assert.rejects(p);
    assert.ok(Date.now() - t0 < 2000, "not the 10 s wait");
  });

  test("a failure without Retry-After still spends the retry budget", async () => {
    let calls = 0;
    await assert.rejects(
      withRetry(
        async () => {
          calls++;
          throw new GwsyncError("GWSYNC_FETCH_FAILED", "down");
        },
        { ...policy, retries: 2 },
      ),
    );
    assert.equal(calls, 3);
  });

  describe("HttpArtifactRetriever reads 503/429 and their Retry-After", () => {
    let http: Server;
    let base: string;
    const answers: Array<{ status: number; headers: Record<string, string> }> = [];
    before(async () => {
      http = createServer((_req, res) => {
        const a = answers.shift() ?? { status: 200, headers: {} };
        res.writeHead(a.status, { "content-type": "application/json", ...a.headers });
        res.end(a.status === 200 ? JSON.stringify({ head: 7, count: 0, list: [] }) : "{}");
      });
      await new Promise<void>((r) => http.listen(0, "127.0.0.1", r));
      base = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
    });
    after(() => new Promise<void>((r) => http.close(() => r())));

    const retriever = () => new HttpArtifactRetriever({ serviceUrl: base, username: USER, password: PASS });
    const failure = async () => {
      try {
        await retriever().changesSince(0, ["A"]);
      } catch (err) {
        return err;
      }
      assert.fail("expected a failure");
    };

    test("503 with Retry-After: 2 → retryAfterMs 2000, retryable", async () => {
      answers.push({ status: 503, headers: { "retry-after": "2" } });
      const err = await failure();
      assert.ok(isGwsyncError(err) && err.retryable);
      assert.equal(retryAfterOf(err), 2000);
    });
    test("429 with an HTTP-date", async () => {
      answers.push({ status: 429, headers: { "retry-after": new Date(Date.now() + 30_000).toUTCString() } });
      const ms = retryAfterOf(await failure());
      assert.ok(ms !== undefined && ms > 25_000 && ms <= 30_000, `${ms}`);
    });
    test("503 without Retry-After, or a malformed one, or a 500 with one: an ordinary failure", async () => {
      answers.push({ status: 503, headers: {} });
      assert.equal(retryAfterOf(await failure()), undefined);
      answers.push({ status: 503, headers: { "retry-after": "later" } });
      assert.equal(retryAfterOf(await failure()), undefined);
      answers.push({ status: 500, headers: { "retry-after": "1" } });
      assert.equal(retryAfterOf(await failure()), undefined);
    });
    test("through withRetry with no retries left: busy twice, then served", async () => {
      answers.push({ status: 503, headers: { "retry-after": "0" } }, { status: 503, headers: { "retry-after": "0" } });
      let busyCount = 0;
      const r = await withRetry(() => retriever().changesSince(0, ["A"]), policy, { onBusy: () => busyCount++ });
      assert.equal(r.head, 7);
      assert.equal(busyCount, 2);
    });
  });
});

/** A store with only what the changelog route reads, every call counted; reads can be made slow. */
function fakeStore(delayMs: number) {
  const calls = { headSeq: 0, changesSince: 0, countArtifacts: 0 };
  let head = 5;
  const rows: ChangeRecord[] = [1, 2, 3, 4, 5].map((seq) => ({
    seq,
    apiId: `api-${seq}`,
    label: "A",
    instruction: "Publish",
    revision: 1,
    sha256: "0".repeat(64),
  })) as ChangeRecord[];
  const later = <T>(v: T) =>
    delayMs > 0 ? new Promise<T>((r) => setTimeout(() => r(v), delayMs)) : Promise.resolve(v);
  const store = {
    engine: "fake",
    headSeq: async () => {
      calls.headSeq++;
      return head;
    },
    countArtifacts: async () => {
      calls.countArtifacts++;
      return later(0);
    },
    changesSince: async (since: number, labels: string[]) => {
      calls.changesSince++;
      return later(rows.filter((r) => r.seq > since && labels.includes(r.label)));
    },
  } as unknown as ArtifactStore;
  return {
    store,
    calls,
    commit: () => {
      head++;
      rows.push({ ...rows[0]!, seq: head, apiId: `api-${head}` });
    },
  };
}

describe("catch-up pages served from one read", () => {
  for (const delayMs of [0, 25]) {
    test(`50 concurrent identical changelog requests cause one store read (store answering in ${delayMs} ms)`, async () => {
      const fake = fakeStore(delayMs);
      const app = server();
      const served = { read: 0, shared: 0 };
      registerDataApiRoutes(app, fake.store, () => ({}), {
        maxInFlight: 1000,
        onChangesPage: (s) => served[s]++,
      });
      await app.listen({ host: "127.0.0.1", port: 0 });
      const url = `${listenUrl(app)}${INTERNAL_DATA_PATH}/changes?since=2&gatewayLabel=A`;
      try {
        const bodies = await Promise.all(
          Array.from({ length: 50 }, async () => {
            const r = await fetch(url, { headers: AUTH });
            assert.equal(r.status, 200);
            assert.match(r.headers.get("content-type") ?? "", /^application\/json/);
            return r.text();
          }),
        );
        assert.equal(new Set(bodies).size, 1, "every caller got the same page");
        assert.deepEqual(JSON.parse(bodies[0]!), {
          head: 5,
          count: 3,
          list: [3, 4, 5].map((seq) => ({
            seq,
            apiId: `api-${seq}`,
            label: "A",
            instruction: "Publish",
            revision: 1,
            sha256: "0".repeat(64),
          })),
        });
        assert.equal(fake.calls.changesSince, 1, "one changelog read for 50 requests");
        assert.deepEqual(served, { read: 1, shared: 49 });
        // Another page (other since) is its own read; a commit moves the head: the page is read again.
        await fetch(url.replace("since=2", "since=4"), { headers: AUTH });
        assert.equal(fake.calls.changesSince, 2);
        fake.commit();
        const fresh = JSON.parse(await (await fetch(url, { headers: AUTH })).text()) as { head: number; count: number };
        assert.deepEqual([fresh.head, fresh.count], [6, 4], "never a page older than the store's head");
        assert.equal(fake.calls.changesSince, 3);
      } finally {
        await app.close();
      }
    });
  }

  test("a failed read is shared by those waiting on it, and not kept", async () => {
    const pages = new SharedPages();
    let reads = 0;
    const failing = () => {
      reads++;
      return new Promise<string>((_, reject) => setTimeout(() => reject(new Error("store down")), 5));
    };
    const results = await Promise.allSettled([pages.get("k", failing), pages.get("k", failing)]);
    assert.deepEqual(
      results.map((r) => r.status),
      ["rejected", "rejected"],
    );
    assert.equal(reads, 1);
    assert.equal(await pages.get("k", async () => "ok"), "ok");
    assert.equal(reads, 1);
  });

  test("kept pages expire and are bounded", async () => {
    let now = 0;
    const pages = new SharedPages({ ttlMs: 100, maxEntries: 3, now: () => now });
    let reads = 0;
    const read = async () => String(++reads);
    for (const k of ["a", "b", "c", "d"]) await pages.get(k, read);
    assert.equal(pages.size, 3);
    assert.equal(await pages.get("a", read), "5", "the oldest went first");
    assert.equal(await pages.get("d", read), "4", "kept");
    now = 200;
    assert.equal(await pages.get("d", read), "6", "expired");
  });
});
