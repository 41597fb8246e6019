import { randomInt } from "node:crypto";
import { z } from "zod";
import { REGION_NAME } from "../events/relay-headers.js";
import { GwsyncError } from "../errors.js";
import { zodReason } from "../zod-reason.js";
import type { AgreementRecord, AgreementRole } from "../store/types.js";
import type { TransformRules } from "./rules.js";

/**
 * Replication agreements as Oracle Access Manager's multi-data-center replication has them
 * (docs/replication.md): a clone (consumer) pulls the changelog of its master (supplier). Both sides
 * keep a record of the agreement under one identifier; the clone's record says where the master is and
 * how far it got, the master's says which clone pulls and the sequence it last asked from.
 */

/**
 * BOOTSTRAPPING: the clone is loading the master's current state. READY: the clone follows the master's
 * changelog (clone side). ACTIVE: the master serves the clone (master side). DISABLED: `enabled` is
 * false. FAILED: the last pull failed after its retries (`reason` says why); the next poll tries again.
 */
export const AGREEMENT_STATES = ["BOOTSTRAPPING", "READY", "ACTIVE", "DISABLED", "FAILED"] as const;
export type AgreementState = (typeof AGREEMENT_STATES)[number];

export const DEFAULT_POLL_INTERVAL_SEC = 60;
export const MIN_POLL_INTERVAL_SEC = 0.05;
export const MAX_POLL_INTERVAL_SEC = 86_400;
const MAX_LABELS = 100;
const MAX_KEY_LENGTH = 255;
export const AGREEMENT_ID = /^[0-9A-Za-z][0-9A-Za-z._-]{0,63}$/;

/** What the clone keeps about its master. */
export interface MasterLink {
  /** The master publisher's base URL (its REST API and data API). */
  url: string;
  username: string;
  /** Never returned by the REST API nor logged. */
  password: string;
  /** The master's [gwsync] region, learned when the agreement was created (the origin of its changes). */
  region: string;
}

interface AgreementBase {
  id: string;
  /** Gateway labels in scope: only changes of these labels are replicated. */
  labels: string[];
  pollIntervalSec: number;
  enabled: boolean;
  state: AgreementState;
  /** Why the agreement is FAILED (absent otherwise). */
  reason?: string;
  /** The master's changelog sequence the clone's bootstrap snapshot stands for; it follows from there. */
  startingSequenceNumber: number;
  /** The highest master sequence the clone has applied (clone), or last asked from (master). */
  lastSequenceNumber: number;
  createdAt: number;
  updatedAt: number;
}

export interface ConsumerAgreement extends AgreementBase {
  type: "consumer";
  master: MasterLink;
  /** This (clone) region's name. */
  cloneRegion: string;
  /** The clone's transformation rules (src/replication/rules.ts), as given (checked). */
  rules?: TransformRules;
  /** The master's changelog head at the last pull. */
  masterHead: number;
  /** When the oldest change the clone has not applied was made (ms), when the last pull saw one. */
  pendingSince?: number;
  lastPullAt?: number;
  /** Last successful pull (ms). */
  lastSuccessAt?: number;
  /** The bootstrap snapshot is loaded: the clone follows the changelog (a restarted bootstrap starts over from S). */
  bootstrapComplete?: boolean;
  /** Bootstrap progress: APIs loaded so far. */
  bootstrapped: number;
  /** Changes applied, skipped as superseded or already held, and refused, since the agreement began. */
  applied: number;
  skipped: number;
  refused: number;
  /** The last change the clone refused (it goes on with the next one). */
  lastRefusal?: { apiId: string; label: string; seq: number; reason: string; at: number };
  /**
   * The publisher node that pulls this agreement (holds its leader lock), written by that node when it
   * takes over; several nodes sharing a store have one puller (docs/replication.md, "Several publisher nodes").
   */
  puller?: PullerIdentity;
}

/** Which node pulls a clone agreement, since when (ms), and its REST URL when it serves one. */
export interface PullerIdentity {
  nodeId: string;
  since: number;
  url?: string;
}

/** The fields a REST update (on any node) changes; the rest is the puller's progress. */
export const CONSUMER_SETTINGS = ["enabled", "pollIntervalSec", "rules", "master", "labels"] as const;

export interface SupplierAgreement extends AgreementBase {
  type: "supplier";
  /** The clone's region name. */
  cloneRegion: string;
  lastPullAt?: number;
}

export type Agreement = ConsumerAgreement | SupplierAgreement;

/** OAM's replicaType for a role. */
export function replicaType(role: AgreementRole): "CONSUMER" | "SUPPLIER" {
  return role === "consumer" ? "CONSUMER" : "SUPPLIER";
}

/** OAM-style identifier: the creation time to the millisecond, then random digits (201409231329353668...). */
export function newAgreementId(now = new Date()): string {
  const p = (n: number, w = 2) => String(n).padStart(w, "0");
  const stamp =
    `${now.getUTCFullYear()}${p(now.getUTCMonth() + 1)}${p(now.getUTCDate())}` +
    `${p(now.getUTCHours())}${p(now.getUTCMinutes())}${p(now.getUTCSeconds())}${p(now.getUTCMilliseconds(), 3)}`;
  return `${stamp}${p(randomInt(0, 10_000), 4)}`;
}

export function toRecord(a: Agreement): AgreementRecord {
  return { id: a.id, role: a.type, document: JSON.stringify(a), updatedAt: a.updatedAt };
}

export function fromRecord(r: AgreementRecord): Agreement {
  const a = JSON.parse(r.document) as Agreement;
  return { ...a, id: r.id, type: r.role } as Agreement;
}

// ---- REST bodies -------------------------------------------------------------------------------------

/** OAM's REST API sends booleans and numbers as strings ("true", "60"): accept both. */
const boolish = z.union([z.boolean(), z.enum(["true", "false"]).transform((s) => s === "true")]);
const pollInterval = z
  .union([
    z.number(),
    z
      .string()
      .regex(/^[0-9]+(\.[0-9]+)?$/)
      .transform(Number),
  ])
  .pipe(z.number().min(MIN_POLL_INTERVAL_SEC).max(MAX_POLL_INTERVAL_SEC));
const label = z
  .string()
  .min(1)
  .max(MAX_KEY_LENGTH)
  .refine((s) => s.trim() === s, "no surrounding spaces");
const labels = z
  .array(label)
  .min(1)
  .max(MAX_LABELS)
  .transform((l) => [...new Set(l)]);
const masterUrl = z
  .string()
  .max(2048)
  .transform((s, ctx) => {
    let u: URL;
    try {
      u = new URL(s);
    } catch {
      ctx.addIssue({ code: "custom", message: "must be an http(s) URL" });
      return z.NEVER;
    }
    if (u.protocol !== "http:" && u.protocol !== "https:") {
      ctx.addIssue({ code: "custom", message: "must be an http(s) URL" });
      return z.NEVER;
    }
    if (u.username || u.password) {
      ctx.addIssue({ code: "custom", message: "must not hold credentials (give username and password)" });
      return z.NEVER;
    }
    if (u.search || u.hash) {
      ctx.addIssue({ code: "custom", message: "must not have a query or fragment" });
      return z.NEVER;
    }
    return `${u.origin}${u.pathname.replace(/\/+$/, "")}`;
  });
const username = z.string().min(1).max(MAX_KEY_LENGTH);
const password = z.string().min(1).max(1024);
const replicaTypeField = z
  .string()
  .transform((s) => s.toLowerCase())
  .pipe(z.enum(["consumer", "supplier"]))
  .optional();

/** POST /api/v1/replication/agreements on the clone: create an agreement with a master. */
export const createConsumerBody = z.strictObject({
  master: z.strictObject({ url: masterUrl, username, password }),
  labels,
  pollInterval: pollInterval.default(DEFAULT_POLL_INTERVAL_SEC),
  enabled: boolish.default(true),
  /** Transformation rules, checked by src/replication/rules.ts (a bad rule is a 400 naming it). */
  rules: z.unknown().optional(),
  replicaType: replicaTypeField,
});
export type CreateConsumerBody = z.infer<typeof createConsumerBody>;

/** POST ...?type=supplier on the master, sent by the clone that creates the agreement. */
export const createSupplierBody = z.strictObject({
  identifier: z.string().regex(AGREEMENT_ID),
  cloneRegion: z.string().regex(REGION_NAME).max(MAX_KEY_LENGTH),
  labels,
  pollInterval: pollInterval.default(DEFAULT_POLL_INTERVAL_SEC),
  enabled: boolish.default(true),
  replicaType: replicaTypeField,
});
export type CreateSupplierBody = z.infer<typeof createSupplierBody>;

/** PUT /api/v1/replication/agreements/{id}: what may change. */
export const updateBody = z.strictObject({
  enabled: boolish.optional(),
  pollInterval: pollInterval.optional(),
  labels: labels.optional(),
  master: z
    .strictObject({ url: masterUrl.optional(), username: username.optional(), password: password.optional() })
    .optional(),
  /** New transformation rules (replace the old ones whole; `{}` clears them). */
  rules: z.unknown().optional(),
  replicaType: replicaTypeField,
});
export type UpdateBody = z.infer<typeof updateBody>;

/** Parse a REST body against a schema: a 400 naming the field, never a partial write. */
export function parseAgreementBody<T extends z.ZodType>(schema: T, body: unknown, what: string): z.infer<T> {
  const r = schema.safeParse(body);
  if (!r.success) {
    throw new GwsyncError("GWSYNC_HTTP_BAD_REQUEST", `${what}: ${zodReason(r.error, "")}`);
  }
  return r.data;
}

// ---- views -------------------------------------------------------------------------------------------

/** What the REST API and the CLI show of an agreement: OAM's field names, the password never. */
export function agreementView(a: Agreement, now = Date.now()) {
  const common = {
    identifier: a.id,
    replicaType: replicaType(a.type),
    enabled: a.enabled,
    state: a.state,
    ...(a.reason === undefined ? {} : { reason: a.reason }),
    pollInterval: a.pollIntervalSec,
    labels: a.labels,
    startingSequenceNumber: a.startingSequenceNumber,
    lastSequenceNumber: a.lastSequenceNumber,
    createdAt: new Date(a.createdAt).toISOString(),
    updatedAt: new Date(a.updatedAt).toISOString(),
    ...(a.lastPullAt === undefined ? {} : { lastPullAt: new Date(a.lastPullAt).toISOString() }),
  };
  if (a.type === "supplier") {
    return { ...common, clone: { region: a.cloneRegion } };
  }
  const lagSequence = Math.max(0, a.masterHead - a.lastSequenceNumber);
  return {
    ...common,
    master: { url: a.master.url, region: a.master.region, username: a.master.username },
    clone: { region: a.cloneRegion },
    rules: a.rules ?? {},
    masterHead: a.masterHead,
    lag: {
      sequence: lagSequence,
      seconds:
        lagSequence > 0 && a.pendingSince !== undefined ? Math.max(0, (now - a.pendingSince) / 1000) : 0,
    },
    bootstrapped: a.bootstrapped,
    applied: a.applied,
    skipped: a.skipped,
    refused: a.refused,
    ...(a.lastRefusal === undefined
      ? {}
      : { lastRefusal: { ...a.lastRefusal, at: new Date(a.lastRefusal.at).toISOString() } }),
    ...(a.lastSuccessAt === undefined ? {} : { lastSuccessAt: new Date(a.lastSuccessAt).toISOString() }),
    // Which node pulls it (several publisher nodes on one store): none while it is disabled.
    ...(a.puller === undefined || !a.enabled ? {} : { puller: pullerView(a.puller) }),
  };
}

/** The puller as the REST API, the CLI and `gwsync status` show it. */
export function pullerView(p: PullerIdentity): { nodeId: string; since: string; url?: string } {
  return { nodeId: p.nodeId, since: new Date(p.since).toISOString(), ...(p.url === undefined ? {} : { url: p.url }) };
}
export type AgreementView = ReturnType<typeof agreementView>;
