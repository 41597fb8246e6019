import assert from "node:assert/strict";
import { connect, type Socket } from "node:net";
import { after, before, describe, test } from "node:test";
import type { FastifyInstance } from "fastify";
import { isGwsyncError } from "../../src/errors.js";
import { createHttpServer, queryInteger } from "../../src/http/server.js";
import { silentLogger } from "../../src/log.js";

const USER = "operator";
const PASS = "a-long-enough-secret";
const AUTH = `Basic ${Buffer.from(`${USER}:${PASS}`).toString("base64")}`;

/** Resolves when the server closed the socket (or rejects after `ms`), with what it answered. */
function closed(socket: Socket, ms: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = "";
    const timer = setTimeout(() => reject(new Error(`socket still open after ${ms} ms`)), ms);
    socket.on("data", (d) => {
      text += d.toString();
    });
    socket.on("close", () => {
      clearTimeout(timer);
      resolve(text);
    });
    socket.on("error", () => undefined);
  });
}

function open(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(port, "127.0.0.1", () => resolve(s));
    s.on("error", reject);
  });
}

describe("HTTP limits: body, request time, connections, content types, path length (issue items 9 and Low)", () => {
  let app: FastifyInstance;
  let port: number;
  let url: string;
  const hits: string[] = [];

  before(async () => {
    app = createHttpServer({
      host: "127.0.0.1",
      port: 0,
      username: USER,
      password: PASS,
      logger: silentLogger,
      limits: {
        bodyLimitBytes: 1024,
        requestTimeoutMs: 300,
        connectionTimeoutMs: 5000,
        maxConnections: 20,
        maxParamLength: 2048,
      },
      onLimit: (limit) => hits.push(limit),
    });
    app.post("/echo", async (req) => ({ length: String(req.body).length }));
    app.get<{ Params: { token: string } }>("/tokens/:token", async (req) => ({ length: req.params.token.length }));
    await app.listen({ host: "127.0.0.1", port: 0 });
    const addr = app.server.address();
    port = typeof addr === "object" && addr ? addr.port : 0;
    url = `http://127.0.0.1:${port}`;
  });
  after(() => app.close());

  test("a body over body_limit_bytes is 413 GWSYNC_LIMIT_EXCEEDED, counted", async () => {
    const res = await fetch(`${url}/echo`, {
      method: "POST",
      headers: { authorization: AUTH, "content-type": "application/json" },
      body: JSON.stringify({ pad: "x".repeat(2000) }),
    });
    assert.equal(res.status, 413);
    assert.equal(((await res.json()) as { code: string }).code, "GWSYNC_LIMIT_EXCEEDED");
    assert.ok(hits.includes("http.body_limit_bytes"));
  });

  for (const [who, auth] of [
    ["an unauthenticated", ""],
    ["an authenticated", `Authorization: ${AUTH}\r\n`],
  ] as const) {
    test(`${who} request that declares a large body and trickles it is closed within request_timeout_ms`, async () => {
      const s = await open(port);
      const done = closed(s, 5000);
      s.write(
        // Within body_limit_bytes (a larger declared length is 413 at once), but never complete.
        `POST /echo HTTP/1.1\r\nHost: x\r\n${auth}Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n`,
      );
      const trickle = setInterval(() => s.writable && s.write("x"), 50);
      try {
        // Unauthenticated: 401 as soon as the headers are read, and the rest of the body is not waited for.
        assert.match(await done, auth === "" ? /^HTTP\/1\.1 (401|408)/ : /^HTTP\/1\.1 408/);
      } finally {
        clearInterval(trickle);
        s.destroy();
      }
      if (auth !== "") assert.ok(hits.includes("http.request_timeout_ms"));
    });
  }

  test("a request whose headers never end is closed with 408 and counted", async () => {
    const s = await open(port);
    const done = closed(s, 5000);
    s.write("GET /healthz HTTP/1.1\r\nHost: x\r\n");
    const trickle = setInterval(() => s.writable && s.write("X-Slow: 1\r\n"), 50);
    try {
      assert.match(await done, /^HTTP\/1\.1 408/);
    } finally {
      clearInterval(trickle);
      s.destroy();
    }
    assert.ok(hits.includes("http.request_timeout_ms"));
  });

  test("text/plain, form and multipart bodies are 415 (no cross-site form POST); JSON and XML pass", async () => {
    for (const type of ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"]) {
      const res = await fetch(`${url}/echo`, { method: "POST", headers: { authorization: AUTH, "content-type": type }, body: "{}" });
      assert.equal(res.status, 415, type);
    }
    for (const type of ["application/json", "application/json; charset=utf-8", "application/xml", "text/xml", "application/vnd.x+json"]) {
      const res = await fetch(`${url}/echo`, { method: "POST", headers: { authorization: AUTH, "content-type": type }, body: "{}" });
      assert.equal(res.status, 200, type);
    }
  });

  test("a path parameter as long as an RS512 JWT signature (683 characters) is served, not 414", async () => {
    const token = "A".repeat(683);
    const res = await fetch(`${url}/tokens/${token}`, { headers: { authorization: AUTH } });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { length: 683 });
  });

  test("credentials: a wrong password of any length, a missing user or password, is 401", async () => {
    const basic = (s: string) => `Basic ${Buffer.from(s).toString("base64")}`;
    for (const h of [basic(`${USER}:x`), basic(`${USER}:${PASS}x`), basic(`:${PASS}`), basic(`${USER}:`), basic(USER), "Bearer x"]) {
      const res = await fetch(`${url}/tokens/x`, { headers: { authorization: h } });
      assert.equal(res.status, 401, h);
    }
  });
  // Last: the sockets it opens may still count on the server side for a moment.
  test("connections over max_connections are closed at once and counted", async () => {
    const sockets: Socket[] = [];
    try {
      for (let i = 0; i < 20; i++) sockets.push(await open(port));
      const extra = await open(port);
      sockets.push(extra);
      await closed(extra, 3000);
      assert.ok(hits.includes("http.max_connections"));
    } finally {
      for (const s of sockets) s.destroy();
    }
  });
});

describe("weak credentials beyond loopback are refused before anything listens (issue item 8)", () => {
  const make = (host: string, username: string, password: string) =>
    createHttpServer({ host, port: 0, username, password, logger: silentLogger });

  test("empty, default, user-equal and short passwords on 0.0.0.0 and on a DNS name that only looks like loopback", () => {
    for (const [user, pass] of [
      ["gwsync", ""],
      ["Admin", "admin"],
      ["admin", "ADMIN"],
      ["ops", "guest"],
      ["guest", "guest"],
      ["svc", "svc"],
      ["svc", "short"],
    ] as const) {
      for (const host of ["0.0.0.0", "::", "10.0.0.5", "127.evil.example.com"]) {
        assert.throws(() => make(host, user, pass), (err: unknown) => isGwsyncError(err, "GWSYNC_CONFIG_INVALID"), `${host} ${user}/${pass}`);
      }
    }
  });

  test("loopback literals and localhost may keep a weak pair (local demos); strong pairs serve anywhere", async () => {
    for (const host of ["127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost", "::ffff:127.0.0.1"]) {
      await make(host, "guest", "guest").close();
    }
    await make("0.0.0.0", "gwsync", "a-long-enough-secret").close();
  });
});

describe("query integers are decimal only (issue Low: since=, limit=0x10)", () => {
  const q = (v: unknown) => queryInteger({ since: v }, "since", 7, 1000);
  test("absent takes the default; digits parse", () => {
    assert.equal(queryInteger({}, "since", 7), 7);
    assert.equal(q("0"), 0);
    assert.equal(q("42"), 42);
  });
  test("empty, hex, exponent, sign, blanks, fractions, leading zeros and over-max are 400", () => {
    for (const v of ["", "0x10", "1e3", "+1", "-1", " 1", "1 ", "1.0", "01", "1001", "abc", ["x"]]) {
      assert.throws(() => q(v), (err: unknown) => isGwsyncError(err, "GWSYNC_HTTP_BAD_REQUEST"), JSON.stringify(v));
    }
  });
});
