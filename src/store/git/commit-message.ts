import type { GatewayInstruction } from "../types.js";

/**
 * The message of each commit the Git store makes: a subject naming the API, its revision and origin,
 * and git trailers that say the same for tools (`git log --format=%(trailers)`, `git interpret-trailers`):
 *
 *     Publish PizzaShackAPI:1.0.0 revision 3 (region eu-west)
 *
 *     API admin--PizzaShackAPI_v1.0.0 (tenant carbon.super) on Production and Sandbox
 *
 *     Gwsync-Api-Id: 2f4c...
 *     Gwsync-Revision: 3
 *     Gwsync-Instruction: Publish
 *     Gwsync-Seq: 17
 *     Gwsync-Sha256: 5e1b...
 *     Gwsync-Origin: eu-west
 *     Gwsync-Label: Production and Sandbox
 *
 * `Gwsync-Seq` lists the changelog sequence numbers the commit holds (one per label), `Gwsync-Origin`
 * the region the change was first committed in, and its sequence number there when relayed.
 */
export interface ChangeMessage {
  instruction: GatewayInstruction;
  apiId: string;
  name: string;
  version: string;
  provider: string;
  tenantDomain: string;
  revision: number;
  sha256: string;
  labels: readonly string[];
  seqs: readonly number[];
  origin: { region: string; seq?: number };
  sourceCommit?: string | undefined;
}

/** Control characters (a newline would end a trailer) become spaces. */
function oneLine(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: removing them is the point
  return text.replace(/[\u0000-\u001f\u007f]/g, " ");
}

export function changeMessage(m: ChangeMessage): string {
  const version = m.version === "" ? "" : `:${m.version}`;
  const relayed = m.origin.seq === undefined ? "" : ` seq ${m.origin.seq}`;
  const subject = `${m.instruction} ${m.name}${version} revision ${m.revision} (region ${m.origin.region}${relayed})`;
  const body = `API ${m.provider}--${m.name}${m.version === "" ? "" : `_v${m.version}`} (tenant ${m.tenantDomain}) on ${m.labels.join(", ")}`;
  const trailers = [
    `Gwsync-Api-Id: ${m.apiId}`,
    `Gwsync-Revision: ${m.revision}`,
    `Gwsync-Instruction: ${m.instruction}`,
    `Gwsync-Seq: ${m.seqs.join(" ")}`,
    `Gwsync-Sha256: ${m.sha256}`,
    `Gwsync-Origin: ${m.origin.region}${relayed}`,
    ...m.labels.map((l) => `Gwsync-Label: ${l}`),
    ...(m.sourceCommit === undefined ? [] : [`Gwsync-Source-Commit: ${m.sourceCommit}`]),
  ];
  return `${oneLine(subject)}\n\n${oneLine(body)}\n\n${trailers.map(oneLine).join("\n")}\n`;
}

/** The message of the commit that imports what a store held before it became a Git store. */
export function importMessage(apis: number, files: number, seq: number): string {
  return `Import ${apis} APIs (${files} files) from the store at changelog seq ${seq}\n\nGwsync-Import-Seq: ${seq}\n`;
}

/** The gwsync trailers of a commit message (last value of each key). */
export function gwsyncTrailers(message: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of message.split("\n")) {
    const m = /^(Gwsync-[A-Za-z-]+): (.*)$/.exec(line);
    if (m) out.set(m[1]!, m[2]!);
  }
  return out;
}
