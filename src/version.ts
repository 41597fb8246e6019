import { readFileSync } from "node:fs";

/**
 * gwsync's version, from package.json (src/ and dist/ both sit one folder below it), so heartbeats,
 * `gwsync --version` and gwsync_build_info never disagree with the package.
 */
export const GWSYNC_VERSION: string = (
  JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string }
).version;
