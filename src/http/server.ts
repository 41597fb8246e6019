import { timingSafeEqual } from "node:crypto";
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from "fastify";
import { GwsyncError, isGwsyncError } from "../errors.js";
import type { Logger } from "../log.js";

/** Paths anyone may call: liveness and readiness probes only. */
const PUBLIC_PATHS = new Set(["/healthz", "/readyz"]);
export const DEFAULT_BODY_LIMIT_BYTES = 8 * 1024 * 1024;
/** Default credentials of WSO2 and RabbitMQ: never acceptable on a non-loopback address. */
const DEFAULT_CREDENTIALS = new Set(["admin:admin", "guest:guest"]);

export interface HttpServerOptions {
  host: string;
  port: number;
  username: string;
  password: string;
  logger: Logger;
  bodyLimit?: number;
}

function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || host.startsWith("127.");
}

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * A small fastify server: HTTP Basic on every path but the probes, JSON errors as
 * {"code":"GWSYNC_...","message":"..."}, XML and JSON bodies kept as text for the routes to parse.
 */
export function createHttpServer(o: HttpServerOptions): FastifyInstance {
  if (!isLoopback(o.host) && DEFAULT_CREDENTIALS.has(`${o.username}:${o.password}`)) {
    throw new GwsyncError(
      "GWSYNC_CONFIG_INVALID",
      `refusing to serve HTTP on ${o.host} with default credentials ${o.username}/***: set [gwsync.http] username/password or [apim.event_hub] username/password`,
    );
  }
  const app = Fastify({ logger: false, bodyLimit: o.bodyLimit ?? DEFAULT_BODY_LIMIT_BYTES });
  const log = o.logger;
  // Routes parse bodies themselves (zod / XML checks), so keep them as strings.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser("*", { parseAs: "string" }, (_req, body, done) => done(null, body));

  app.addHook("onRequest", async (req: FastifyRequest, reply: FastifyReply) => {
    const path = req.url.split("?")[0] ?? "";
    if (PUBLIC_PATHS.has(path)) return;
    const header = req.headers.authorization ?? "";
    const match = /^Basic\s+([A-Za-z0-9+/=]+)$/i.exec(header);
    const decoded = match?.[1] ? Buffer.from(match[1], "base64").toString("utf8") : "";
    const sep = decoded.indexOf(":");
    const ok = sep > 0 && sameSecret(decoded.slice(0, sep), o.username) && sameSecret(decoded.slice(sep + 1), o.password);
    if (!ok) {
      reply.header("www-authenticate", 'Basic realm="gwsync"');
      return reply.code(401).send({ code: "GWSYNC_HTTP_UNAUTHORIZED", message: "credentials required (HTTP Basic)" });
    }
  });

  app.setErrorHandler((err: unknown, req, reply) => {
    if (isGwsyncError(err)) {
      if (err.status >= 500) log.error({ err: err.message, code: err.code, url: req.url }, "request failed");
      return reply.code(err.status).send(err.toJSON());
    }
    const e = err as { statusCode?: number; message?: string; code?: string };
    if (e.statusCode && e.statusCode < 500) {
      const code = e.statusCode === 413 ? "GWSYNC_EVENT_TOO_LARGE" : "GWSYNC_HTTP_BAD_REQUEST";
      return reply.code(e.statusCode).send({ code, message: e.message ?? "bad request" });
    }
    log.error({ err: e.message, url: req.url }, "request failed");
    return reply.code(500).send({ code: "GWSYNC_INTERNAL", message: "internal error" });
  });
  app.setNotFoundHandler((req, reply) =>
    reply.code(404).send({ code: "GWSYNC_NOT_FOUND", message: `no route ${req.method} ${req.url.split("?")[0]}` }),
  );
  return app;
}

/** Query parameter that may be repeated (?label=a&label=b) as a string list. */
export function queryList(query: unknown, name: string): string[] {
  const v = (query as Record<string, unknown> | undefined)?.[name];
  if (v === undefined) return [];
  const list = Array.isArray(v) ? v : [v];
  return list.filter((x): x is string => typeof x === "string" && x.length > 0);
}

export function queryString(query: unknown, name: string): string | undefined {
  return queryList(query, name)[0];
}
