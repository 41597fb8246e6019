import { Agent as HttpAgent, request as httpRequest } from "node:http";
import { Agent as HttpsAgent, request as httpsRequest } from "node:https";
import { urlToHttpOptions } from "node:url";
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
import { isJsonRecord, JsonTooDeepError, parseJsonText } from "../security/json-limits.js";
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

/** A page that has arrived, its artifacts not yet validated (ArtifactRetriever.openArtifactPage). */
export interface OpenedArtifactPage {
  next?: string;
  total?: number;
  /** Validates every artifact of the page (XML, names, sha256, signature): throws as retrieveArtifactPage does. */
  read(): { items: RetrievedArtifact[]; head: number; rejected: RejectedArtifact[] };
}

/** What one batch request settled (ArtifactRetriever.retrieveArtifacts). */
export interface BatchReply {
  items: RetrievedArtifact[];
  rejected: RejectedArtifact[];
  /** The store's head when the control plane read the batch (its rows are at least that new). */
  head: number;
  /** The asked APIs this reply is the word on; an answered API in neither list is not published. */
  answered: Set<string>;
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
  /**
   * Optional: retrieveArtifactPage in two steps. The promise settles once the page has arrived, with its
   * `next` and `total` known, before its artifacts are validated; `read()` validates them (synchronously)
   * and answers what retrieveArtifactPage would have. The startup load asks for the next page before it
   * validates this one, so the control plane builds it meanwhile (issue 19, B7).
   */
  openArtifactPage?(label: string, after: string | undefined, limit: number): Promise<OpenedArtifactPage>;
  /**
   * Optional: several APIs of one label in one request (a gwsync control plane's batch). `answered` names
   * the APIs the reply settles: found (`items`), refused (`rejected`) or not published on the label;
   * any other asked API must be fetched on its own (retrieveArtifact).
   */
  retrieveArtifacts?(apiIds: readonly string[], label: string): Promise<BatchReply>;
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
export const runtimeArtifactsSchema = z.object({
  count: z.number().int().nonnegative(),
  list: z.array(z.string()),
  gwsync: z
    .object({
      head: z.number().int().nonnegative(),
      items: z.array(metaSchema),
      next: z.string().optional(),
      /** A batch reply (apiId repeated): the marker, and the APIs past its byte bound, to ask again. */
      batch: z.boolean().optional(),
      more: z.array(z.string()).optional(),
      /** First page only: how many the label has, so progress counts to the right end. */
      total: z.number().int().nonnegative().optional(),
    })
    .optional(),
});
type RuntimeArtifactsReply = z.output<typeof runtimeArtifactsSchema>;

const SHA256_HEX = /^[0-9a-f]{64}$/;
const isCount = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;
const isOptionalCount = (v: unknown) => v === undefined || isCount(v);

function isPlainMeta(m: unknown): boolean {
  if (!isJsonRecord(m)) return false;
  const { apiId, label, revision, sha256, seq, signature } = m;
  return (
    typeof apiId === "string" &&
    typeof label === "string" &&
    isCount(revision) &&
    typeof sha256 === "string" &&
    SHA256_HEX.test(sha256) &&
    isCount(seq) &&
    (signature === undefined || (typeof signature === "string" && signature.length <= 64 * 1024))
  );
}

/**
 * runtimeArtifactsSchema's answer for the plain case, without zod (issue 19: a gateway reads one such
 * reply per fetched artifact): undefined for anything unusual, which the schema then decides and words.
 * The members the retriever reads are the schema's; unknown members are left in place (never read).
 */
export function plainRuntimeArtifacts(body: unknown): RuntimeArtifactsReply | undefined {
  if (!isJsonRecord(body) || !isCount(body.count)) return undefined;
  const { list, gwsync } = body;
  if (!Array.isArray(list) || !list.every((x) => typeof x === "string")) return undefined;
  if (gwsync !== undefined) {
    if (!isJsonRecord(gwsync) || !isCount(gwsync.head) || !isOptionalCount(gwsync.total)) return undefined;
    if (gwsync.next !== undefined && typeof gwsync.next !== "string") return undefined;
    if (gwsync.batch !== undefined && typeof gwsync.batch !== "boolean") return undefined;
    if (gwsync.more !== undefined) return undefined; // rare: the schema checks it
    if (!Array.isArray(gwsync.items) || !gwsync.items.every(isPlainMeta)) return undefined;
  }
  return body as RuntimeArtifactsReply;
}

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
  /** #base as request options, parsed once (not a URL per fetch). */
  readonly #target: Target;
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
    this.#agent = o.serviceUrl.startsWith("https:")
      ? new HttpsAgent(agentOptions)
      : new HttpAgent(agentOptions);
    this.#fetchDelayMs = o.fetchDelayMs ?? 0;
    this.#refuse = o.refuse;
    this.dataApi = o.dataApi ?? DEFAULT_DATA_API;
    const tenant = o.tenantDomain ?? ALL_TENANTS;
    this.#base = `${o.serviceUrl.replace(/\/+$/, "")}${INTERNAL_DATA_PATH}`;
    this.#target = targetOf(this.#base);
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
        details: {
          refusal: bad.code ?? "GWSYNC_ARTIFACT_INVALID",
          ...(bad.revision === undefined ? {} : { revision: bad.revision }),
        },
      });
    }
    return items.find((i) => i.apiId === apiId);
  }

  /**
   * Several APIs of one label in one request: `apiId` repeated (gwsync's batch, src/publisher/data-api-routes.ts).
   * Each artifact is validated on its own as in retrieveArtifact (XML, names, sha256, signature): a bad
   * one is refused alone. A control plane that does not know the batch (WSO2, an older gwsync) binds
   * only the first apiId and answers it alone: then only that API is answered, the others are fetched
   * one by one by the caller. 3.2.0 control planes have no such form: nothing is answered.
   */
  async retrieveArtifacts(apiIds: readonly string[], label: string): Promise<BatchReply> {
    const none: BatchReply = { items: [], rejected: [], head: 0, answered: new Set() };
    if (this.dataApi === "3.2.0" || apiIds.length === 0) return none;
    if (apiIds.length === 1) {
      const found = await this.retrieveArtifact(apiIds[0]!, label);
      return { ...none, items: found ? [found] : [], answered: new Set(apiIds) };
    }
    const q = new URLSearchParams({ gatewayLabel: this.#label(label), type: "Synapse" });
    for (const id of apiIds) q.append("apiId", id);
    const body = await this.#get(`${RUNTIME_ARTIFACTS_PATH}?${q}`);
    for (const id of apiIds) hop("gateway.fetched", id);
    // 404: a control plane without batches, and the first API is not published there.
    if (body === undefined) return { ...none, answered: new Set([apiIds[0]!]) };
    const meta = (body as { gwsync?: { batch?: unknown; more?: unknown } }).gwsync;
    const isBatch = meta?.batch === true;
    const parsed = this.#parseArtifacts(body, label, true);
    const asked = new Set(apiIds);
    const answered = new Set<string>();
    const byApi = new Map<string, RetrievedArtifact>();
    for (const item of parsed.items) {
      // Only what was asked, once (the newest revision if a reply holds two).
      if (!asked.has(item.apiId) || (!isBatch && item.apiId !== apiIds[0])) continue;
      const seen = byApi.get(item.apiId);
      if (!seen || item.revision > seen.revision) byApi.set(item.apiId, item);
    }
    const rejected = parsed.rejected.filter((r) => r.apiId !== undefined && asked.has(r.apiId));
    // A refusal the reply does not attribute to an API: which one is not known, so only those found
    // or refused by name are answered; the rest are fetched one by one (and the bad one refused there).
    const unattributed = parsed.rejected.some((r) => r.apiId === undefined);
    if (!isBatch) {
      // The first API's answer, whatever else the reply holds.
      const first = apiIds[0]!;
      if (!unattributed || byApi.has(first)) answered.add(first);
      return {
        items: byApi.has(first) ? [byApi.get(first)!] : [],
        rejected: rejected.filter((r) => r.apiId === first),
        head: parsed.head,
        answered,
      };
    }
    for (const id of byApi.keys()) answered.add(id);
    for (const r of rejected) {
      answered.add(r.apiId!);
      byApi.delete(r.apiId!); // refused under one row: not deployed from another
    }
    if (!unattributed) {
      const more = new Set(Array.isArray(meta?.more) ? (meta.more as string[]) : []);
      for (const id of apiIds) if (!more.has(id)) answered.add(id);
    }
    return { items: [...byApi.values()], rejected, head: parsed.head, answered };
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
    const page = await this.openArtifactPage(label, after, limit);
    return {
      ...page.read(),
      ...(page.next === undefined ? {} : { next: page.next }),
      ...(page.total === undefined ? {} : { total: page.total }),
    };
  }

  async openArtifactPage(
    label: string,
    after: string | undefined,
    limit: number,
  ): Promise<OpenedArtifactPage> {
    // 3.2.0 has no paging: its one listing is the only page.
    if (this.dataApi === "3.2.0") {
      const all = await this.retrieveAllArtifacts(label);
      return { read: () => all };
    }
    const q = new URLSearchParams({
      gatewayLabel: this.#label(label),
      type: "Synapse",
      limit: String(limit),
    });
    if (after) q.set("after", after);
    const body = await this.#get(`${RUNTIME_ARTIFACTS_PATH}?${q}`);
    if (body === undefined) return { read: () => ({ items: [], head: 0, rejected: [] }) };
    // The reply's shape is checked here (a malformed one fails the fetch, as before); its artifacts in read().
    const reply = this.#checkReply(body);
    const meta = reply.gwsync;
    return {
      ...(typeof meta?.next === "string" ? { next: meta.next } : {}),
      ...(typeof meta?.total === "number" ? { total: meta.total } : {}),
      read: () => this.#readArtifacts(reply, label, false),
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

  /** `sameRow`: an artifact whose own apiId is not its row's (gwsync.items) is refused (batches). */
  #parseArtifacts(
    body: unknown,
    label: string,
    sameRow = false,
  ): { items: RetrievedArtifact[]; head: number; rejected: RejectedArtifact[] } {
    return this.#readArtifacts(this.#checkReply(body), label, sameRow);
  }

  /** Each artifact of a reply whose shape is checked, validated on its own (see #parseArtifacts). */
  #readArtifacts(
    reply: RuntimeArtifactsReply,
    label: string,
    sameRow: boolean,
  ): { items: RetrievedArtifact[]; head: number; rejected: RejectedArtifact[] } {
    const { list, gwsync } = reply;
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
      if (sameRow && meta && meta.apiId !== dto.apiId) {
        rejected.push({
          apiId: meta.apiId,
          reason: `the control plane served API ${dto.apiId} in the row of ${meta.apiId}`,
          code: "GWSYNC_ARTIFACT_INVALID",
          revision: meta.revision,
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

  /** The reply's shape (runtimeArtifactsSchema), without zod in the plain case; throws when malformed. */
  #checkReply(body: unknown): RuntimeArtifactsReply {
    const reply = plainRuntimeArtifacts(body);
    if (reply !== undefined) return reply;
    const parsed = runtimeArtifactsSchema.safeParse(body);
    if (!parsed.success) throw invalidReply("runtime-artifacts", parsed.error.issues[0]?.message);
    return parsed.data;
  }

  /** GET a JSON (or text) reply; undefined on 404. Network errors and 5xx are retryable, 401/403 are not. */
  async #get(path: string, as: "json" | "text" = "json"): Promise<unknown> {
    let res: GetReply;
    try {
      res = await httpGet(this.#target, path, this.#headers, this.#timeoutMs, this.#maxBytes, this.#agent);
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
/** The control plane's base URL as node:http request options, and the path calls are appended to. */
interface Target {
  https: boolean;
  options: ReturnType<typeof urlToHttpOptions>;
  basePath: string;
}

function targetOf(base: string): Target {
  const url = new URL(base);
  return { https: url.protocol === "https:", options: urlToHttpOptions(url), basePath: url.pathname };
}

function httpGet(
  target: Target,
  path: string,
  headers: Record<string, string>,
  timeoutMs: number,
  maxBytes: number,
  agent: HttpAgent,
  retried = false,
): Promise<GetReply> {
  return new Promise<GetReply>((resolve, reject) => {
    const request = target.https ? httpsRequest : httpRequest;
    let done = false;
    const finish = (err: Error | undefined, reply?: GetReply) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (err) reject(err);
      else resolve(reply!);
    };
    // The base parsed once (issue 19: a URL parsed per fetch, on every gateway, for every artifact).
    const options = { ...target.options, path: target.basePath + path, method: "GET", headers, agent };
    const req = request(options, (res) => {
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
      res.on("end", () => {
        // A 5 KB reply is one chunk: decoded as it came, not copied into a new Buffer first.
        const bytes = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, n);
        finish(undefined, { status, body: bytes.toString("utf8") });
      });
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
        httpGet(target, path, headers, timeoutMs, maxBytes, agent, true).then(resolve, reject);
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
