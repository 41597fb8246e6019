import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { Socket } from "node:net";
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from "fastify";
import * as D from "../config/defaults.js";
import type { GwsyncConfig, HttpLimits } from "../config/types.js";
import { GwsyncError, isGwsyncError } from "../errors.js";
import type { Logger } from "../log.js";
import { isLoopbackHost, sameSecret, secretMatcher, weakCredentials } from "../security/exposure.js";
import type { ServiceMetrics } from "./metrics.js";

/** Paths anyone may call: liveness and readiness probes only. */
const PUBLIC_PATHS = new Set(["/healthz", "/readyz"]);
export const DEFAULT_BODY_LIMIT_BYTES = D.DEFAULT_HTTP_BODY_LIMIT_BYTES;
/**
 * Bodies the routes read: JSON and XML only. A browser sends text/plain, form-urlencoded and
 * multipart/form-data cross-site without asking the server first (no CORS preflight), so accepting
 * any of them would let a page the operator visits post with the Basic credentials the browser holds.
 */
const BODY_TYPES =
  /^(?:application\/(?:[\w.+-]+\+)?json|(?:application|text)\/(?:[\w.+-]+\+)?xml)\s*(?:;|$)/i;
/** How often Node looks for requests over requestTimeout (its default, 30 s, would double the timeout). */
const TIMEOUT_CHECK_MS = 1000;

export const DEFAULT_HTTP_LIMITS: HttpLimits = {
  bodyLimitBytes: D.DEFAULT_HTTP_BODY_LIMIT_BYTES,
  requestTimeoutMs: D.DEFAULT_HTTP_REQUEST_TIMEOUT_MS,
  connectionTimeoutMs: D.DEFAULT_HTTP_CONNECTION_TIMEOUT_MS,
  keepAliveTimeoutMs: D.DEFAULT_HTTP_KEEP_ALIVE_TIMEOUT_MS,
  maxRequestsPerSocket: D.DEFAULT_HTTP_MAX_REQUESTS_PER_SOCKET,
  maxConnections: D.DEFAULT_HTTP_MAX_CONNECTIONS,
  maxParamLength: D.DEFAULT_HTTP_MAX_PARAM_LENGTH,
};

export interface HttpServerOptions {
  host: string;
  port: number;
  username: string;
  password: string;
  logger: Logger;
  /** [gwsync.http] limits; defaults for what is not given. */
  limits?: Partial<HttpLimits>;
  /** A limit refused a connection or a request (the alarm metric gwsync_limit_exceeded_total). */
  onLimit?: (limit: string) => void;
}

/** The Basic credentials of a request, compared in constant time (user and password both, always). */
function authorized(header: string | undefined, username: string, password: string): boolean {
  const match = /^Basic\s+([A-Za-z0-9+/=]+)$/i.exec(header ?? "");
  const decoded = match?.[1] ? Buffer.from(match[1], "base64").toString("utf8") : "";
  const sep = decoded.indexOf(":");
  // Both compares run whatever the first says: how long a refusal takes tells nothing about which half.
  const userOk = sameSecret(sep > 0 ? decoded.slice(0, sep) : "", username);
  const passOk = sameSecret(sep > 0 ? decoded.slice(sep + 1) : "", password);
  return sep > 0 && userOk && passOk;
}

/**
 * A small fastify server: HTTP Basic on every path but the probes, JSON errors as
 * {"code":"GWSYNC_...","message":"..."}, JSON and XML bodies kept as text for the routes to parse, and
 * the limits of [gwsync.http]: body size, request and idle timeouts, requests per socket, open
 * connections, path parameter length.
 */
export function createHttpServer(o: HttpServerOptions): FastifyInstance {
  const weak = isLoopbackHost(o.host) ? undefined : weakCredentials(o.username, o.password);
  if (weak !== undefined) {
    throw new GwsyncError(
      "GWSYNC_CONFIG_INVALID",
      `refusing to serve HTTP on ${o.host} with weak credentials (${weak}) for user ${o.username}: set [gwsync.http] username/password_file or [apim.event_hub] username/password_file`,
    );
  }
  const limits = { ...DEFAULT_HTTP_LIMITS, ...o.limits };
  const onLimit = o.onLimit ?? (() => undefined);
  const log = o.logger;
  const app = Fastify({
    logger: false,
    bodyLimit: limits.bodyLimitBytes,
    routerOptions: { maxParamLength: limits.maxParamLength },
    serverFactory: (handler) => {
      const server = createServer(
        {
          requestTimeout: limits.requestTimeoutMs,
          headersTimeout: Math.min(limits.requestTimeoutMs, D.DEFAULT_HTTP_REQUEST_TIMEOUT_MS),
          connectionsCheckingInterval: TIMEOUT_CHECK_MS,
        },
        handler as (req: IncomingMessage, res: ServerResponse) => void,
      );
      // fastify applies its timeout options only to a server it makes itself.
      server.keepAliveTimeout = limits.keepAliveTimeoutMs;
      server.maxRequestsPerSocket = limits.maxRequestsPerSocket;
      server.setTimeout(limits.connectionTimeoutMs);
      server.maxConnections = limits.maxConnections;
      // Node closes a connection over maxConnections at once and tells only through this event.
      server.on("drop", () => onLimit("http.max_connections"));
      return server;
    },
    clientErrorHandler: (err: Error & { code?: string }, socket: Socket) => {
      const timeout = err.code === "ERR_HTTP_REQUEST_TIMEOUT";
      if (timeout) onLimit("http.request_timeout_ms");
      if (socket.writable) {
        socket.end(
          timeout
            ? "HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
            : "HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
        );
      }
      socket.destroy();
    },
  });
  // Routes parse bodies themselves (zod / XML checks), so keep them as strings; other types get 415.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser(BODY_TYPES, { parseAs: "string" }, (_req, body, done) => done(null, body));

  // The header a client that sends these credentials as most do (`Basic base64(user:password)`) sends:
  // one constant-time compare admits it; any other spelling goes through the full parse.
  const isCanonical = secretMatcher(
    `Basic ${Buffer.from(`${o.username}:${o.password}`, "utf8").toString("base64")}`,
  );
  // Callback style, not async: no promise and no extra turn of microtasks on every request (B12).
  app.addHook("onRequest", (req: FastifyRequest, reply: FastifyReply, done: (err?: Error) => void) => {
    const q = req.url.indexOf("?");
    const path = q < 0 ? req.url : req.url.slice(0, q);
    if (PUBLIC_PATHS.has(path)) return done();
    const header = req.headers.authorization;
    if (header !== undefined && isCanonical(header)) return done();
    if (!authorized(header, o.username, o.password)) {
      reply.header("www-authenticate", 'Basic realm="gwsync"');
      reply
        .code(401)
        .send({ code: "GWSYNC_HTTP_UNAUTHORIZED", message: "credentials required (HTTP Basic)" });
      return;
    }
    done();
  });

  app.setErrorHandler((err: unknown, req, reply) => {
    if (isGwsyncError(err)) {
      if (err.status >= 500) log.error({ err: err.message, code: err.code, url: req.url }, "request failed");
      if (err.code === "GWSYNC_LIMIT_EXCEEDED" && typeof err.details?.limit === "string")
        onLimit(err.details.limit);
      return reply.code(err.status).send(err.toJSON());
    }
    const e = err as { statusCode?: number; message?: string; code?: string };
    if (e.statusCode && e.statusCode < 500) {
      if (e.statusCode === 413) {
        onLimit("http.body_limit_bytes");
        return reply
          .code(413)
          .send({ code: "GWSYNC_LIMIT_EXCEEDED", message: e.message ?? "body too large" });
      }
      if (e.statusCode === 415) {
        return reply.code(415).send({
          code: "GWSYNC_HTTP_BAD_REQUEST",
          message: "content-type must be application/json, or application/xml for an artifact",
        });
      }
      return reply
        .code(e.statusCode)
        .send({ code: "GWSYNC_HTTP_BAD_REQUEST", message: e.message ?? "bad request" });
    }
    log.error({ err: e.message, url: req.url }, "request failed");
    return reply.code(500).send({ code: "GWSYNC_INTERNAL", message: "internal error" });
  });
  app.setNotFoundHandler((req, reply) =>
    reply
      .code(404)
      .send({ code: "GWSYNC_NOT_FOUND", message: `no route ${req.method} ${req.url.split("?")[0]}` }),
  );
  return app;
}

/** A service's HTTP server as [gwsync] configures it, its limits counted in the service's metrics. */
export function createServiceHttp(
  g: GwsyncConfig["gwsync"],
  logger: Logger,
  metrics: ServiceMetrics,
): FastifyInstance {
  const { username, password, ...limits } = g.http;
  return createHttpServer({
    host: g.httpHost,
    port: g.httpPort,
    username,
    password,
    logger,
    limits,
    onLimit: (limit) => metrics.limitExceeded.inc({ limit }),
  });
}

/**
 * Listen on [gwsync] http_host:http_port. A port taken by another process, or one this user may not
 * bind, is a configuration error that names the key to change, not a bare "listen EADDRINUSE".
 */
export async function listenOn(app: FastifyInstance, host: string, port: number): Promise<void> {
  try {
    await app.listen({ host, port });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== "EADDRINUSE" && code !== "EACCES" && code !== "EADDRNOTAVAIL") throw err;
    const why =
      code === "EADDRINUSE"
        ? "is already in use by another process"
        : code === "EACCES"
          ? "may not be bound by this user (ports below 1024 need privileges)"
          : "is not an address of this host";
    const what =
      code === "EADDRNOTAVAIL" ? `[gwsync] http_host ${host}` : `[gwsync] http_port ${port} on ${host}`;
    throw new GwsyncError(
      "GWSYNC_CONFIG_INVALID",
      `${what} ${why} (${code}): set http_port / http_host (GWSYNC_HTTP_PORT, GWSYNC_HTTP_HOST) to a free one, or stop the other process`,
      { cause: err },
    );
  }
}

/**
 * The URL a local client reaches a listening service at (the one place every service formats it):
 * the bound address, an IPv6 one in brackets; a wildcard bind (0.0.0.0, ::) is reached on loopback of
 * its family. Undefined while not listening.
 */
export function listenUrl(app: FastifyInstance | undefined): string | undefined {
  const addr = app?.server.address();
  if (!addr || typeof addr !== "object") return undefined;
  const host = addr.address === "0.0.0.0" ? "127.0.0.1" : addr.address === "::" ? "::1" : addr.address;
  return `http://${host.includes(":") ? `[${host}]` : host}:${addr.port}`;
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

/** Decimal digits only: no sign, no exponent, no hex (Number("0x10") is 16), no blanks. */
const DECIMAL = /^(?:0|[1-9][0-9]{0,15})$/;

/**
 * A non-negative integer query parameter, strictly decimal; `fallback` when it is absent. Present but
 * empty (`since=`), or anything but plain digits, is a 400 naming the parameter.
 */
export function queryInteger(
  query: unknown,
  name: string,
  fallback: number,
  max = Number.MAX_SAFE_INTEGER,
): number {
  const raw = (query as Record<string, unknown> | undefined)?.[name];
  if (raw === undefined) return fallback;
  const text = Array.isArray(raw) ? raw[0] : raw;
  const n = typeof text === "string" && DECIMAL.test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(n) || n > max) {
    throw new GwsyncError(
      "GWSYNC_HTTP_BAD_REQUEST",
      `${name} must be a decimal integer from 0 to ${max}, got ${JSON.stringify(String(text).slice(0, 40))}`,
    );
  }
  return n;
}
