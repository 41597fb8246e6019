/**
 * The startup baseline: what a script with direct database access does to deploy a label — one
 * SELECT of every artifact of the label, then for each: JSON.parse the GatewayAPIDTO and write its
 * synapse XML atomically (temp + fsync + rename). Timed inside this process, from the open of the
 * database to the last rename (and, for "batch", the folder fsync that makes the renames durable).
 * `scheme`: "serial" (default) writes one file after the other with blocking calls; "batch" uses
 * writeAtomicBatch (temps written, fsyncs concurrent, renames, one folder fsync per round of 500).
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { writeAtomic, writeAtomicBatch } from "./atomic-write.js";
import { type IpcMessage, send, serve } from "./child-ipc.js";
import { nowMs } from "./clock.js";

interface Dto {
  name: string;
  version: string;
  provider: string;
  apiDefinition: string;
}

async function load(m: IpcMessage): Promise<void> {
  const t0 = nowMs();
  const dir = join(m.dir as string, "api");
  mkdirSync(dir, { recursive: true });
  const db = new Database(m.dbFile as string, { readonly: true, fileMustExist: true });
  const rows = db
    .prepare(
      "SELECT ARTIFACT FROM AM_GW_API_ARTIFACTS WHERE GATEWAY_LABEL = ? AND GATEWAY_INSTRUCTION = 'Publish'",
    )
    .all(m.label as string) as { ARTIFACT: Buffer | string }[];
  const files = function* () {
    for (const row of rows) {
      const dto = JSON.parse(row.ARTIFACT.toString()) as Dto;
      yield { file: join(dir, `${dto.provider}--${dto.name}_v${dto.version}.xml`), data: dto.apiDefinition };
    }
  };
  let n = 0;
  if (m.scheme === "batch") n = await writeAtomicBatch(files());
  else {
    for (const { file, data } of files()) {
      writeAtomic(file, data);
      n++;
    }
  }
  db.close();
  send({ type: "loaded", t0, t: nowMs(), n });
}

serve((m) => {
  if (m.type === "load") return load(m);
  else if (m.type === "stop") process.exit(0);
});
