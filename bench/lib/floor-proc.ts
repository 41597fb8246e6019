/**
 * B12's and B13's floors, in a process of its own. "start" (B12): the least a durable REST publish must do, in a process of its own. A plain node:http
 * server that takes a POST body, checks HTTP Basic (one constant-time compare), writes the body in one
 * SQLite transaction (WAL, synchronous=FULL: fsync before the answer, as gwsync's store), and answers
 * a small JSON with its sha256. No validation, no derived rows, no outbox: what is left above this in
 * gwsync's REST publish is gwsync's own work.
 * "start-get" (B13): a plain node:http server that checks HTTP Basic the same way and answers every GET
 * with one precomputed Buffer (the data-API reply B13 fetched from the publisher, its content-type):
 * the least a cached data-API GET must do.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { createServer, type Server } from "node:http";
import { join } from "node:path";
import Database from "better-sqlite3";
import { type IpcMessage, send, serve } from "./child-ipc.js";
import { nowMs } from "./clock.js";

let server: Server | undefined;
let db: Database.Database | undefined;

async function start(m: IpcMessage): Promise<void> {
  const dir = m.dir as string;
  const expected = Buffer.from(m.authorization as string);
  const d = new Database(join(dir, "floor.db"));
  d.pragma("journal_mode = WAL");
  d.pragma("synchronous = FULL");
  d.exec(
    "CREATE TABLE IF NOT EXISTS BODIES (ID INTEGER PRIMARY KEY, SHA256 TEXT NOT NULL, BODY BLOB NOT NULL)",
  );
  const insert = d.prepare<[string, Buffer]>("INSERT INTO BODIES (SHA256, BODY) VALUES (?, ?)");
  const save = d.transaction((sha: string, body: Buffer) =>
    Number(insert.run(sha, body).lastInsertRowid),
  ).immediate;
  db = d;
  const s = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const auth = Buffer.from(req.headers.authorization ?? "");
      if (auth.length !== expected.length || !timingSafeEqual(auth, expected)) {
        res.writeHead(401).end();
        return;
      }
      const body = Buffer.concat(chunks);
      const sha256 = createHash("sha256").update(body).digest("hex");
      const id = save(sha256, body);
      const out = JSON.stringify({ id, sha256 });
      res
        .writeHead(201, { "content-type": "application/json", "content-length": Buffer.byteLength(out) })
        .end(out);
    });
  });
  await new Promise<void>((resolve) => s.listen(0, "127.0.0.1", resolve));
  server = s;
  const addr = s.address();
  const port = typeof addr === "object" && addr !== null ? addr.port : 0;
  send({ type: "ready", t: nowMs(), httpUrl: `http://127.0.0.1:${port}` });
}

async function startGet(m: IpcMessage): Promise<void> {
  const expected = Buffer.from(m.authorization as string);
  const body = Buffer.from(m.body as string, "utf8");
  const headers = {
    "content-type": m.contentType as string,
    "content-length": String(body.length),
  };
  const s = createServer((req, res) => {
    req.resume();
    const auth = Buffer.from(req.headers.authorization ?? "");
    if (auth.length !== expected.length || !timingSafeEqual(auth, expected)) {
      res.writeHead(401).end();
      return;
    }
    res.writeHead(200, headers).end(body);
  });
  await new Promise<void>((resolve) => s.listen(0, "127.0.0.1", resolve));
  server = s;
  const addr = s.address();
  const port = typeof addr === "object" && addr !== null ? addr.port : 0;
  send({ type: "ready", t: nowMs(), httpUrl: `http://127.0.0.1:${port}` });
}

serve(async (m) => {
  if (m.type === "start") return start(m);
  if (m.type === "start-get") return startGet(m);
  if (m.type === "stop") {
    server?.close();
    db?.close();
    send({ type: "stopped" });
    process.exit(0);
  }
});
