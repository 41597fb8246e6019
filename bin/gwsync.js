#!/usr/bin/env node
// In a checkout (src/ beside bin/, tsx installed) the CLI runs the TypeScript sources through tsx, so
// what runs is what the tests test, never a stale dist/. An installed package ships dist/ only.
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const source = join(root, "src", "cli", "main.ts");
const compiled = join(root, "dist", "cli", "main.js");

async function tsx() {
  try {
    return await import("tsx/esm/api");
  } catch {
    return undefined;
  }
}

const api = existsSync(source) ? await tsx() : undefined;
if (api) {
  api.register();
  await import(pathToFileURL(source).href);
} else if (existsSync(compiled)) {
  await import(pathToFileURL(compiled).href);
} else {
  process.stderr.write(`gwsync: ${compiled} is missing; run "npm run build" (or "npm ci", which builds it)\n`);
  process.exitCode = 1;
}
