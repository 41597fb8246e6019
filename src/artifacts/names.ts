import fs from "node:fs";
import path from "node:path";
import { GwsyncError } from "../errors.js";
import { ARTIFACT_FOLDERS, type ArtifactKind, type SynapseApiInfo } from "./types.js";

/** Longest artifact name (API, sequence, endpoint, local entry), characters. */
export const MAX_NAME_LENGTH = 200;
/** Longest file name most Linux file systems take (NAME_MAX), bytes. */
export const MAX_FILE_NAME_BYTES = 255;
/** Longest API version, characters. */
export const MAX_VERSION_LENGTH = 100;

export const ARTIFACT_FILE_EXTENSION = ".xml";
/** WSO2 writes a versioned API as `<name>_v<version>.xml`. */
export const API_VERSION_FILE_INFIX = "_v";

/**
 * Names WSO2 generates: letters, digits and `._:@-`, starting with a letter, digit or `_` (default
 * sequences are `_auth_failure_handler_`). `:` stays allowed because per-API sequences are named
 * `admin--PizzaShack:v1.0.0--In` and WSO2 writes them as is on Linux; there are no separators, no
 * spaces, no `%` (so nothing URL-decodes into one) and only ASCII (no look-alike dots such as `．`).
 */
const NAME_PATTERN = /^[A-Za-z0-9_][A-Za-z0-9._:@-]*$/;
const VERSION_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
/** Device names Windows reserves whatever the extension (`CON`, `con.xml`, `LPT1.txt`). */
const WINDOWS_DEVICE = /^(CON|PRN|AUX|NUL|COM[0-9]|LPT[0-9]|CONIN\$|CONOUT\$)(\.|$)/i;

/** Why `name` is not a safe artifact name, or undefined when it is. */
export function nameProblem(name: string, maxLength = MAX_NAME_LENGTH): string | undefined {
  if (typeof name !== "string" || name.length === 0) return "it is empty";
  if (name.length > maxLength) return `it is ${name.length} characters long, over ${maxLength}`;
  if (!NAME_PATTERN.test(name)) {
    return "it may hold only letters, digits and . _ : @ - and must start with a letter, digit or _";
  }
  if (name.includes("..")) return 'it contains ".."';
  if (name.endsWith(".")) return 'it ends with "."';
  if (WINDOWS_DEVICE.test(name)) return "it is a reserved device name";
  return undefined;
}

export function isSafeName(name: string): boolean {
  return nameProblem(name) === undefined;
}

/** Throws GWSYNC_ARTIFACT_NAME_UNSAFE naming `what` unless `name` is safe (see NAME_PATTERN). */
export function checkName(name: string, what: string): void {
  const problem = nameProblem(name);
  if (problem !== undefined) throw unsafe(what, name, problem);
}

export function checkVersion(version: string, what: string): void {
  if (version.length > MAX_VERSION_LENGTH || !VERSION_PATTERN.test(version) || version.includes("..")) {
    throw unsafe(
      what,
      version,
      `a version may hold only letters, digits and . _ - (no ".."), start with a letter or digit, and be at most ${MAX_VERSION_LENGTH} characters`,
    );
  }
}

/** Throws GWSYNC_ARTIFACT_NAME_UNSAFE unless `fileName` is a safe `*.xml` file name. */
export function checkFileName(fileName: string, what = "artifact file name"): void {
  const problem = nameProblem(fileName, MAX_FILE_NAME_BYTES);
  if (problem !== undefined) throw unsafe(what, fileName, problem);
  if (!fileName.endsWith(ARTIFACT_FILE_EXTENSION)) {
    throw unsafe(what, fileName, `it must end with ${ARTIFACT_FILE_EXTENSION}`);
  }
}

/**
 * WSO2's API file name: `<provider>--<apiName>_v<version>.xml`, or `<name>.xml` for an API without a
 * version attribute (WSO2 ships `api/_OpenService_.xml`; default-version APIs have no version either).
 */
export function apiFileName(info: Pick<SynapseApiInfo, "synapseName" | "version">): string {
  checkName(info.synapseName, "API name");
  if (info.version === "") return `${info.synapseName}${ARTIFACT_FILE_EXTENSION}`;
  checkVersion(info.version, `version of API ${info.synapseName}`);
  const fileName = `${info.synapseName}${API_VERSION_FILE_INFIX}${info.version}${ARTIFACT_FILE_EXTENSION}`;
  checkFileName(fileName, `file name of API ${info.synapseName}`);
  return fileName;
}

/** `<name>.xml` for a sequence, endpoint or local entry. */
export function artifactFileName(kind: Exclude<ArtifactKind, "api">, name: string): string {
  checkName(name, `${kind} name`);
  return `${name}${ARTIFACT_FILE_EXTENSION}`;
}

export function sequenceFileName(name: string): string {
  return artifactFileName("sequence", name);
}
export function endpointFileName(name: string): string {
  return artifactFileName("endpoint", name);
}
export function localEntryFileName(name: string): string {
  return artifactFileName("localEntry", name);
}

/** `api/x.xml` — the relative path WSO2's layout gives a file (always `/`, whatever the platform). */
export function relPathOf(kind: ArtifactKind, fileName: string): string {
  // One flat string instead of a tree of concatenated pieces: deploy records keep it for every file.
  return Buffer.from(`${ARTIFACT_FOLDERS[kind]}/${fileName}`, "utf8").toString("utf8");
}

/** Parses a relative path read back from disk (state file): `<known folder>/<safe file name>`. */
export function parseRelPath(relPath: string): { kind: ArtifactKind; fileName: string } {
  const slash = relPath.indexOf("/");
  const folder = relPath.slice(0, slash);
  const fileName = relPath.slice(slash + 1);
  const kind = (Object.keys(ARTIFACT_FOLDERS) as ArtifactKind[]).find((k) => ARTIFACT_FOLDERS[k] === folder);
  if (slash === -1 || kind === undefined) {
    throw unsafe(
      "deployed file path",
      relPath,
      `it must be <${Object.values(ARTIFACT_FOLDERS).join("|")}>/<file>`,
    );
  }
  checkFileName(fileName, "deployed file path");
  return { kind, fileName };
}

/**
 * The absolute path of `fileName` in the `kind` folder under `root`, asserting it stays inside root:
 * the name is checked, the joined path must sit directly in the folder, and when the folder exists its
 * real path (symlinks resolved) must be inside root's real path. Throws GWSYNC_ARTIFACT_NAME_UNSAFE.
 */
export function safeJoin(root: string, kind: ArtifactKind, fileName: string): string {
  checkFileName(fileName);
  const folder = artifactFolder(root, kind);
  return joinInFolder(folder, fileName);
}

/** The absolute `kind` folder under root, with the symlink check of safeJoin (once per folder is enough). */
export function artifactFolder(root: string, kind: ArtifactKind): string {
  const rootAbs = path.resolve(root);
  const folder = path.join(rootAbs, ARTIFACT_FOLDERS[kind]);
  const realRoot = realpathOr(rootAbs, rootAbs);
  // A folder not created yet will be created inside the real root.
  const realFolder = realpathOr(folder, path.join(realRoot, ARTIFACT_FOLDERS[kind]));
  if (!isInside(realRoot, realFolder)) {
    throw unsafe(
      "artifact folder",
      folder,
      `it resolves to ${realFolder}, outside the deployment folder ${realRoot}; remove the symlink`,
    );
  }
  return folder;
}

/** Joins a checked file name to a folder already known to be safe; asserts the result is a direct child. */
export function joinInFolder(folder: string, fileName: string): string {
  const full = path.join(folder, fileName);
  if (path.dirname(full) !== folder || path.basename(full) !== fileName) {
    throw unsafe("artifact file name", fileName, `it resolves outside ${folder}`);
  }
  return full;
}

export function isInside(root: string, candidate: string): boolean {
  const rel = path.relative(root, candidate);
  return rel === "" || (rel !== ".." && !rel.startsWith(`..${path.sep}`) && !path.isAbsolute(rel));
}

function realpathOr(p: string, missing: string): string {
  try {
    return fs.realpathSync(p);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return missing;
    throw err;
  }
}

function unsafe(what: string, value: string, problem: string): GwsyncError {
  const shown = value.length > 80 ? `${JSON.stringify(value.slice(0, 80))}…` : JSON.stringify(value);
  return new GwsyncError("GWSYNC_ARTIFACT_NAME_UNSAFE", `${what} ${shown} is not safe: ${problem}`, {
    details: { what },
  });
}
