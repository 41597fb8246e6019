import type { GatewayApiReport, GatewayReportCursor } from "./types.js";

/** What listGatewayReports may filter on (ArtifactStore.listGatewayReports). */
export interface GatewayReportFilter {
  apiId?: string;
  /** Only these APIs (at most a few thousand: one IN list). */
  apiIds?: readonly string[];
  nodeId?: string;
  refused?: boolean;
  limit?: number;
}

/** The SELECT of listGatewayReports, the same on every SQL engine (`?` placeholders). */
export function gatewayReportsQuery(filter: GatewayReportFilter): { sql: string; args: string[] } {
  const where: string[] = [];
  const args: string[] = [];
  // By API: one primary-key seek (NODE_ID, API_ID) per gateway that reports (every row's node has a
  // cursor row, written in the same transaction), so no index on API_ID has to be kept up to date.
  if ((filter.apiId !== undefined || filter.apiIds !== undefined) && filter.nodeId === undefined) {
    where.push("NODE_ID IN (SELECT NODE_ID FROM GWSYNC_GATEWAY_REPORTS)");
  }
  if (filter.apiId !== undefined) {
    where.push("API_ID = ?");
    args.push(filter.apiId);
  }
  if (filter.apiIds !== undefined) {
    if (filter.apiIds.length === 0) where.push("1 = 0");
    else {
      where.push(`API_ID IN (${filter.apiIds.map(() => "?").join(", ")})`);
      args.push(...filter.apiIds);
    }
  }
  if (filter.nodeId !== undefined) {
    where.push("NODE_ID = ?");
    args.push(filter.nodeId);
  }
  if (filter.refused) where.push("REFUSED_CODE IS NOT NULL");
  const order = filter.refused ? "REFUSED_AT DESC, NODE_ID, API_ID" : "NODE_ID, API_ID";
  const limit = filter.limit === undefined ? "" : ` LIMIT ${Math.max(0, Math.floor(filter.limit))}`;
  const sql = `SELECT * FROM GWSYNC_GATEWAY_APIS${where.length > 0 ? ` WHERE ${where.join(" AND ")}` : ""} ORDER BY ${order}${limit}`;
  return { sql, args };
}

const present = (v: unknown): boolean => v !== null && v !== undefined;

/** A GWSYNC_GATEWAY_APIS row (column names in upper case) as a report. */
export function reportFromRow(r: Record<string, unknown>): GatewayApiReport {
  const report: GatewayApiReport = {
    nodeId: String(r.NODE_ID),
    apiId: String(r.API_ID),
    reportedAt: Number(r.REPORTED_AT),
  };
  if (present(r.REVISION)) report.served = { revision: Number(r.REVISION), sha256: String(r.SHA256) };
  if (present(r.REFUSED_CODE)) {
    report.refusal = {
      revision: Number(r.REFUSED_REVISION),
      code: String(r.REFUSED_CODE),
      message: String(r.REFUSED_MESSAGE),
      at: Number(r.REFUSED_AT),
    };
  }
  return report;
}

/** A GWSYNC_GATEWAY_REPORTS row as a cursor. */
export function cursorFromRow(r: Record<string, unknown>): GatewayReportCursor {
  return {
    nodeId: String(r.NODE_ID),
    boot: String(r.BOOT),
    seq: Number(r.SEQ),
    complete: Number(r.COMPLETE) === 1,
    served: Number(r.SERVED),
    refused: Number(r.REFUSED),
    updatedAt: Number(r.UPDATED_AT),
  };
}
