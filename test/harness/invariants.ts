import { appendFileSync, existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { filesOfDto } from "../../src/artifacts/artifact-files.js";
import { ARTIFACT_FOLDERS, type ArtifactKind, type GatewayApiDto } from "../../src/artifacts/types.js";
import { nodeDeployFs } from "../../src/gateway/deploy/deploy-fs.js";
import { readDeployState } from "../../src/gateway/deploy/deploy-state.js";
import type { DeployedApi } from "../../src/gateway/deploy/deployer.js";
import type { Gateway } from "../../src/gateway/gateway.js";
import type { ArtifactStore } from "../../src/store/types.js";

/**
 * The Jepsen-style judge of a fault run, in the manner of RabbitMQ's own Jepsen suite: after the
 * faults, compare what the control plane committed (the truth) with what a gateway holds, in its
 * state and on disk, and with the log of what it applied along the way.
 */

/** One "applied" event of a gateway, as recorded while the run went on (JSON lines for child processes). */
export interface AppliedRecord {
  /** ms since epoch. */
  t: number;
  /** The process that applied it (a gateway restarted after kill -9 has a new pid). */
  pid: number;
  outcome: string;
  apiId: string;
  /** The deployed record right after a "deployed" outcome. */
  revision?: number;
  sha256?: string;
}

/** Records a gateway's "applied" events, in memory and optionally appended to a JSON-lines file. */
export class AppliedLog {
  readonly records: AppliedRecord[] = [];

  constructor(readonly file?: string) {}

  /** Hook an (in-process or child's own) gateway: every "applied" event becomes one record. */
  attach(gw: Gateway, onRecord?: (r: AppliedRecord) => void): () => void {
    const on = (outcome: string, apiId: string) => {
      // Emitted right after the deploy, inside the API's serialized job: get() is this deploy's record.
      const d = outcome === "deployed" ? gw.deployer.get(apiId) : undefined;
      const r: AppliedRecord = {
        t: Date.now(),
        pid: process.pid,
        outcome,
        apiId,
        ...(d ? { revision: d.revision, sha256: d.sha256 } : {}),
      };
      this.add(r);
      onRecord?.(r);
    };
    gw.events.on("applied", on);
    return () => gw.events.removeListener("applied", on);
  }

  add(r: AppliedRecord): void {
    this.records.push(r);
    // Synchronous append: the line is in the page cache before the next event, so kill -9 keeps it.
    if (this.file) appendFileSync(this.file, `${JSON.stringify(r)}\n`);
  }

  /** Every record of a JSON-lines file (all the lives of a child gateway); a torn last line is skipped. */
  static read(file: string): AppliedRecord[] {
    if (!existsSync(file)) return [];
    const out: AppliedRecord[] = [];
    for (const line of readFileSync(file, "utf8").split("\n")) {
      if (line.trim() === "") continue;
      try {
        out.push(JSON.parse(line) as AppliedRecord);
      } catch {
        // A kill -9 can tear the last line; what it said was not durable.
      }
    }
    return out;
  }
}

/** What a gateway holds after the run. */
export interface GatewayObservation {
  name: string;
  labels: readonly string[];
  /** `gateway.deployer.deployed()`, or the state file of a child process. */
  deployed: readonly DeployedApi[];
  /** Its deployment_dir (synapse-configs/default); empty string for a memory-only gateway. */
  deploymentDir: string;
  applied: readonly AppliedRecord[];
}

export interface Issue {
  apiId?: string;
  file?: string;
  detail: string;
}

export interface InvariantReport {
  gateway: string;
  /** APIs of its labels in the truth. */
  expected: number;
  deployed: number;
  /** Committed APIs of its labels that the gateway does not hold (or whose files are missing). */
  lost: Issue[];
  /** Deployed APIs that the truth does not have on any of its labels. */
  unexpected: Issue[];
  /**
   * A "deployed" event for (apiId, revision, sha256) when that gateway's previous deploy of the API
   * was already exactly that, with no removal in between: the same work done twice. One exception:
   * the earlier deploy happened less than STATE_RECORD_WINDOW_MS before its process was killed -9,
   * so its state file could not record it yet; redoing it after the restart is a repair (counted in
   * `reappliedAfterCrash`, informational).
   */
  appliedTwice: Issue[];
  reappliedAfterCrash: number;
  /** Held, but an older revision or another sha256 than the truth's newest among its labels. */
  staleRevision: Issue[];
  /** Temp files left behind, files nobody owns, or files whose bytes differ from the truth. */
  partialFiles: Issue[];
}

interface Truth {
  revision: number;
  sha256: string;
  dto: GatewayApiDto;
  labels: string[];
}

/** The newest Publish artifact per API among `labels` (what a gateway serving them must hold). */
export async function truthFor(
  store: Pick<ArtifactStore, "listArtifacts">,
  labels: readonly string[],
): Promise<Map<string, Truth>> {
  const out = new Map<string, Truth>();
  for (const label of labels) {
    for (const a of await store.listArtifacts({ label, withBody: true })) {
      const t = out.get(a.apiId);
      if (!t || a.revision > t.revision) {
        out.set(a.apiId, {
          revision: a.revision,
          sha256: a.sha256,
          dto: JSON.parse(a.artifactJson) as GatewayApiDto,
          labels: [label],
        });
      } else if (a.sha256 === t.sha256) t.labels.push(label);
    }
  }
  return out;
}

/** Judge one gateway against the store. */
export async function checkInvariants(
  store: Pick<ArtifactStore, "listArtifacts">,
  gw: GatewayObservation,
): Promise<InvariantReport> {
  const truth = await truthFor(store, gw.labels);
  const report: InvariantReport = {
    gateway: gw.name,
    expected: truth.size,
    deployed: gw.deployed.length,
    lost: [],
    unexpected: [],
    appliedTwice: [],
    reappliedAfterCrash: 0,
    staleRevision: [],
    partialFiles: [],
  };
  const held = new Map(gw.deployed.map((d) => [d.apiId, d]));
  for (const [apiId, t] of truth) {
    const d = held.get(apiId);
    if (!d) report.lost.push({ apiId, detail: `revision ${t.revision} committed, not deployed` });
    else if (d.sha256 !== t.sha256) {
      report.staleRevision.push({
        apiId,
        detail: `deployed revision ${d.revision} (${d.sha256.slice(0, 8)}), truth ${t.revision} (${t.sha256.slice(0, 8)})`,
      });
    }
  }
  for (const d of gw.deployed) {
    if (!truth.has(d.apiId))
      report.unexpected.push({
        apiId: d.apiId,
        detail: `revision ${d.revision} deployed, not published to ${gw.labels.join(", ")}`,
      });
  }
  const { twice, afterCrash } = repeats(gw.applied);
  report.appliedTwice = twice;
  report.reappliedAfterCrash = afterCrash.length;
  if (gw.deploymentDir !== "") report.partialFiles = checkFiles(gw.deploymentDir, truth, report.lost);
  return report;
}

/**
 * The gateway writes its state file (what it applied) at most this long after a deploy (FileDeployer
 * batches it, 200 ms by default, plus the fsync): a deploy this close to a kill -9 may be unrecorded.
 */
export const STATE_RECORD_WINDOW_MS = 1000;

/** The outcome a parent appends to a child's applied log when it kills it -9 (pid = the killed child). */
export const KILLED = "killed";

function repeats(applied: readonly AppliedRecord[]): { twice: Issue[]; afterCrash: Issue[] } {
  const last = new Map<string, AppliedRecord>();
  const killedAt = new Map<number, number>();
  for (const r of applied) if (r.outcome === KILLED) killedAt.set(r.pid, r.t);
  const twice: Issue[] = [];
  const afterCrash: Issue[] = [];
  for (const r of applied) {
    if (r.outcome === "removed") last.delete(r.apiId);
    if (r.outcome !== "deployed") continue;
    const prev = last.get(r.apiId);
    if (prev && prev.revision === r.revision && prev.sha256 === r.sha256) {
      const issue = {
        apiId: r.apiId,
        detail: `revision ${r.revision} (${r.sha256?.slice(0, 8)}) deployed by pid ${prev.pid}, again by pid ${r.pid}`,
      };
      const kill = killedAt.get(prev.pid);
      // The earlier life was killed before its state file could record this deploy: a repair.
      if (prev.pid !== r.pid && kill !== undefined && kill - prev.t < STATE_RECORD_WINDOW_MS)
        afterCrash.push(issue);
      else twice.push(issue);
    }
    last.set(r.apiId, r);
  }
  return { twice, afterCrash };
}

/**
 * The files on disk must be exactly the truth's files of the APIs the gateway should hold, byte for
 * byte: no temp file, no orphan, no stale content. A missing file of a held API counts as lost.
 */
function checkFiles(dir: string, truth: ReadonlyMap<string, Truth>, lost: Issue[]): Issue[] {
  const want = new Map<string, { apiId: string; content: string }>();
  for (const [apiId, t] of truth) {
    for (const f of filesOfDto(t.dto))
      want.set(`${ARTIFACT_FOLDERS[f.kind]}/${f.fileName}`, { apiId, content: f.content });
  }
  const out: Issue[] = [];
  const seen = new Set<string>();
  for (const kind of Object.keys(ARTIFACT_FOLDERS) as ArtifactKind[]) {
    const folder = ARTIFACT_FOLDERS[kind];
    let names: string[];
    try {
      names = readdirSync(join(dir, folder));
    } catch {
      continue;
    }
    for (const name of names) {
      const rel = `${folder}/${name}`;
      const w = want.get(rel);
      if (name.endsWith(".tmp") || name.startsWith("."))
        out.push({ file: rel, detail: "temp file left behind" });
      else if (!w) out.push({ file: rel, detail: "file no API of the truth owns" });
      else {
        seen.add(rel);
        if (readFileSync(join(dir, rel), "utf8") !== w.content)
          out.push({ apiId: w.apiId, file: rel, detail: "content differs from the truth" });
      }
    }
  }
  const lostIds = new Set(lost.map((l) => l.apiId));
  for (const [rel, w] of want) {
    if (!seen.has(rel) && !lostIds.has(w.apiId))
      lost.push({ apiId: w.apiId, file: rel, detail: "file missing on disk" });
  }
  return out;
}

/** Observe an in-process gateway. */
export function observeGateway(
  name: string,
  gw: Gateway,
  applied: readonly AppliedRecord[],
): GatewayObservation {
  const dir = gw.config.gateway.saveArtifactsLocally ? gw.config.gateway.deploymentDir : "";
  return {
    name,
    labels: gw.config.gateway.gatewayLabels,
    deployed: gw.deployer.deployed(),
    deploymentDir: dir,
    applied,
  };
}

/** Observe a gateway that ran in child processes: its state file (last-known-good), its folder, its log. */
export async function observeStopped(o: {
  name: string;
  labels: readonly string[];
  stateFile: string;
  deploymentDir: string;
  appliedLogFile: string;
}): Promise<GatewayObservation> {
  return {
    name: o.name,
    labels: o.labels,
    deployed: await readDeployState(nodeDeployFs, o.stateFile),
    deploymentDir: o.deploymentDir,
    applied: AppliedLog.read(o.appliedLogFile),
  };
}

export function isClean(r: InvariantReport): boolean {
  return (
    r.lost.length +
      r.unexpected.length +
      r.appliedTwice.length +
      r.staleRevision.length +
      r.partialFiles.length ===
    0
  );
}

/** One line per gateway, then the first issues of each kind: what a failing run needs to show. */
export function formatReport(r: InvariantReport): string {
  const head = `${r.gateway}: expected ${r.expected}, deployed ${r.deployed}; lost ${r.lost.length}, unexpected ${r.unexpected.length}, appliedTwice ${r.appliedTwice.length} (repaired after kill -9: ${r.reappliedAfterCrash}), staleRevision ${r.staleRevision.length}, partialFiles ${r.partialFiles.length}`;
  const kinds = ["lost", "unexpected", "appliedTwice", "staleRevision", "partialFiles"] as const;
  const lines = kinds.flatMap((k) =>
    r[k].slice(0, 5).map((i) => `  ${k}: ${i.apiId ?? ""} ${i.file ?? ""} ${i.detail}`),
  );
  return [head, ...lines].join("\n");
}

/** Every fault test ends here: prints the report and fails on any lost, unexpected, twice, stale or partial. */
export function assertClean(reports: InvariantReport | readonly InvariantReport[]): void {
  const list = Array.isArray(reports) ? reports : [reports as InvariantReport];
  const text = list.map(formatReport).join("\n");
  console.log(`invariants:\n${text}`);
  const dirty = list.filter((r) => !isClean(r));
  if (dirty.length > 0) throw new Error(`invariants violated:\n${dirty.map(formatReport).join("\n")}`);
  if (list.some((r) => r.expected === 0))
    throw new Error(`a gateway was judged against an empty truth:\n${text}`);
}
