import { EventEmitter } from "node:events";
import pRetry from "p-retry";
import { GwsyncError, isGwsyncError } from "../errors.js";
import type { Logger } from "../log.js";
import type { Publisher } from "../publisher/publisher.js";
import type { LeaderLock } from "../store/leader-lock.js";
import type { AgreementRecord, AgreementRole, NewOutboxMessage, SaveArtifactResult } from "../store/types.js";
import { buildGatewayEvent } from "../publisher/events-out.js";
import {
  type Agreement,
  CONSUMER_SETTINGS,
  type ConsumerAgreement,
  type CreateConsumerBody,
  type CreateSupplierBody,
  fromRecord,
  newAgreementId,
  type PullerIdentity,
  pullerView,
  type SupplierAgreement,
  toRecord,
  type UpdateBody,
} from "./agreement.js";
import { applyMasterChange } from "./apply.js";
import { type FeedReply, MasterClient } from "./master-client.js";
import { parseGatewayApiDto } from "../artifacts/gateway-api-dto.js";
import { checkRules, type CompiledRules, compileRules } from "./rules.js";
import { type Bundle, verifyBundle } from "./bundle.js";

/** Changes per feed page the clone asks for, and APIs per bootstrap page. */
export const DEFAULT_FEED_PAGE = 500;
export const MAX_FEED_PAGE = 5000;
export const DEFAULT_SNAPSHOT_PAGE = 200;
/** Retries of one master call before the agreement is FAILED until its next poll. */
export const DEFAULT_PULL_RETRIES = 4;
export const DEFAULT_RETRY_MIN_MS = 500;
/** The retry wait never grows beyond this (p-retry's maxTimeout). */
export const DEFAULT_RETRY_MAX_MS = 30_000;
/**
 * How often a node that does not pull an agreement tries to take its leader lock (also at each poll of
 * the agreement, whichever comes first), and how often every node reads the agreements other nodes
 * created, changed or deleted in the shared store.
 */
export const DEFAULT_LEADER_RETRY_MS = 2_000;

export interface ReplicationOptions {
  publisher: Publisher;
  logger?: Logger;
  feedPage?: number;
  snapshotPage?: number;
  retries?: number;
  retryMinMs?: number;
  retryMaxMs?: number;
  /** Timeout of one call to the master. */
  masterTimeoutMs?: number;
  /** See DEFAULT_LEADER_RETRY_MS. */
  leaderRetryMs?: number;
  /** This node's REST URL (recorded as the puller's, so other nodes can name it). */
  nodeUrl?: () => string | undefined;
}

/** What one pull did (the manual trigger's reply). */
export interface PullSummary {
  applied: number;
  skipped: number;
  refused: number;
  bootstrapped: number;
  lastSequenceNumber: number;
  state: string;
  reason?: string;
}

/**
 * A publisher's replication agreements, both sides (docs/replication.md). As a master it records each
 * clone's agreement and serves the clone its changelog by sequence (`feed`), noting the sequence the
 * clone asked from. As a clone it bootstraps from the master's data API and then polls the master's
 * changelog every poll interval, storing each change through this publisher (so its own gateways hear
 * of it through its own hub). Labels a clone replicates belong to the master: local publishes to them
 * are refused.
 */
/** What `replication.events` emits, by event name. */
export interface ReplicationEvents {
  /** A clone's pull ended (caught up, or FAILED with its reason). */
  pulled: [id: string, summary: PullSummary];
  /** A clone's agreement was saved with new progress (bootstrap pages, feed pages). */
  progress: [id: string];
  /** One change of the master handled by a clone's pull (bootstrap or feed), once its outcome is committed. */
  change: [id: string, change: ChangeOutcome];
  /**
   * This node took a clone agreement's leader lock and recorded itself as its puller (`leading` true,
   * `from` the sequence it reloaded from the store), or lost the lock and stopped pulling (false).
   */
  leader: [id: string, change: { leading: boolean; nodeId: string; from?: number; reason?: string }];
}

/** What a clone's pull did with one change of its master. */
export interface ChangeOutcome {
  /** The master's sequence of the change (a bootstrap item: the sequence of the row it loaded). */
  seq: number;
  apiId: string;
  label: string;
  instruction: "Publish" | "Remove";
  phase: "bootstrap" | "feed";
  outcome: "applied" | "skipped" | "refused";
}

export class ReplicationService {
  readonly publisher: Publisher;
  readonly events: EventEmitter<ReplicationEvents> = new EventEmitter<ReplicationEvents>();
  readonly #o: ReplicationOptions;
  readonly #log: Logger;
  readonly #agreements = new Map<string, Agreement>();
  readonly #pullers = new Map<string, Puller>();
  /** Each clone agreement's leader lock (one puller across the nodes sharing the store). */
  readonly #locks = new Map<string, LeaderLock>();
  /** The document each agreement's row held when this node last read or wrote it (compare-and-set). */
  readonly #stored = new Map<string, string>();
  /** Writes of one agreement's record, in order. */
  readonly #writes = new Map<string, Promise<unknown>>();
  #syncTimer: NodeJS.Timeout | undefined;
  #syncing: Promise<void> | undefined;
  #started = false;
  #closed = false;

  constructor(options: ReplicationOptions) {
    this.publisher = options.publisher;
    this.#o = options;
    this.#log = (options.logger ?? options.publisher.log).child({ component: "replication" });
  }

  get region(): string {
    return this.publisher.config.gwsync.region;
  }

  /** This node's id: what a clone agreement's record names as its puller. */
  get nodeId(): string {
    return this.publisher.config.gwsync.nodeId;
  }

  /** Read the agreements the store holds (before the REST API serves them). */
  async load(): Promise<void> {
    for (const r of await this.publisher.store.listAgreements()) {
      const a = fromRecord(r);
      this.#agreements.set(key(a.id, a.type), a);
      this.#stored.set(key(a.id, a.type), r.document);
    }
    this.#syncReadOnlyLabels();
  }

  /**
   * Start a pull loop for every enabled clone agreement (each pulls only while this node holds the
   * agreement's leader lock), and follow what other nodes sharing the store change.
   */
  start(): void {
    this.#started = true;
    for (const a of this.#agreements.values()) if (a.type === "consumer" && a.enabled) this.#ensurePuller(a);
    const every = this.#o.leaderRetryMs ?? DEFAULT_LEADER_RETRY_MS;
    this.#syncTimer = setInterval(() => void this.sync().catch(() => undefined), every);
    this.#syncTimer.unref();
  }

  /** Whether a pull loop runs for the clone agreement on this node (none while it is disabled). */
  isPulling(id: string): boolean {
    return this.#pullers.has(id);
  }

  /** Whether this node is the clone agreement's puller (holds its leader lock and took over). */
  isLeading(id: string): boolean {
    return this.#pullers.get(id)?.leading === true;
  }

  /**
   * The agreement as the store holds it now, when this node does not pull it (another node's puller
   * writes its progress): what a non-leader shows is the leader's record, never its own stale copy.
   */
  async fresh(a: Agreement): Promise<Agreement> {
    if (a.type === "consumer" && this.isLeading(a.id)) return a;
    const r = await this.#readRecord(a.id, a.type);
    if (r !== undefined && this.#agreements.get(key(a.id, a.type)) === a) {
      replaceFields(a, fromRecord(r));
      this.#stored.set(key(a.id, a.type), r.document);
    }
    return a;
  }

  /**
   * Follow the shared store: agreements another node created, changed or deleted. A clone agreement
   * this node pulls is left to its puller (its compare-and-set writes take other nodes' settings in).
   */
  async sync(): Promise<void> {
    if (this.#closed) return;
    this.#syncing ??= this.#sync().finally(() => {
      this.#syncing = undefined;
    });
    await this.#syncing;
  }

  async #sync(): Promise<void> {
    const records = await this.publisher.store.listAgreements();
    const seen = new Set<string>();
    for (const r of records) {
      const k = key(r.id, r.role);
      seen.add(k);
      if (this.#writes.has(k)) continue;
      const mine = this.#agreements.get(k);
      if (mine === undefined) {
        this.#agreements.set(k, fromRecord(r));
        this.#stored.set(k, r.document);
      } else if (this.#stored.get(k) !== r.document && !(r.role === "consumer" && this.isLeading(r.id))) {
        replaceFields(mine, fromRecord(r));
        this.#stored.set(k, r.document);
      }
    }
    for (const [k, a] of [...this.#agreements]) {
      if (seen.has(k) || !this.#stored.has(k) || this.#writes.has(k)) continue;
      // Deleted by another node.
      this.#agreements.delete(k);
      this.#stored.delete(k);
      if (a.type === "consumer") await this.#stopPuller(a.id, true);
      this.#log.info({ agreement: a.id, role: a.type }, "replication agreement deleted by another node");
    }
    for (const a of this.list("consumer") as ConsumerAgreement[]) {
      if (a.enabled && this.#started && !this.#closed) this.#ensurePuller(a);
      else if (!a.enabled && this.#pullers.has(a.id)) await this.#stopPuller(a.id, true);
    }
    this.#syncReadOnlyLabels();
  }

  list(role?: AgreementRole): Agreement[] {
    return [...this.#agreements.values()].filter((a) => role === undefined || a.type === role);
  }

  get(id: string, role: AgreementRole): Agreement | undefined {
    return this.#agreements.get(key(id, role));
  }

  /** The agreement named by id, of `role` when given; else the master's record first (as OAM's GET). */
  resolve(id: string, role: AgreementRole | undefined, ambiguous: "supplier" | "refuse"): Agreement {
    if (role !== undefined) {
      const a = this.get(id, role);
      if (!a) throw new GwsyncError("GWSYNC_NOT_FOUND", `no ${role} replication agreement ${id} here`);
      return a;
    }
    const s = this.get(id, "supplier");
    const c = this.get(id, "consumer");
    if (s && c && ambiguous === "refuse") {
      throw new GwsyncError(
        "GWSYNC_HTTP_BAD_REQUEST",
        `this publisher is both master and clone of agreement ${id}: say which with ?type=consumer or ?type=supplier`,
      );
    }
    const a = s ?? c;
    if (!a) throw new GwsyncError("GWSYNC_NOT_FOUND", `no replication agreement ${id} here`);
    return a;
  }

  // ---- clone side -------------------------------------------------------------------------------------

  /**
   * Create an agreement with a master: the master records its side first (and names its region and
   * changelog head S); then this clone records its side, bootstraps the master's state and follows the
   * changelog from S. Nothing is stored on either side when the master refuses.
   */
  async createConsumer(body: CreateConsumerBody): Promise<ConsumerAgreement> {
    for (const a of this.list("consumer") as ConsumerAgreement[]) {
      const shared = a.labels.filter((l) => body.labels.includes(l));
      if (shared.length > 0) {
        throw new GwsyncError(
          "GWSYNC_REPLICATION_REFUSED",
          `label ${shared.map((l) => `"${l}"`).join(", ")} is already replicated by agreement ${a.id} from ${a.master.url}: a label has one master`,
        );
      }
    }
    // Rules are checked before the master hears of the agreement: a bad one stores nothing anywhere.
    const rules = body.rules === undefined ? undefined : checkRules(body.rules, this.region);
    const id = newAgreementId();
    const client = this.#client(body.master);
    const reg = await client.register({
      identifier: id,
      cloneRegion: this.region,
      labels: body.labels,
      pollInterval: body.pollInterval,
      enabled: body.enabled,
    });
    const now = Date.now();
    const a: ConsumerAgreement = {
      id,
      type: "consumer",
      master: { ...body.master, region: reg.masterRegion },
      cloneRegion: this.region,
      ...(rules === undefined ? {} : { rules }),
      labels: body.labels,
      pollIntervalSec: body.pollInterval,
      enabled: body.enabled,
      state: body.enabled ? "BOOTSTRAPPING" : "DISABLED",
      startingSequenceNumber: reg.head,
      lastSequenceNumber: reg.head,
      masterHead: reg.head,
      bootstrapped: 0,
      applied: 0,
      skipped: 0,
      refused: 0,
      createdAt: now,
      updatedAt: now,
    };
    await this.#save(a);
    this.#syncReadOnlyLabels();
    this.#log.info(
      {
        agreement: id,
        master: body.master.url,
        masterRegion: reg.masterRegion,
        labels: a.labels,
        from: reg.head,
      },
      "replication agreement created (clone)",
    );
    if (this.#started && a.enabled) this.#ensurePuller(a);
    return a;
  }

  /** Pull now (OAM's manual trigger) and report what the pull did. */
  async pull(id: string): Promise<PullSummary> {
    const a = this.resolve(id, "consumer", "refuse") as ConsumerAgreement;
    if (!a.enabled) {
      throw new GwsyncError(
        "GWSYNC_REPLICATION_REFUSED",
        `agreement ${id} is disabled: enable it (PUT {"enabled":true}) before pulling`,
      );
    }
    const puller = this.#ensurePuller(a);
    return await puller.pullNow(true);
  }

  /** The 409 a node that does not pull an agreement answers a manual trigger (or import) with. */
  async notLeader(id: string, what: string): Promise<GwsyncError> {
    const a = this.consumer(id);
    if (a !== undefined) await this.fresh(a);
    const p = a?.puller;
    const who =
      p === undefined
        ? "no node has taken it yet (its leader lock is held by a node that has not recorded itself)"
        : `node "${p.nodeId}" pulls it since ${new Date(p.since).toISOString()}${p.url === undefined ? "" : ` (${p.url})`}`;
    return new GwsyncError(
      "GWSYNC_REPLICATION_REFUSED",
      `this node ("${this.nodeId}") does not pull agreement ${id}: ${who}; ${what} on that node`,
      { details: { agreement: id, node: this.nodeId, ...(p === undefined ? {} : { leader: pullerView(p) }) } },
    );
  }

  /**
   * Import a bundle exported by a master (no link between the data centers): verified first, each entry
   * stored like a pulled change (origin = the bundle's master region and sequence, so importing twice
   * changes nothing), through the agreement's transformation rules when one is named. With an
   * agreement, the clone then pulls on from the bundle's sequence: a full bundle also removes what the
   * clone holds on the agreement's labels and the master no longer has; an incremental one moves the
   * agreement on only when it starts at or before the sequence the clone had reached.
   */
  async importBundle(input: unknown, o: { agreement?: string } = {}): Promise<ImportReport> {
    const bundle: Bundle = verifyBundle(input, this.publisher.config.gwsync.signing.trustedKeys);
    const m = bundle.manifest;
    if (m.masterRegion === this.region) {
      throw new GwsyncError(
        "GWSYNC_REPLICATION_REFUSED",
        `the bundle comes from region "${m.masterRegion}", this publisher's own region: import it into a clone`,
      );
    }
    const a =
      o.agreement === undefined
        ? undefined
        : (this.resolve(o.agreement, "consumer", "refuse") as ConsumerAgreement);
    if (a !== undefined && a.master.region !== m.masterRegion) {
      throw new GwsyncError(
        "GWSYNC_REPLICATION_REFUSED",
        `the bundle comes from region "${m.masterRegion}", agreement ${a.id}'s master is "${a.master.region}"`,
      );
    }
    // Only the agreement's puller moves its sequence: on another node, say which node to import on.
    if (a?.enabled) {
      // Not started (the CLI's local import, publisher down): the lock alone says no other node pulls it.
      const leads = this.#started ? await this.#ensurePuller(a).lead() : await this.lockOf(a.id).acquire();
      if (!leads) throw await this.notLeader(a.id, "import the bundle");
    }
    // A pull running now would interleave with the import: stop it (keeping the lock), start it again after.
    const puller = a === undefined ? undefined : this.#pullers.get(a.id);
    if (puller !== undefined) {
      await puller.stop();
      this.#pullers.delete(a!.id);
    }
    const rules = compileRules(a?.rules, this.region);
    const report: ImportReport = {
      masterRegion: m.masterRegion,
      sequence: m.sequence,
      full: m.full,
      entries: m.entries.length,
      applied: 0,
      unchanged: 0,
      skipped: 0,
      removedNotOnMaster: 0,
      refused: [],
    };
    try {
      const inScope = (label: string) => a === undefined || a.labels.includes(label);
      for (const e of m.entries) {
        if (!inScope(e.label)) {
          report.skipped++;
          continue;
        }
        const r = await applyEntry(this.publisher, rules, m.masterRegion, {
          ...e,
          ...(e.instruction === "Publish" ? { artifact: bundle.artifacts[e.sha256]! } : {}),
        });
        if (r.kind === "refused")
          report.refused.push({ apiId: e.apiId, label: e.label, seq: e.seq, reason: r.reason });
        else report[r.kind]++;
      }
      if (a !== undefined) {
        let advance = false;
        if (m.full && a.labels.every((l) => m.labels.includes(l))) {
          // The master's whole state at `sequence`: what the clone holds beyond it is gone on the master.
          const listed = new Set(m.entries.map((e) => `${e.label}\u0000${e.apiId}`));
          for (const label of a.labels) {
            for (const held of await this.publisher.store.listArtifacts({ label })) {
              if (listed.has(`${label}\u0000${held.apiId}`)) continue;
              await this.publisher.store.saveArtifact(
                {
                  dto: JSON.parse(held.artifactJson),
                  labels: [label],
                  instruction: "Remove",
                  artifactJson: held.artifactJson,
                },
                (res) => [removeEvent(this.publisher, held.artifactJson, res)],
              );
              this.publisher.wakeOutbox();
              report.removedNotOnMaster++;
            }
          }
          advance = true;
          a.bootstrapComplete = true;
        } else if (!m.full && m.since <= a.lastSequenceNumber && a.bootstrapComplete === true) {
          advance = true;
        }
        if (advance && m.sequence > a.lastSequenceNumber) {
          a.lastSequenceNumber = m.sequence;
          a.masterHead = Math.max(a.masterHead, m.sequence);
        }
        report.agreement = {
          identifier: a.id,
          lastSequenceNumber: a.lastSequenceNumber,
          advanced: advance,
          ...(advance
            ? {}
            : {
                why: m.full
                  ? "the bundle does not hold every label of the agreement"
                  : `the bundle starts after sequence ${m.since}, the agreement is at ${a.lastSequenceNumber}${a.bootstrapComplete === true ? "" : " and has not bootstrapped"}: export --since ${a.lastSequenceNumber}, or a full bundle`,
              }),
        };
        if (a.enabled && a.bootstrapComplete === true && a.state !== "FAILED") a.state = "READY";
        await this.saveConsumer(a, "progress");
      }
    } finally {
      if (a?.enabled && this.#started && this.consumer(a.id) === a) this.#ensurePuller(a);
    }
    this.#log.info(
      {
        masterRegion: m.masterRegion,
        sequence: m.sequence,
        applied: report.applied,
        refused: report.refused.length,
      },
      "replication bundle imported",
    );
    return report;
  }

  // ---- master side ------------------------------------------------------------------------------------

  async createSupplier(body: CreateSupplierBody): Promise<SupplierAgreement> {
    if (body.cloneRegion === this.region) {
      throw new GwsyncError(
        "GWSYNC_REPLICATION_REFUSED",
        `the clone's region "${body.cloneRegion}" is this master's own region: give each data center its own [gwsync] region`,
      );
    }
    if (this.get(body.identifier, "supplier")) {
      throw new GwsyncError(
        "GWSYNC_REPLICATION_REFUSED",
        `replication agreement ${body.identifier} already exists on this master`,
      );
    }
    const head = await this.publisher.store.headSeq();
    const now = Date.now();
    const a: SupplierAgreement = {
      id: body.identifier,
      type: "supplier",
      cloneRegion: body.cloneRegion,
      labels: body.labels,
      pollIntervalSec: body.pollInterval,
      enabled: body.enabled,
      state: body.enabled ? "ACTIVE" : "DISABLED",
      startingSequenceNumber: head,
      lastSequenceNumber: head,
      createdAt: now,
      updatedAt: now,
    };
    await this.#save(a);
    this.#log.info(
      { agreement: a.id, cloneRegion: a.cloneRegion, labels: a.labels, from: head },
      "replication agreement created (master)",
    );
    return a;
  }

  /**
   * One page of this master's changelog for a clone: changes after `since` on the agreement's labels,
   * each marked current (still the API's state on that label: a Publish carries its artifact) or
   * superseded by a later change the clone will see further on. Records `since` as the sequence the
   * clone has reached.
   */
  async feed(id: string, since: number, limit: number): Promise<FeedReply> {
    const a = this.resolve(id, "supplier", "refuse") as SupplierAgreement;
    if (!a.enabled) {
      throw new GwsyncError(
        "GWSYNC_REPLICATION_REFUSED",
        `replication agreement ${id} is disabled on this master`,
      );
    }
    const store = this.publisher.store;
    const head = await store.headSeq();
    const rows = await store.changesSince(since, a.labels, limit);
    const list: FeedReply["list"] = [];
    for (const c of rows) {
      const now = await store.getArtifact(c.apiId, c.label);
      const current = now !== undefined && now.seq === c.seq;
      list.push({
        seq: c.seq,
        apiId: c.apiId,
        label: c.label,
        instruction: c.instruction,
        revision: c.revision,
        sha256: c.sha256,
        current,
        ...(current && c.instruction === "Publish" && now ? { artifact: now.artifactJson } : {}),
        createdAt: c.createdAt,
      });
    }
    const more = rows.length === limit;
    const last = rows.at(-1)?.seq ?? since;
    // Every change up to the head read before the page is visible (the store is gap-safe): a page that
    // is not full brings the clone to the head even when the changes after its last one are out of scope.
    const next = more ? last : Math.max(since, last, head);
    if (since !== a.lastSequenceNumber || a.lastPullAt === undefined || Date.now() - a.lastPullAt > 1000) {
      a.lastSequenceNumber = Math.max(since, 0);
      a.lastPullAt = Date.now();
      await this.#save(a);
    }
    return { masterRegion: this.region, head: Math.max(head, last), next, more, list };
  }

  /** The master's view of a clone's lag: changes in scope after the clone's last pull, and their age. */
  async supplierLag(a: SupplierAgreement): Promise<{ sequence: number; seconds: number }> {
    const first = (await this.publisher.store.changesSince(a.lastSequenceNumber, a.labels, 1))[0];
    if (first === undefined) return { sequence: 0, seconds: 0 };
    const head = await this.publisher.store.headSeq();
    return {
      sequence: Math.max(1, head - a.lastSequenceNumber),
      seconds: Math.max(0, (Date.now() - first.createdAt) / 1000),
    };
  }

  // ---- both sides -------------------------------------------------------------------------------------

  /** Change what may change (enabled, poll interval, the master's address or credentials). */
  async update(a: Agreement, body: UpdateBody): Promise<Agreement> {
    if ((body.master !== undefined || body.rules !== undefined) && a.type === "supplier") {
      throw new GwsyncError(
        "GWSYNC_HTTP_BAD_REQUEST",
        "master settings and transformation rules belong to the clone's side of the agreement",
      );
    }
    // Checked before anything changes: a bad rule leaves the agreement as it was.
    const rules =
      a.type === "consumer" && body.rules !== undefined ? checkRules(body.rules, a.cloneRegion) : undefined;
    const wasEnabled = a.enabled;
    if (a.type === "consumer" && body.enabled !== undefined && body.enabled !== wasEnabled) {
      // The master's side follows (best effort: a master that cannot be told is reported, not fatal).
      await this.#client(a.master)
        .setEnabled(a.id, body.enabled)
        .catch((err: unknown) =>
          this.#log.warn(
            { agreement: a.id, err: (err as Error).message },
            "could not tell the master the agreement's new state",
          ),
        );
    }
    if (body.pollInterval !== undefined) a.pollIntervalSec = body.pollInterval;
    if (a.type === "consumer" && rules !== undefined) a.rules = rules;
    if (a.type === "consumer" && body.master !== undefined) {
      a.master = {
        ...a.master,
        ...(body.master.url === undefined ? {} : { url: body.master.url }),
        ...(body.master.username === undefined ? {} : { username: body.master.username }),
        ...(body.master.password === undefined ? {} : { password: body.master.password }),
      };
    }
    if (body.enabled !== undefined) {
      a.enabled = body.enabled;
      if (!a.enabled) {
        a.state = "DISABLED";
        delete a.reason;
      } else if (!wasEnabled) {
        a.state = a.type === "supplier" ? "ACTIVE" : a.bootstrapComplete === true ? "READY" : "BOOTSTRAPPING";
      }
    }
    a.updatedAt = Date.now();
    await this.#save(a);
    if (a.type === "consumer") {
      if (!a.enabled) {
        await this.#stopPuller(a.id, true);
      } else if (this.#started) {
        // New settings (credentials, interval) take effect at once.
        this.#ensurePuller(a).kick();
      }
    }
    return a;
  }

  /**
   * Delete an agreement. On the clone the master's record goes too (the reply says when the master
   * could not be told); the replicated APIs stay in the clone's store, now the clone's own.
   */
  async remove(a: Agreement): Promise<{ master?: string }> {
    let master: string | undefined;
    if (a.type === "consumer") {
      await this.#stopPuller(a.id, true);
      try {
        master = (await this.#client(a.master).remove(a.id)) ? "deleted" : "not-found";
      } catch (err) {
        master = `not told: ${(err as Error).message}`;
        this.#log.warn(
          { agreement: a.id, err: (err as Error).message },
          "could not delete the master's side",
        );
      }
    }
    this.#agreements.delete(key(a.id, a.type));
    await this.#chain(key(a.id, a.type), () => this.publisher.store.deleteAgreement(a.id, a.type));
    this.#stored.delete(key(a.id, a.type));
    this.#syncReadOnlyLabels();
    this.#log.info({ agreement: a.id, role: a.type }, "replication agreement deleted");
    return master === undefined ? {} : { master };
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#syncTimer);
    await this.#syncing?.catch(() => undefined);
    await Promise.all([...this.#pullers.values()].map((p) => p.stop()));
    this.#pullers.clear();
    await Promise.all([...this.#writes.values()].map((w) => w.catch(() => undefined)));
    // Released at once: another node takes over at its next try instead of when this process is gone.
    await Promise.all([...this.#locks.values()].map((l) => l.release().catch(() => undefined)));
    this.#locks.clear();
  }

  // ---- internals --------------------------------------------------------------------------------------

  #client(m: { url: string; username: string; password: string }): MasterClient {
    return new MasterClient({
      url: m.url,
      username: m.username,
      password: m.password,
      ...(this.#o.masterTimeoutMs === undefined ? {} : { timeoutMs: this.#o.masterTimeoutMs }),
    });
  }

  /** Stop the agreement's pull loop; with `release`, give its leader lock up too (disabled, deleted). */
  async #stopPuller(id: string, release: boolean): Promise<void> {
    const p = this.#pullers.get(id);
    this.#pullers.delete(id);
    await p?.stop();
    if (!release) return;
    const lock = this.#locks.get(id);
    this.#locks.delete(id);
    await lock?.release().catch(() => undefined);
  }

  /** The clone agreement's leader lock (one per agreement and node, kept while the agreement is enabled here). */
  lockOf(id: string): LeaderLock {
    let lock = this.#locks.get(id);
    if (lock === undefined) {
      lock = this.publisher.store.leaderLock(`replication-agreement:${id}`);
      lock.on("lost", (reason) => {
        if (this.#locks.get(id) === lock) this.#pullers.get(id)?.lost(reason);
      });
      this.#locks.set(id, lock);
    }
    return lock;
  }

  /** Who this node is, as a clone agreement's record names its puller. */
  identity(since: number): PullerIdentity {
    const url = this.#o.nodeUrl?.();
    return { nodeId: this.nodeId, since, ...(url === undefined ? {} : { url }) };
  }

  /**
   * This node took the agreement's leader lock: read the agreement from the store (never from memory:
   * another node pulled it meanwhile), record this node as its puller, and return the reached sequence
   * it goes on from. Undefined when the agreement is gone or disabled in the store.
   */
  async takeOver(id: string, identity: PullerIdentity): Promise<ConsumerAgreement | undefined> {
    const k = key(id, "consumer");
    return await this.#chain(k, async () => {
      for (let attempt = 0; attempt < 8; attempt++) {
        const r = await this.#readRecord(id, "consumer");
        const a = this.consumer(id);
        if (r === undefined || a === undefined) return undefined;
        replaceFields(a, fromRecord(r));
        this.#stored.set(k, r.document);
        if (!a.enabled) return undefined;
        a.puller = identity;
        a.updatedAt = Math.max(a.updatedAt, Date.now());
        const record = toRecord(a);
        if (await this.publisher.store.putAgreement(record, r.document)) {
          this.#stored.set(k, record.document);
          return a;
        }
      }
      throw new GwsyncError("GWSYNC_STORE_FAILED", `agreement ${id}: its record kept changing while this node took over`);
    });
  }

  async #readRecord(id: string, role: AgreementRole): Promise<AgreementRecord | undefined> {
    return (await this.publisher.store.listAgreements()).find((r) => r.id === id && r.role === role);
  }

  #ensurePuller(a: ConsumerAgreement): Puller {
    let p = this.#pullers.get(a.id);
    if (p === undefined && a.enabled && !this.#closed) {
      p = new Puller(this, a.id, this.lockOf(a.id), this.#log.child({ agreement: a.id }));
      this.#pullers.set(a.id, p);
      p.start();
    }
    if (p === undefined) {
      throw new GwsyncError("GWSYNC_REPLICATION_REFUSED", `agreement ${a.id} is disabled`);
    }
    return p;
  }

  /** Labels an agreement of this clone replicates: local publishes to them are refused. */
  #syncReadOnlyLabels(): void {
    const owned = new Map<string, string>();
    for (const a of this.list("consumer") as ConsumerAgreement[]) {
      for (const l of a.labels) owned.set(l, `agreement ${a.id} replicates it from ${a.master.url}`);
    }
    this.publisher.setReplicatedLabels(owned);
  }

  /**
   * Persist the agreement (in memory at once, in the store in the order of the calls). A clone agreement
   * is written by compare-and-set over the row this node last read or wrote: when another node changed
   * it meanwhile, a `settings` write (REST) keeps the store's progress and puts its settings over it; a
   * `progress` write (the puller) keeps the store's settings and goes on only while the row still names
   * this node's term as the puller. False when not written (a stale puller, or deleted by another node).
   */
  async #save(a: Agreement, kind: "settings" | "progress" = "settings"): Promise<boolean> {
    a.updatedAt = Math.max(a.updatedAt, Date.now());
    const k = key(a.id, a.type);
    this.#agreements.set(k, a);
    return await this.#chain(k, () => this.#write(a, kind));
  }

  async #write(a: Agreement, kind: "settings" | "progress"): Promise<boolean> {
    const k = key(a.id, a.type);
    const store = this.publisher.store;
    for (let attempt = 0; attempt < 8; attempt++) {
      const record = toRecord(a);
      const expected = a.type === "consumer" ? this.#stored.get(k) : undefined;
      if (expected === undefined) {
        await store.putAgreement(record);
        this.#stored.set(k, record.document);
        return true;
      }
      if (await store.putAgreement(record, expected)) {
        this.#stored.set(k, record.document);
        return true;
      }
      const now = await this.#readRecord(a.id, a.type);
      if (now === undefined) {
        this.#stored.delete(k);
        return false;
      }
      const mine = a as ConsumerAgreement;
      const theirs = fromRecord(now) as ConsumerAgreement;
      if (kind === "progress") {
        // Another node's puller recorded itself since: this node's term is over, write nothing.
        if (theirs.puller?.nodeId !== mine.puller?.nodeId || theirs.puller?.since !== mine.puller?.since) {
          return false;
        }
        for (const f of CONSUMER_SETTINGS) copyField(mine, theirs, f);
        mine.lastSequenceNumber = Math.max(mine.lastSequenceNumber, theirs.lastSequenceNumber);
      } else {
        const settings: Partial<ConsumerAgreement> = {};
        for (const f of CONSUMER_SETTINGS) copyField(settings, mine, f);
        const state = mine.state;
        replaceFields(mine, theirs);
        for (const f of CONSUMER_SETTINGS) copyField(mine, settings, f);
        if (!mine.enabled) mine.state = "DISABLED";
        else if (theirs.state === "DISABLED") mine.state = mine.bootstrapComplete === true ? "READY" : state;
      }
      if (!mine.enabled) {
        mine.state = "DISABLED";
        delete mine.reason;
      }
      mine.updatedAt = Math.max(mine.updatedAt, Date.now());
      this.#stored.set(k, now.document);
    }
    throw new GwsyncError(
      "GWSYNC_STORE_FAILED",
      `agreement ${a.id}: its record kept changing under this write (other nodes writing it)`,
    );
  }

  /**
   * Save a clone agreement the puller (or an import) changed, unless it was deleted meanwhile. False when
   * nothing was written: deleted, or (a `progress` write) another node is its puller now.
   */
  async saveConsumer(a: ConsumerAgreement, kind: "settings" | "progress" = "progress"): Promise<boolean> {
    if (this.#agreements.get(key(a.id, "consumer")) !== a) return false;
    const written = await this.#save(a, kind);
    if (written) this.events.emit("progress", a.id);
    return written;
  }

  consumer(id: string): ConsumerAgreement | undefined {
    return this.#agreements.get(key(id, "consumer")) as ConsumerAgreement | undefined;
  }

  client(a: ConsumerAgreement): MasterClient {
    return this.#client(a.master);
  }

  get options(): ReplicationOptions {
    return this.#o;
  }

  #chain<T>(k: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.#writes.get(k) ?? Promise.resolve();
    const next = prev.catch(() => undefined).then(fn);
    this.#writes.set(k, next);
    void next
      .finally(() => {
        if (this.#writes.get(k) === next) this.#writes.delete(k);
      })
      .catch(() => undefined);
    return next;
  }
}

/** What importing a bundle did. */
export interface ImportReport {
  masterRegion: string;
  sequence: number;
  full: boolean;
  entries: number;
  applied: number;
  unchanged: number;
  /** Outside the agreement's labels, or left out by its rules. */
  skipped: number;
  /** A full bundle: APIs the clone held on the agreement's labels that the master no longer has. */
  removedNotOnMaster: number;
  refused: { apiId: string; label: string; seq: number; reason: string }[];
  agreement?: { identifier: string; lastSequenceNumber: number; advanced: boolean; why?: string };
}

/** One master change through the rules into the clone's store: applied, unchanged, skipped or refused. */
async function applyEntry(
  publisher: Publisher,
  rules: CompiledRules,
  masterRegion: string,
  c: { seq: number; apiId: string; label: string; instruction: "Publish" | "Remove"; artifact?: string },
): Promise<{ kind: "applied" | "unchanged" | "skipped" } | { kind: "refused"; reason: string }> {
  try {
    let artifact = c.artifact;
    if (!rules.empty) {
      const dto =
        artifact !== undefined
          ? parseGatewayApiDto(artifact)
          : await publisher.store
              .getArtifact(c.apiId, c.label)
              .then((held) => (held === undefined ? undefined : parseGatewayApiDto(held.artifactJson)));
      if (dto !== undefined) {
        if (!rules.decide({ label: c.label, dto }).replicate) return { kind: "skipped" };
        if (artifact !== undefined) artifact = rules.transform({ label: c.label, dto }, artifact).artifact;
      }
    }
    const outcome = await applyMasterChange(publisher, {
      masterRegion,
      seq: c.seq,
      apiId: c.apiId,
      label: c.label,
      instruction: c.instruction,
      ...(artifact === undefined ? {} : { artifact }),
    });
    return { kind: outcome === "applied" ? "applied" : "unchanged" };
  } catch (err) {
    // A store that cannot write is worth retrying; a change that is wrong is not.
    if (isGwsyncError(err) && err.retryable) throw err;
    return { kind: "refused", reason: (err as Error).message };
  }
}

function removeEvent(publisher: Publisher, artifactJson: string, r: SaveArtifactResult): NewOutboxMessage {
  return buildGatewayEvent({
    action: "remove",
    dto: JSON.parse(artifactJson),
    labels: r.labels,
    result: r,
    region: publisher.config.gwsync.region,
    signer: publisher.signer,
  });
}

function key(id: string, role: AgreementRole): string {
  return `${role}:${id}`;
}

/** Make `target` (kept by identity: pullers and routes hold it) the same agreement as `source`. */
function replaceFields(target: Agreement, source: Agreement): void {
  const t = target as unknown as Record<string, unknown>;
  for (const k of Object.keys(t)) if (!(k in source)) delete t[k];
  Object.assign(t, source);
}

function copyField(to: object, from: object, field: string): void {
  const f = from as Record<string, unknown>;
  const t = to as Record<string, unknown>;
  if (field in f) t[field] = f[field];
  else delete t[field];
}

/** This node stopped being (or is not) the agreement's puller: the pull ends, nothing more is applied. */
class NotLeading extends Error {}

/**
 * One clone agreement's pull loop: bootstrap when the agreement is BOOTSTRAPPING, then pages of the
 * master's changelog until it is caught up, then wait the poll interval (or a manual trigger). Each
 * master call is retried with capped exponential backoff; when the retries are spent the agreement
 * is FAILED with the reason and the next poll tries again.
 *
 * It pulls only while this node holds the agreement's leader lock (store.leaderLock): a node that does
 * not tries to take it every min(poll interval, leaderRetryMs); when it does, it reads the agreement
 * from the store and records itself as the puller (ReplicationService.takeOver). It checks the lock with
 * a round trip before applying each page, and before each change that the lock was not lost meanwhile.
 */
class Puller {
  readonly #svc: ReplicationService;
  readonly #id: string;
  readonly #log: Logger;
  readonly #lock: LeaderLock;
  readonly #abort = new AbortController();
  /** This node's term as the puller (the identity it recorded), while it leads. */
  #term: PullerIdentity | undefined;
  #leadTry: Promise<boolean> | undefined;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<PullSummary> | undefined;
  /** A trigger came while a pull ran: pull again right after it. */
  #again = false;
  #stopped = false;
  /** The agreement's rules, compiled at the start of each pull (a PUT takes effect at the next). */
  #rules: CompiledRules | undefined;

  constructor(svc: ReplicationService, id: string, lock: LeaderLock, log: Logger) {
    this.#svc = svc;
    this.#id = id;
    this.#lock = lock;
    this.#log = log;
  }

  get leading(): boolean {
    return this.#term !== undefined && this.#lock.held;
  }

  start(): void {
    this.kick();
  }

  /** Pull soon, without waiting for the result. */
  kick(): void {
    void this.pullNow().catch(() => undefined);
  }

  /**
   * Be the puller: true while this node holds the lock and has recorded itself; else try to take the
   * lock once and, taken, take over from the store's record. False when another node holds it.
   */
  lead(): Promise<boolean> {
    if (this.leading) return Promise.resolve(true);
    this.#leadTry ??= this.#lead().finally(() => {
      this.#leadTry = undefined;
    });
    return this.#leadTry;
  }

  async #lead(): Promise<boolean> {
    if (this.#term !== undefined) this.lost("the leader lock is no longer held");
    let got = false;
    try {
      got = await this.#lock.acquire();
    } catch (err) {
      this.#log.debug({ err: (err as Error).message }, "could not try the agreement's leader lock");
    }
    if (!got || this.#stopped) return false;
    const term = this.#svc.identity(Date.now());
    const a = await this.#svc.takeOver(this.#id, term);
    if (a === undefined || !this.#lock.held) return false;
    this.#term = term;
    this.#log.info(
      { node: term.nodeId, from: a.lastSequenceNumber, state: a.state },
      "this node pulls the agreement now (took its leader lock; reached sequence read from the store)",
    );
    this.#svc.events.emit("leader", this.#id, { leading: true, nodeId: term.nodeId, from: a.lastSequenceNumber });
    return true;
  }

  /** The lock is gone (its connection dropped, or the store names another puller): stop at once. */
  lost(reason: string): void {
    if (this.#term === undefined) return;
    this.#term = undefined;
    this.#log.warn({ reason }, "this node no longer pulls the agreement (leader lock lost); competing again");
    this.#svc.events.emit("leader", this.#id, { leading: false, nodeId: this.#svc.nodeId, reason });
  }

  /** Pull now; a pull already running is joined (and followed by another one). */
  pullNow(manual = false): Promise<PullSummary> {
    if (this.#stopped) return Promise.reject(new GwsyncError("GWSYNC_SHUTTING_DOWN", "replication stopped"));
    if (this.#running) {
      this.#again = true;
      if (!manual) return this.#running;
      // A manual trigger that joins a try of a node that is not the puller: the 409 naming the puller.
      return this.#running.catch(async (err: unknown) => {
        throw err instanceof NotLeading ? await this.#svc.notLeader(this.#id, "pull") : err;
      });
    }
    clearTimeout(this.#timer);
    const run = this.#leadThenPull(manual).finally(() => {
      this.#running = undefined;
      if (this.#stopped) return;
      if (this.#again) {
        this.#again = false;
        this.kick();
      } else {
        this.#schedule();
      }
    });
    this.#running = run;
    return run;
  }

  async #leadThenPull(manual: boolean): Promise<PullSummary> {
    if (!(await this.lead())) {
      if (manual) throw await this.#svc.notLeader(this.#id, "pull");
      throw new NotLeading("not the puller");
    }
    return await this.#pull();
  }

  #schedule(): void {
    const a = this.#svc.consumer(this.#id);
    if (!a?.enabled || this.#stopped) return;
    let ms = Math.round(a.pollIntervalSec * 1000);
    // Not the puller: try the lock again within leaderRetryMs even when the poll interval is long.
    if (!this.leading) ms = Math.min(ms, this.#svc.options.leaderRetryMs ?? DEFAULT_LEADER_RETRY_MS);
    this.#timer = setTimeout(() => this.kick(), ms);
    this.#timer.unref?.();
  }

  /** Before applying a page: a round trip on the lock's connection (a dropped one ends the term first). */
  async #confirmLeading(): Promise<void> {
    if (!this.leading || !(await this.#lock.check()) || !this.leading) throw new NotLeading("leader lock lost");
  }

  /** Before each change: the lock was not lost meanwhile (no round trip). */
  #stillLeading(): void {
    if (!this.leading) throw new NotLeading("leader lock lost");
  }

  /** Record progress; a store that names another puller now ends this node's term. */
  async #save(a: ConsumerAgreement): Promise<void> {
    // A node that lost the lock records nothing (its page's changes are deduped when the next puller pulls them).
    this.#stillLeading();
    if (await this.#svc.saveConsumer(a, "progress")) return;
    if (this.#svc.consumer(this.#id) !== a) return;
    this.lost("the agreement's record names another puller");
    await this.#lock.release().catch(() => undefined);
    throw new NotLeading("another node pulls the agreement");
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#abort.abort();
    await this.#running?.catch(() => undefined);
  }

  async #pull(): Promise<PullSummary> {
    const a = this.#svc.consumer(this.#id);
    if (!a) throw new GwsyncError("GWSYNC_NOT_FOUND", `no consumer replication agreement ${this.#id}`);
    const summary = { applied: 0, skipped: 0, refused: 0, bootstrapped: 0 };
    a.lastPullAt = Date.now();
    try {
      this.#rules = compileRules(a.rules, a.cloneRegion);
      if (a.bootstrapComplete !== true) {
        a.state = "BOOTSTRAPPING";
        await this.#bootstrap(a, summary);
        if (this.#stopped) return this.#summary(a, summary);
      }
      for (;;) {
        if (this.#stopped) break;
        const page = await this.#retry("change feed", () =>
          this.#svc
            .client(a)
            .changes(a.id, a.lastSequenceNumber, this.#svc.options.feedPage ?? DEFAULT_FEED_PAGE),
        );
        await this.#applyPage(a, page, summary);
        if (!page.more) break;
      }
      if (!this.#stopped && a.enabled) {
        a.state = "READY";
        delete a.reason;
        a.lastSuccessAt = Date.now();
      }
    } catch (err) {
      if (this.#stopped) return this.#summary(a, summary);
      if (err instanceof NotLeading) {
        this.#log.info({ reason: err.message }, "pull stopped: this node is not the agreement's puller");
        return this.#summary(a, summary);
      }
      a.state = "FAILED";
      a.reason = (err as Error).message;
      this.#log.warn({ err: a.reason }, "replication pull failed; the next poll tries again");
    }
    try {
      await this.#save(a);
    } catch (err) {
      if (err instanceof NotLeading) return this.#summary(a, summary);
      throw err;
    }
    const result = this.#summary(a, summary);
    this.#svc.events.emit("pulled", a.id, result);
    return result;
  }

  #summary(a: ConsumerAgreement, s: Omit<PullSummary, "lastSequenceNumber" | "state">): PullSummary {
    return {
      ...s,
      lastSequenceNumber: a.lastSequenceNumber,
      state: a.state,
      ...(a.reason === undefined ? {} : { reason: a.reason }),
    };
  }

  /**
   * Load the master's current state of every label in scope, page by page. The snapshot stands for
   * sequence S (startingSequenceNumber, recorded when the agreement was created and kept through a
   * restarted bootstrap): rows changed while the pages are read are newer than S and come again from
   * the changelog, where the clone's store knows them by (master region, sequence) and skips them.
   */
  async #bootstrap(
    a: ConsumerAgreement,
    summary: { bootstrapped: number; refused: number; skipped: number },
  ): Promise<void> {
    const limit = this.#svc.options.snapshotPage ?? DEFAULT_SNAPSHOT_PAGE;
    this.#log.info({ labels: a.labels, from: a.startingSequenceNumber }, "bootstrapping from the master");
    for (const label of a.labels) {
      let after: string | undefined;
      do {
        if (this.#stopped) return;
        const page = await this.#retry("bootstrap page", () =>
          this.#svc.client(a).snapshotPage(label, after, limit),
        );
        await this.#confirmLeading();
        for (const item of page.items) {
          this.#stillLeading();
          const outcome = await this.#applyOne(a, {
            seq: item.seq,
            apiId: item.apiId,
            label: item.label,
            instruction: "Publish",
            artifact: item.artifact,
          });
          if (outcome === "applied") {
            summary.bootstrapped++;
            a.bootstrapped++;
          } else if (outcome === "refused") summary.refused++;
          else summary.skipped++;
        }
        after = page.next;
        a.masterHead = Math.max(a.masterHead, page.head);
        await this.#save(a);
      } while (after !== undefined);
    }
    a.bootstrapComplete = true;
    a.state = "READY";
    this.#log.info({ apis: a.bootstrapped }, "bootstrap done; following the master's changelog");
  }

  async #applyPage(
    a: ConsumerAgreement,
    page: FeedReply,
    summary: { applied: number; skipped: number; refused: number },
  ): Promise<void> {
    if (page.masterRegion !== a.master.region) {
      throw new GwsyncError(
        "GWSYNC_REPLICATION_REFUSED",
        `the master at ${a.master.url} is region "${page.masterRegion}", the agreement was made with "${a.master.region}"`,
      );
    }
    await this.#confirmLeading();
    for (const c of page.list) {
      if (this.#stopped) return;
      this.#stillLeading();
      if (!c.current) {
        summary.skipped++;
        a.skipped++;
        continue;
      }
      const outcome = await this.#applyOne(a, c);
      if (outcome === "applied") {
        summary.applied++;
        a.applied++;
      } else if (outcome === "refused") summary.refused++;
      else {
        summary.skipped++;
        a.skipped++;
      }
    }
    a.lastSequenceNumber = Math.max(a.lastSequenceNumber, page.next);
    a.masterHead = Math.max(page.head, a.lastSequenceNumber);
    if (page.more && page.list.length > 0) a.pendingSince = page.list.at(-1)?.createdAt;
    else delete a.pendingSince;
    await this.#save(a);
  }

  /** Apply one change; a change the clone cannot take is refused (counted, recorded) and the pull goes on. */
  async #applyOne(
    a: ConsumerAgreement,
    c: { seq: number; apiId: string; label: string; instruction: "Publish" | "Remove"; artifact?: string },
  ): Promise<"applied" | "skipped" | "refused"> {
    const r = await applyEntry(
      this.#svc.publisher,
      this.#rules ?? compileRules(a.rules, a.cloneRegion),
      a.master.region,
      c,
    );
    const outcome = r.kind === "refused" ? "refused" : r.kind === "applied" ? "applied" : "skipped";
    this.#svc.events.emit("change", a.id, {
      seq: c.seq,
      apiId: c.apiId,
      label: c.label,
      instruction: c.instruction,
      phase: a.bootstrapComplete === true ? "feed" : "bootstrap",
      outcome,
    });
    if (r.kind !== "refused") return r.kind === "applied" ? "applied" : "skipped";
    a.refused++;
    a.lastRefusal = { apiId: c.apiId, label: c.label, seq: c.seq, reason: r.reason, at: Date.now() };
    this.#log.warn(
      { apiId: c.apiId, label: c.label, masterSeq: c.seq, reason: r.reason },
      "replicated change refused",
    );
    return "refused";
  }

  #retry<T>(what: string, fn: () => Promise<T>): Promise<T> {
    const o = this.#svc.options;
    return pRetry(fn, {
      retries: o.retries ?? DEFAULT_PULL_RETRIES,
      factor: 2,
      minTimeout: o.retryMinMs ?? DEFAULT_RETRY_MIN_MS,
      maxTimeout: o.retryMaxMs ?? DEFAULT_RETRY_MAX_MS,
      randomize: true,
      signal: this.#abort.signal,
      shouldRetry: ({ error }) => !isGwsyncError(error) || error.retryable,
      onFailedAttempt: ({ error, attemptNumber, retriesLeft }) => {
        if (retriesLeft > 0)
          this.#log.debug(
            { what, attempt: attemptNumber, err: error.message },
            "master call failed; retrying",
          );
      },
    });
  }
}
