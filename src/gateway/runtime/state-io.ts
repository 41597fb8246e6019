import fs from "node:fs";
import type { z } from "zod";
import { fsErrorCode, GwsyncError } from "../../errors.js";
import { parseJsonText } from "../../security/json-limits.js";
import { PRIVATE_FILE_MODE, writeFileAtomicSync } from "../../security/safe-write.js";

/** Runtime state can hold credentials (webhook secrets, key manager configs): owner-only. */
export const STATE_FILE_MODE = PRIVATE_FILE_MODE;
export const STATE_DIR_MODE = 0o700;

export function ensureDir(dir: string): void {
  try {
    fs.mkdirSync(dir, { recursive: true, mode: STATE_DIR_MODE });
  } catch (err) {
    throw new GwsyncError(
      fsErrorCode(err),
      `cannot create runtime state folder ${dir}: check its path and rights`,
      {
        cause: err,
      },
    );
  }
}

/** Writes a runtime state file whole or not at all, owner-only (src/security/safe-write.ts). */
export function writeStateFile(file: string, data: string): void {
  try {
    writeFileAtomicSync(file, data, { mode: STATE_FILE_MODE });
  } catch (err) {
    throw new GwsyncError(
      fsErrorCode(err),
      `cannot write runtime state file ${file}: check free space and rights`,
      {
        cause: err,
      },
    );
  }
}

export type JsonFileRead<T> =
  | { status: "missing" }
  | { status: "ok"; value: T }
  /** The bad file was moved aside to `movedTo` so the gateway starts empty instead of not at all. */
  | { status: "corrupt"; movedTo: string; reason: string };

/** Reads a JSON state file through its schema (parse, don't check: the disk is a boundary too). */
export function readJsonFile<S extends z.ZodType>(file: string, schema: S): JsonFileRead<z.output<S>> {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return { status: "missing" };
    throw new GwsyncError(fsErrorCode(err), `cannot read runtime state file ${file}: check its rights`, {
      cause: err,
    });
  }
  let reason: string;
  try {
    const parsed = schema.safeParse(parseJsonText(text));
    if (parsed.success) return { status: "ok", value: parsed.data };
    reason = `does not match its schema at ${parsed.error.issues[0]?.path.join(".") || "top level"}`;
  } catch {
    reason = "is not valid JSON";
  }
  const movedTo = `${file}.corrupt-${Date.now()}`;
  try {
    fs.renameSync(file, movedTo);
  } catch (err) {
    throw new GwsyncError(
      fsErrorCode(err),
      `runtime state file ${file} ${reason} and cannot be moved aside: remove it`,
      {
        cause: err,
      },
    );
  }
  return { status: "corrupt", movedTo, reason };
}
