import { closeSync, constants, existsSync, mkdirSync, openSync, writeSync } from "node:fs";
import { join } from "node:path";
import { GwsyncError } from "../errors.js";
import { generateSigningKeyPair } from "./signing.js";

/** Writes a new file only (O_EXCL: an existing key is never overwritten), with its mode from the start. */
export function writeNewFile(file: string, text: string, mode: number): void {
  let fd: number;
  try {
    fd = openSync(file, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, mode);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new GwsyncError(
      "GWSYNC_USAGE",
      code === "EEXIST" ? `${file} exists; keys are never overwritten (choose another --name)` : `cannot write ${file} (${code})`,
      { cause: err },
    );
  }
  try {
    writeSync(fd, text);
  } finally {
    closeSync(fd);
  }
}

/**
 * A key pair in `dir` named `name`, made the way `gwsync keys generate` makes it, unless both files are
 * already there (the demo keeps its key across runs). Returns the two paths.
 */
export function ensureKeyPair(dir: string, name: string): { privateKeyFile: string; publicKeyFile: string } {
  const privateKeyFile = join(dir, `${name}.key`);
  const publicKeyFile = join(dir, `${name}.pub`);
  if (existsSync(privateKeyFile) && existsSync(publicKeyFile)) return { privateKeyFile, publicKeyFile };
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const pair = generateSigningKeyPair();
  writeNewFile(privateKeyFile, pair.privateKeyPem, 0o600);
  writeNewFile(publicKeyFile, pair.publicKeyPem, 0o644);
  return { privateKeyFile, publicKeyFile };
}

