import type { FleetStatus, GatewayStatus } from "../publisher/fleet-status.js";

/**
 * `gwsync status` as text: one function per section of FleetStatus, so a new section (per-API
 * rollout) is one more function in SECTIONS.
 */

function storeSection(s: FleetStatus): string[] {
  return [`store        ${s.store}`, `head seq     ${s.headSeq}`, `outbox       ${s.outboxDepth} pending`];
}

function labelsSection(s: FleetStatus): string[] {
  const rows = Object.entries(s.labels).map(([label, n]) => `  ${label.padEnd(32)} ${n}`);
  return ["APIs per label:", ...(rows.length > 0 ? rows : ["  (none)"])];
}

const STATE_TEXT: Record<GatewayStatus["state"], string> = {
  alive: "alive  ",
  stopped: "stopped",
  missing: "MISSING",
};

function ago(ms: number): string {
  const s = Math.round(ms / 1000);
  return s < 120 ? `${s}s` : s < 7200 ? `${Math.round(s / 60)}m` : `${Math.round(s / 3600)}h`;
}

function gatewaysSection(s: FleetStatus): string[] {
  const rows = s.gateways.map((g) => {
    // A stopped or missing gateway's last report (ready, stale) is history, not its state.
    const reported = g.state === "alive" ? g.status.padEnd(8) : `(${g.status})`.padEnd(10);
    return `  ${g.nodeId.padEnd(28)} ${STATE_TEXT[g.state]} ${reported} applied=${g.appliedSeq} lag=${g.lag} deployed=${g.deployed} last=${ago(g.lastHeartbeatMsAgo)} ago labels=${g.labels.join(",")}`;
  });
  const gone = s.gateways.filter((g) => g.state !== "alive").length;
  const hint = gone > 0 ? ["  (gwsync status forget NODE drops a gateway that is gone for good)"] : [];
  return ["gateways:", ...(rows.length > 0 ? rows : ["  (none seen)"]), ...hint];
}

const SECTIONS = [storeSection, labelsSection, gatewaysSection];

export function renderStatus(s: FleetStatus): string {
  return `${SECTIONS.flatMap((section) => section(s)).join("\n")}\n`;
}
