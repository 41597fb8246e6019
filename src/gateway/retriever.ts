import { Agent as HttpAgent, request as httpRequest } from "node:http";
import { Agent as HttpsAgent, request as httpsRequest } from "node:https";
import { z } from "zod";
import { parseGatewayApiDto, sha256Hex, validateDto } from "../artifacts/gateway-api-dto.js";
import type { GatewayApiDto } from "../artifacts/types.js";
import {
  ALL_TENANTS,
  DEFAULT_DATA_API,
  type DataApi,
  encodeLabels,
  GATEWAY_INSTRUCTION_PUBLISH,
  GATEWAY_SYNAPSE_ARTIFACTS_PATH,
  HEADER_ORGANIZATION,
  HEADER_TENANT,
  INTERNAL_DATA_PATH,
  RUNTIME_ARTIFACTS_PATH,
  SUPER_TENANT,
  SYNAPSE_ARTIFACTS_PATH,
} from "../data-api/wire.js";
import { GwsyncError, isGwsyncError } from "../errors.js";
import { JsonTooDeepError, parseJsonText } from "../security/json-limits.js";
import { hop } from "../hops.js";
import { parseRetryAfter } from "./retry.js";

export const DEFAULT_FETCH_TIMEOUT_MS = 30 * 1000;
/**
 * Connections a gateway opens to the data API at most. Unbounded, a gateway opened one per concurrent
 * fetch (up to its 64 unacked events at once): in the reconnect storm of test/faults/reconnect-storm.test.ts
 * 200 gateways went over the publisher's [gwsync.http] max_connections (512) 1,041 times, each drop
 * a failed fetch that spent a retry.
 */
export const DATA_API_MAX_SOCKETS = 4;
/** A data-API reply larger than this is refused (10,000 APIs of 5 KB fit easily). */
export const DEFAULT_MAX_REPLY_BYTES = 512 * 1024 * 1024;

/** One artifact as the control plane holds it, with gwsync's facts. */
export interface RetrievedArtifact {
  apiId: string;
  label: string;
  dto: GatewayApiDto;
  revision: number;
  sha256: string;
  seq: number;
}

/** An artifact the control plane served that cannot be deployed (invalid XML, unsafe name, ...). */
export interface RejectedArtifact {
  apiId: string | undefined;
  reason: string;
  /** The reason code (GWSYNC_ARTIFACT_INVALID when not said). */
  code?: string;
  /** The revision the control plane served, when it said. */
  revision?: number;
}

export interface ChangeEntry {
  seq: number;
  apiId: string;
  label: string;
  instruction: "Publish" | "Remove";
  revision: number;
  sha256: string;
}

/** Where a gateway gets artifacts from (WSO2's ArtifactRetriever extension point). */
export interface ArtifactRetriever {
  /** The API as published to the label, or undefined when it is not (404: final). */
  retrieveArtifact(apiId: string, label: string): Promise<RetrievedArtifact | undefined>;
  /**
   * Every API published to the label, and the changelog head at the time of the read. Artifacts that
   * fail validation are left out and listed in `rejected`: one bad artifact never blocks the others.
   */
  retrieveAllArtifacts(
    label: string,
  ): Promise<{ items: RetrievedArtifact[]; head: number; rejected?: RejectedArtifact[] }>;
  /** Optional paging of retrieveAllArtifacts (keeps a gateway's memory flat at startup). */
  retrieveArtifactPage?(
    label: string,
    after: string | undefined,
    limit: number,
  ): Promise<{
    items: RetrievedArtifact[];
    head: number;
    rejected?: RejectedArtifact[];
    next?: string;
    /** How many the label has in all (first page, when the control plane says). */
    total?: number;
  }>;
  /** Changelog rows after `since` for the labels. */
  changesSince(since: number, labels: readonly string[]): Promise<{ head: number; changes: ChangeEntry[] }>;
}

const metaSchema = z.object({
  apiId: z.string(),
  label: z.string(),
  revision: z.number().int().nonnegative(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  seq: z.number().int().nonnegative(),
  /** The control plane's signature of this row (gwsync publishers with [gwsync.signing]). */
  signature: z
    .string()
    .max(64 * 1024)
    .optional(),
});
const runtimeArtifactsSchema = z.object({
  count: z.number().int().nonnegative(),
  list: z.array(z.string()),
  gwsync: z
    .object({
      head: z.number().int().nonnegative(),
      items: z.array(metaSchema),
      next: z.string().optional(),
      /** First page only: how many the label has, so progress counts to the right end. */
      total: z.number().int().nonnegative().optional(),
    })
    .optional(),
});
const changesSchema = z.object({
  head: z.number().int().nonnegative(),
  count: z.number().int().nonnegative(),
  list: z.array(
    z.object({
      seq: z.number().int().positive(),
      apiId: z.string(),
      label: z.string(),
      instruction: z.enum(["Publish", "Remove"]),
      revision: z.number().int().nonnegative(),
      sha256: z.string(),
    }),
  ),
});

export interface HttpRetrieverOptions {
  /** Control plane base URL ([apim.event_hub] service_url, "/services" already cut off). */
  serviceUrl: string;
  username: string;
  password: string;
  /** The tenant to ask for (xWSO2Tenant), or "ALL" (every tenant, the default). */
  tenantDomain?: string;
  /**
   * Which data API the control plane speaks ([gwsync] data_api): "4.x" calls /runtime-artifacts with
   * the label base64url-encoded as a WSO2 4.x gateway does; "3.2.0" calls /synapse-artifacts and
   * /gateway-synapse-artifacts with the plain label. Default "4.x".
   */
  dataApi?: DataApi;
  /**
   * [apim.sync_runtime_artifacts.gateway] event_waiting_time: a fixed sleep before each single-API
   * fetch, as WSO2's DBRetriever sleeps (DBRetriever.java:72-78; WSO2 ships 5000, gwsync 0). Default 0.
   */
  fetchDelayMs?: number;
  timeoutMs?: number;
  maxReplyBytes?: number;
  /** Why a fetched artifact must not be deployed (its signature, src/gateway/artifact-trust.ts), or undefined. */
  refuse?: (item: RetrievedArtifact, signature: string | undefined) => string | undefined;
}

/**
 * WSO2's DBRetriever: an HTTP client of the control plane's internal data API, Basic auth and
 * xWSO2Tenant. 4.x: GET /internal/data/v1/runtime-artifacts?gatewayLabel=<base64url(label)>&type=Synapse
 * → {"count":N,"list":["<GatewayAPIDTO JSON>",...]}, 404 when none (carbon-apimgt 4.x
 * InMemoryAPIDeployer.java:186-187, DBRetriever.java:80-83 and 99-121). 3.2.0: /synapse-artifacts (the
 * artifact itself, empty when none) and /gateway-synapse-artifacts with the plain label (3.2.0
 * DBRetriever.java:78-80 and 104-106). gwsync's control plane adds a `gwsync` member with
 * revision/sha256/seq per item; every artifact is re-validated here (XML, DOCTYPE, names, sha256)
 * before anything is deployed.
 */
export class HttpArtifactRetriever implements ArtifactRetriever {
  readonly #base: string;
  readonly #headers: Record<string, string>;
  readonly #timeoutMs: number;
  readonly #maxBytes: number;
  readonly #refuse: HttpRetrieverOptions["refuse"];
  readonly dataApi: DataApi;
  readonly #fetchDelayMs: number;
  /**
   * Keep-alive: one connection per concurrent fetch, reused (the server's Keep-Alive timeout honoured),
   * at most DATA_API_MAX_SOCKETS of them; more fetches wait for one in the agent.
   */
  readonly #agent: HttpAgent;

  constructor(o: HttpRetrieverOptions) {
    const agentOptions = { keepAlive: true, scheduling: "lifo" as const, maxSockets: DATA_API_MAX_SOCKETS };
    this.#agent = o.serviceUrl.startsWith("https:") ? new HttpsAgent(agentOptions) : new HttpAgent(agentOptions);
    this.#fetchDelayMs = o.fetchDelayMs ?? 0;
    this.#refuse = o.refuse;
    this.dataApi = o.dataApi ?? DEFAULT_DATA_API;
    const tenant = o.tenantDomain ?? ALL_TENANTS;
    this.#base = `${o.serviceUrl.replace(/\/+$/, "")}${INTERNAL_DATA_PATH}`;
    this.#headers = {
      authorization: `Basic ${Buffer.from(`${o.username}:${o.password}`).toString("base64")}`,
      accept: "application/json",
      // Every tenant, as WSO2 4.x asks for it: organization ALL from a super-tenant caller
      // (RuntimeArtifactsApiServiceImpl.java:56-59); one tenant: that tenant.
      ...(tenant === ALL_TENANTS
        ? { [HEADER_TENANT]: SUPER_TENANT, [HEADER_ORGANIZATION]: ALL_TENANTS }
        : { [HEADER_TENANT]: tenant }),
    };
    this.#timeoutMs = o.timeoutMs ?? DEFAULT_FETCH_TIMEOUT_MS;
    this.#maxBytes = o.maxReplyBytes ?? DEFAULT_MAX_REPLY_BYTES;
  }

  /** The `gatewayLabel` value of a 4.x call: base64url of the label, as WSO2 4.x gateways send it. */
  #label(label: string): string {
    return this.dataApi === "4.x" ? encodeLabels([label]) : label;
  }

  async retrieveArtifact(apiId: string, label: string): Promise<RetrievedArtifact | undefined> {
    if (this.#fetchDelayMs > 0) await new Promise((r) => setTimeout(r, this.#fetchDelayMs));
    let body: unknown;
    if (this.dataApi === "3.2.0") {
      const q = new URLSearchParams({
        apiId,
        gatewayInstruction: GATEWAY_INSTRUCTION_PUBLISH,
        gatewayLabel: label,
      });
      const text = await this.#get(`${SYNAPSE_ARTIFACTS_PATH}?${q}`, "text");
      // 3.2.0 answers the artifact itself, or nothing (InMemoryAPIDeployer.java@3.2.0:73-75).
      if (typeof text !== "string" || text.trim() === "") return undefined;
      body = { count: 1, list: [text] };
    } else {
      const q = new URLSearchParams({ apiId, gatewayLabel: this.#label(label), type: "Synapse" });
      body = await this.#get(`${RUNTIME_ARTIFACTS_PATH}?${q}`);
    }
    hop("gateway.fetched", apiId);
    if (body === undefined) return undefined;
    const { items, rejected } = this.#parseArtifacts(body, label);
    const bad = rejected.find((r) => r.apiId === undefined || r.apiId === apiId);
    if (bad) {
      // details.refusal: the finer reason code the fleet view reports (GWSYNC_SIGNATURE_INVALID, ...).
      throw new GwsyncError("GWSYNC_ARTIFACT_INVALID", `artifact ${apiId} refused: ${bad.reason}`, {
        details: { refusal: bad.code ?? "GWSYNC_ARTIFACT_INVALID", ...(bad.revision === undefined ? {} : { revision: bad.revision }) },
      });
    }
    return items.find((i) => i.apiId === apiId);
  }

  async retrieveAllArtifacts(
    label: string,
  ): Promise<{ items: RetrievedArtifact[]; head: number; rejected: RejectedArtifact[] }> {
    const body =
      this.dataApi === "3.2.0"
        ? await this.#get(`${GATEWAY_SYNAPSE_ARTIFACTS_PATH}?${new URLSearchParams({ gatewayLabel: label })}`)
        : await this.#get(
            `${RUNTIME_ARTIFACTS_PATH}?${new URLSearchParams({ gatewayLabel: this.#label(label), type: "Synapse" })}`,
          );
    if (body === undefined) return { items: [], head: 0, rejected: [] };
    return this.#parseArtifacts(body, label);
  }

  /**
   * One page of a label's artifacts (gwsync control planes; a WSO2 one ignores the paging parameters
   * and answers everything at once, which ends the paging too). `next` continues it.
   */
  async retrieveArtifactPage(
    label: string,
    after: string | undefined,
    limit: number,
  ): Promise<{
    items: RetrievedArtifact[];
    head: number;
    rejected: RejectedArtifact[];
    next?: string;
    total?: number;
  }> {
    // 3.2.0 has no paging: its one listing is the only page.
    if (this.dataApi === "3.2.0") return this.retrieveAllArtifacts(label);
    const q = new URLSearchParams({
      gatewayLabel: this.#label(label),
      type: "Synapse",
      limit: String(limit),
    });
    if (after) q.set("after", after);
    const body = await this.#get(`${RUNTIME_ARTIFACTS_PATH}?${q}`);
    if (body === undefined) return { items: [], head: 0, rejected: [] };
    const page = this.#parseArtifacts(body, label);
    const meta = (body as { gwsync?: { next?: unknown; total?: unknown } }).gwsync;
    return {
      ...page,
      ...(typeof meta?.next === "string" ? { next: meta.next } : {}),
      ...(typeof meta?.total === "number" ? { total: meta.total } : {}),
    };
  }

  async changesSince(
    since: number,
    labels: readonly string[],
  ): Promise<{ head: number; changes: ChangeEntry[] }> {
    const q = new URLSearchParams({ since: String(since) });
    for (const l of labels) q.append("gatewayLabel", this.#label(l));
    const body = await this.#get(`/changes?${q}`);
    // A WSO2 control plane has no changelog: the caller re-reads the listing instead.
    if (body === undefined)
      throw new GwsyncError(
        "GWSYNC_FETCH_NOT_FOUND",
        "control plane has no changelog endpoint (a WSO2 control plane)",
        {
          details: { changelog: "absent" },
        },
      );
    const parsed = changesSchema.safeParse(body);
    if (!parsed.success) throw invalidReply("changes", parsed.error.issues[0]?.message);
    return { head: parsed.data.head, changes: parsed.data.list };
  }

  #parseArtifacts(
    body: unknown,
    label: string,
  ): { items: RetrievedArtifact[]; head: number; rejected: RejectedArtifact[] } {
    const parsed = runtimeArtifactsSchema.safeParse(body);
    if (!parsed.success) throw invalidReply("runtime-artifacts", parsed.error.issues[0]?.message);
    const { list, gwsync } = parsed.data;
    const items: RetrievedArtifact[] = [];
    const rejected: RejectedArtifact[] = [];
    for (let i = 0; i < list.length; i++) {
      const json = list[i]!;
      const meta = gwsync?.items[i];
      let dto: GatewayApiDto;
      try {
        dto = parseGatewayApiDto(json);
        validateDto(dto);
      } catch (err) {
        rejected.push({
          apiId: meta?.apiId,
          reason: (err as Error).message,
          code: isGwsyncError(err) ? err.code : "GWSYNC_ARTIFACT_INVALID",
          ...(meta ? { revision: meta.revision } : {}),
        });
        continue;
      }
      const sha256 = sha256Hex(json);
      if (meta && meta.sha256 !== sha256) {
        rejected.push({
          apiId: dto.apiId,
          reason: "artifact does not match its sha256",
          code: "GWSYNC_ARTIFACT_INVALID",
          revision: meta.revision,
        });
        continue;
      }
      const item: RetrievedArtifact = {
        apiId: dto.apiId,
        label: meta?.label ?? label,
        dto,
        revision: meta?.revision ?? 0,
        sha256,
        seq: meta?.seq ?? 0,
      };
      const refusal = this.#refuse?.(item, meta?.signature);
      if (refusal !== undefined) {
        rejected.push({
          apiId: dto.apiId,
          reason: refusal,
          code: "GWSYNC_SIGNATURE_INVALID",
          ...(meta ? { revision: meta.revision } : {}),
        });
        continue;
      }
      items.push(item);
    }
    return { items, head: gwsync?.head ?? 0, rejected };
  }

  /** GET a JSON (or text) reply; undefined on 404. Network errors and 5xx are retryable, 401/403 are not. */
  async #get(path: string, as: "json" | "text" = "json"): Promise<unknown> {
    let res: GetReply;
    try {
      res = await httpGet(this.#base + path, this.#headers, this.#timeoutMs, this.#maxBytes, this.#agent);
    } catch (err) {
      if (isGwsyncError(err)) throw err;
      throw new GwsyncError(
        "GWSYNC_FETCH_FAILED",
        `control plane unreachable at ${this.#base}: ${(err as Error).message}`,
        {
          cause: err,
        },
      );
    }
    if (res.status === 404) return undefined;
    if (res.status === 401 || res.status === 403) {
      throw new GwsyncError(
        "GWSYNC_FETCH_UNAUTHORIZED",
        `control plane refused the credentials (${res.status}); check [apim.event_hub] username/password`,
      );
    }
    if (res.status < 200 || res.status > 299) {
      // 503 (overloaded: a gwsync publisher over data_api_max_in_flight) and 429 say when to come back;
      // withRetry waits that long without counting a failure (src/gateway/retry.ts).
      const retryAfterMs =
        res.status === 503 || res.status === 429 ? parseRetryAfter(res.retryAfter) : undefined;
      throw new GwsyncError(
        "GWSYNC_FETCH_FAILED",
        `control plane answered ${res.status} for ${path.split("?")[0]}${retryAfterMs === undefined ? "" : ` (busy: retry after ${retryAfterMs} ms)`}`,
        retryAfterMs === undefined ? {} : { details: { retryAfterMs, status: res.status } },
      );
    }
    const text = res.body;
    if (as === "text") return text;
    try {
      return parseJsonText(text);
    } catch (err) {
      if (err instanceof JsonTooDeepError) {
        throw new GwsyncError("GWSYNC_LIMIT_EXCEEDED", `control plane reply: ${err.message}`, {
          details: { limit: err.limit },
        });
      }
      throw new GwsyncError("GWSYNC_FETCH_FAILED", "control plane reply is not JSON");
    }
  }

  /** Closes the idle keep-alive connections to the control plane. */
  close(): void {
    this.#agent.destroy();
  }
}

interface GetReply {
  status: number;
  /** The Retry-After header of a non-2xx reply. */
  retryAfter?: string;
  /** The body as UTF-8 text; empty unless 2xx (other bodies are drained, not kept). */
  body: string;
}

/**
 * One GET over node:http(s) on a keep-alive agent: the connection to the control plane stays open
 * between fetches (issue 19: Node's fetch spent ~0.3–0.5 ms more CPU per request than node:http, on
 * every gateway, on the hop between the event and the file). The timeout covers the whole exchange,
 * body included; a reply is refused once it passes maxBytes (declared or read). A request on a reused
 * connection the server closed meanwhile is sent once more on a new one (a GET: safe to repeat).
 */
function httpGet(
  url: string,
  headers: Record<string, string>,
  timeoutMs: number,
  maxBytes: number,
  agent: HttpAgent,
  retried = false,
): Promise<GetReply> {
  return new Promise<GetReply>((resolve, reject) => {
    const target = new URL(url);
    const request = target.protocol === "https:" ? httpsRequest : httpRequest;
    let done = false;
    const finish = (err: Error | undefined, reply?: GetReply) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (err) reject(err);
      else resolve(reply!);
    };
    const req = request(target, { method: "GET", headers, agent }, (res) => {
      const status = res.statusCode ?? 0;
      if (status < 200 || status > 299) {
        const retryAfter = res.headers["retry-after"];
        res.resume();
        res.on("end", () =>
          finish(undefined, { status, body: "", ...(retryAfter === undefined ? {} : { retryAfter }) }),
        );
        res.on("error", (err) => finish(err));
        return;
      }
      const declared = Number(res.headers["content-length"] ?? "0");
      if (declared > maxBytes) {
        req.destroy();
        finish(
          new GwsyncError(
            "GWSYNC_FETCH_FAILED",
            `control plane reply of ${declared} bytes exceeds ${maxBytes}`,
            { retryable: false },
          ),
        );
        return;
      }
      const chunks: Buffer[] = [];
      let n = 0;
      res.on("data", (chunk: Buffer) => {
        n += chunk.length;
        if (n > maxBytes) {
          req.destroy();
          finish(
            new GwsyncError("GWSYNC_FETCH_FAILED", `control plane reply exceeds ${maxBytes} bytes`, {
              retryable: false,
            }),
          );
          return;
        }
        chunks.push(chunk);
      });
      res.on("end", () => finish(undefined, { status, body: Buffer.concat(chunks, n).toString("utf8") }));
      res.on("error", (err) => finish(err));
      res.on("close", () => {
        if (!res.complete) finish(new Error("the control plane closed the connection mid-reply"));
      });
    });
    const timer = setTimeout(() => {
      const err = new Error(`no complete reply within ${timeoutMs} ms`);
      err.name = "TimeoutError";
      req.destroy(err);
      finish(err);
    }, timeoutMs);
    req.on("error", (err: NodeJS.ErrnoException) => {
      if (done) return;
      // The server closed an idle kept-alive connection as we reused it: once more on a fresh one.
      if (req.reusedSocket && !retried && (err.code === "ECONNRESET" || err.code === "EPIPE")) {
        done = true;
        clearTimeout(timer);
        httpGet(url, headers, timeoutMs, maxBytes, agent, true).then(resolve, reject);
        return;
      }
      finish(err);
    });
    req.end();
  });
}

function invalidReply(what: string, why: string | undefined): GwsyncError {
  return new GwsyncError(
    "GWSYNC_FETCH_FAILED",
    `control plane ${what} reply is malformed: ${why ?? "unknown"}`,
    {
      retryable: false,
    },
  );
}
