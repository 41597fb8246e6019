import fsp from "node:fs/promises";
import { type AtomicWriteFs, nodeAtomicWriteFs } from "../../security/safe-write.js";

/**
 * The file-system calls the FileDeployer makes: those of an atomic write (src/security/safe-write.ts)
 * and the reads around it, a subset of node:fs/promises, so tests can inject ENOSPC or EIO at any step.
 */
export interface DeployFs extends AtomicWriteFs {
  mkdir(dir: string, options: { recursive: true }): Promise<string | undefined>;
  readFile(file: string, encoding: "utf8"): Promise<string>;
  readdir(dir: string): Promise<string[]>;
  stat(file: string): Promise<unknown>;
}

export const nodeDeployFs: DeployFs = {
  ...nodeAtomicWriteFs,
  mkdir: fsp.mkdir,
  readFile: (file, encoding) => fsp.readFile(file, encoding),
  readdir: (dir) => fsp.readdir(dir),
  stat: fsp.stat,
};
