import type { FleetStatus } from "../publisher/fleet-status.js";
import type { FleetGateway, FleetView, Rollout, RolloutGateway } from "../publisher/fleet-view.js";

/**
 * `gwsync status` and `gwsync status API` as text: one function per section, so a new section is one
 * more function in SECTIONS.
 */

/** What `gwsync status` shows: the store's summary and the fleet view. */
export interface StatusReport extends FleetStatus {
  fleet: FleetView;
}

function storeSection(s: StatusReport): string[] {
  return [`store        ${s.store}`, `head seq     ${s.headSeq}`, `outbox       ${s.outboxDepth} pending`];
}

function labelsSection(s: StatusReport): string[] {
  const rows = Object.entries(s.labels).map(([label, n]) => `  ${label.padEnd(32)} ${n}`);
  return ["APIs per label:", ...(rows.length > 0 ? rows : ["  (none)"])];
}

const STATE_TEXT: Record<FleetGateway["state"], string> = {
  ready: "ready   ",
  stale: "STALE   ",
  starting: "starting",
  stopped: "stopped ",
  missing: "MISSING ",
};

export function ago(ms: number): string {
  const s = Math.round(ms / 1000);
  return s < 120 ? `${s}s` : s < 7200 ? `${Math.round(s / 60)}m` : `${Math.round(s / 3600)}h`;
}

function gatewaysSection(s: StatusReport): string[] {
  const f = s.fleet;
  const rows = f.gateways.map((g) => {
    const lag = g.lagSeq > 0 ? `lag=${g.lagSeq} (${g.lagSeconds}s)` : "lag=0";
    const refused = g.refused > 0 ? ` REFUSED=${g.refused}` : "";
    const report = g.report === "complete" ? "" : ` report=${g.report}`;
    return `  ${g.nodeId.padEnd(28)} ${STATE_TEXT[g.state]} ${g.region.padEnd(10)} applied=${g.appliedSeq} ${lag} serves=${g.served}${refused}${report} last=${ago(g.lastHeartbeatMsAgo)} ago labels=${g.labels.join(",")}`;
  });
  const counts = Object.entries(f.counts)
    .filter(([, n]) => n > 0)
    .map(([state, n]) => `${n} ${state}`)
    .join(", ");
  const gone = f.gateways.filter((g) => !g.alive).length;
  const hints = [
    ...(f.gateways.some((g) => g.refused > 0) ? ["  (gwsync status API shows an API's refusals and their reasons)"] : []),
    ...(gone > 0 ? ["  (gwsync status forget NODE drops a gateway that is gone for good)"] : []),
  ];
  return [
    `gateways:${counts === "" ? "" : ` ${counts}`}`,
    ...(rows.length > 0 ? rows : ["  (none seen)"]),
    ...hints,
  ];
}

function replicationSection(s: FleetStatus): string[] {
  if (s.replication.length === 0) return [];
  const rows = s.replication.map((r) => {
    const role = r.replicaType === "CONSUMER" ? `clone of ${r.peerRegion}` : `master of ${r.peerRegion}`;
    const reason = r.reason === undefined ? "" : ` (${r.reason})`;
    const puller = r.puller === undefined ? "" : ` pulled-by=${r.puller.nodeId} since ${r.puller.since}`;
    return `  ${r.identifier.padEnd(22)} ${role.padEnd(20)} ${r.state}${reason} seq=${r.lastSequenceNumber} lag=${r.lagSequence} seq / ${r.lagSeconds.toFixed(1)}s labels=${r.labels.join(",")}${puller}`;
  });
  return ["replication agreements:", ...rows];
}

const SECTIONS = [storeSection, labelsSection, gatewaysSection, replicationSection];

export function renderStatus(s: StatusReport): string {
  return `${SECTIONS.flatMap((section) => section(s)).join("\n")}\n`;
}

const ROLLOUT_TEXT: Record<RolloutGateway["status"], string> = {
  deployed: "deployed",
  removed: "removed ",
  pending: "pending ",
  refused: "REFUSED ",
  offline: "offline ",
};

function short(sha: string): string {
  return sha.slice(0, 12);
}

/** One gateway's line of a rollout (also what `publish --wait` prints for the ones not there). */
export function rolloutLine(g: RolloutGateway, now = Date.now()): string {
  const served = g.served ? `serves r${g.served.revision} ${short(g.served.sha256)}` : "serves nothing";
  const want = g.expected ? `want r${g.expected.revision}` : "want removed";
  let line = `  ${g.nodeId.padEnd(28)} ${ROLLOUT_TEXT[g.status]} ${g.state.padEnd(8)} ${served.padEnd(28)} ${want}`;
  if (g.refusal && (g.status === "refused" || g.status === "pending" || g.status === "offline")) {
    const r = g.refusal;
    line += `\n      refused r${r.revision} ${ago(Math.max(0, now - r.at))} ago: ${r.code}: ${r.message}`;
  }
  if (!g.reportComplete) line += " (report incomplete)";
  return line;
}

export function renderRollout(r: Rollout): string {
  const lines = [`API ${r.name} ${r.version} (${r.apiId})`, "store:"];
  for (const l of r.labels)
    lines.push(`  ${l.label.padEnd(28)} ${l.instruction.padEnd(8)} r${l.revision} ${short(l.sha256)} seq=${l.seq}`);
  const counts = Object.entries(r.counts)
    .filter(([, n]) => n > 0)
    .map(([s, n]) => `${n} ${s}`)
    .join(", ");
  lines.push(`gateways: ${counts === "" ? "none on these labels" : counts}${r.complete ? "" : " (rollout not complete)"}`);
  for (const g of r.gateways) lines.push(rolloutLine(g));
  return `${lines.join("\n")}\n`;
}
