import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { removeTempDirs, tempDir } from "../harness/temp-dir.js";

/**
 * The package as a user gets it: `npm pack` (which builds dist/ through `prepare`), the tarball
 * installed into an empty project, and a strict TypeScript consumer type-checked against it.
 */

const exec = promisify(execFile);
const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const TSC = path.join(ROOT, "node_modules", "typescript", "bin", "tsc");
const STEP_TIMEOUT_MS = 240_000;
const NPM = process.platform === "win32" ? "npm.cmd" : "npm";

/** What src/index.ts exports at run time (types vanish): the contract, in one list. */
const RUNTIME_EXPORTS = [
  "ConfigError",
  "ERROR_CODES",
  "Gateway",
  "GwsyncError",
  "HttpArtifactRetriever",
  "Publisher",
  "PublisherService",
  "Relay",
  "createGateway",
  "createLogger",
  "createPublisher",
  "createRelay",
  "decodeEvent",
  "isConfigError",
  "isGwsyncError",
  "loadConfig",
  "openStore",
  "parseJndiProperties",
  "parseQpidConnectionUrl",
];

const TSCONFIG = {
  compilerOptions: {
    target: "ES2022",
    module: "NodeNext",
    moduleResolution: "NodeNext",
    strict: true,
    noUncheckedIndexedAccess: true,
    exactOptionalPropertyTypes: true,
    // Our declarations and everything they pull in are checked, not trusted.
    skipLibCheck: false,
    noEmit: true,
    types: ["node"],
  },
};

interface Run {
  code: number;
  /** stdout and stderr together. */
  out: string;
  stdout: string;
}

async function run(command: string, args: string[], cwd: string): Promise<Run> {
  try {
    const r = await exec(command, args, { cwd, timeout: STEP_TIMEOUT_MS, maxBuffer: 64 * 1024 * 1024 });
    return { code: 0, out: r.stdout + r.stderr, stdout: r.stdout };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return {
      code: typeof e.code === "number" ? e.code : 1,
      out: `${e.stdout ?? ""}${e.stderr ?? ""}`,
      stdout: e.stdout ?? "",
    };
  }
}

/** Type-check `files` of the consumer project with its strict tsconfig. */
function typecheck(project: string, files: string[]): Promise<Run> {
  writeFileSync(path.join(project, "tsconfig.json"), JSON.stringify({ ...TSCONFIG, files }, null, 2));
  return run(process.execPath, [TSC, "-p", "."], project);
}

/** The README's "From Node" example, as written there. */
function readmeExample(): string {
  const readme = readFileSync(path.join(ROOT, "README.md"), "utf8");
  const block = /From Node[\s\S]*?```ts\n([\s\S]*?)```/.exec(readme)?.[1];
  assert.ok(block, "README.md has no ```ts block after 'From Node:'");
  return block;
}

let packDir = "";
let project = "";
let files: string[] = [];

before(async () => {
  packDir = tempDir("gwsync-pack-");
  const packed = await run(NPM, ["pack", "--json", "--pack-destination", packDir], ROOT);
  assert.equal(packed.code, 0, packed.out);
  // prepare's build prints to stdout before npm's JSON.
  const json = packed.stdout.slice(packed.stdout.indexOf("\n[") + 1);
  const info = (JSON.parse(json) as { filename: string; files: { path: string }[] }[])[0]!;
  files = info.files.map((f) => f.path);
  project = tempDir("gwsync-consumer-");
  writeFileSync(
    path.join(project, "package.json"),
    JSON.stringify({ name: "consumer", private: true, type: "module" }),
  );
  const typesNode = JSON.parse(
    readFileSync(path.join(ROOT, "node_modules", "@types", "node", "package.json"), "utf8"),
  ) as { version: string };
  // No install scripts: type checks and imports do not need better-sqlite3's native addon built.
  const installed = await run(
    NPM,
    [
      "install",
      path.join(packDir, info.filename),
      `@types/node@${typesNode.version}`,
      "--ignore-scripts",
      "--no-audit",
      "--no-fund",
      "--prefer-offline",
    ],
    project,
  );
  assert.equal(installed.code, 0, installed.out);
});

after(() => removeTempDirs());

describe("npm pack", () => {
  test("ships the compiled code, its declarations, the CLI, the status page, the examples and the LICENSE; no sources or tests", () => {
    for (const f of [
      "dist/index.js",
      "dist/index.d.ts",
      "dist/cli/main.js",
      "bin/gwsync.js",
      "ui/index.html",
      "ui/app.js",
      "ui/style.css",
      "LICENSE",
      "README.md",
    ]) {
      assert.ok(files.includes(f), `${f} is not in the package: ${files.join(", ")}`);
    }
    for (const role of ["publisher", "gateway", "relay"]) assert.ok(files.includes(`examples/${role}.toml`));
    assert.deepEqual(
      files.filter(
        (f) => /^(src|test|bench|scripts)\//.test(f) || (f.endsWith(".ts") && !f.endsWith(".d.ts")),
      ),
      [],
    );
    const license = readFileSync(path.join(ROOT, "LICENSE"), "utf8");
    assert.match(license, /Apache License\s+Version 2\.0, January 2004/);
    const pkg = JSON.parse(readFileSync(path.join(ROOT, "package.json"), "utf8")) as Record<string, unknown>;
    assert.equal(pkg.license, "Apache-2.0");
    assert.deepEqual(pkg.exports, {
      ".": { types: "./dist/index.d.ts", default: "./dist/index.js" },
      "./package.json": "./package.json",
    });
  });
});

describe("a strict TypeScript consumer of the installed package", () => {
  test("the README's example type-checks, and results and events are typed", async () => {
    writeFileSync(
      path.join(project, "readme.ts"),
      // The README leaves these three to the reader.
      `declare const synapseXml: string;\ndeclare const jti: string;\ndeclare const expiryTime: number;\n${readmeExample()}\nexport {};\n`,
    );
    writeFileSync(
      path.join(project, "typed.ts"),
      `import { createGateway, createPublisher, loadConfig, type DeployResult, type ReconcileOutcome } from "gwsync";
const { config } = loadConfig({ text: "", role: "gateway" });
const gateway = createGateway({ config });
gateway.events.on("applied", (outcome, apiId) => {
  const o: ReconcileOutcome = outcome;
  const id: string = apiId;
  console.log(o, id);
});
gateway.events.on("startup", (state) => {
  if (state.phase === "done") console.log(state.deployed, state.total);
});
const r: DeployResult = await createPublisher({ config }).deployApi("<api/>", ["Default"]);
const n: number = r.revision;
console.log(n, r.changed === true);
`,
    );
    // One compiler run for both files: each run reads every declaration the package pulls in.
    const r = await typecheck(project, ["readme.ts", "typed.ts"]);
    assert.equal(r.code, 0, r.out);
  });

  test("a wrong call is a type error naming each mistake, and internals are not importable", async () => {
    writeFileSync(
      path.join(project, "wrong.ts"),
      `import { createGateway, createPublisher, loadConfig } from "gwsync";
createPublisher({ nonsense: true }).deployApi(42);
const { config } = loadConfig({ file: "x.toml" });
createPublisher({ config }).deployApi(42, ["Default"]);
createGateway({ config }).events.on("applied", (outcome: number) => outcome);
`,
    );
    writeFileSync(
      path.join(project, "deep.ts"),
      `import { openStore } from "gwsync/dist/store/open-store.js";\nconsole.log(openStore);\n`,
    );
    const r = await typecheck(project, ["wrong.ts", "deep.ts"]);
    assert.notEqual(r.code, 0, "the wrong calls compiled");
    assert.match(
      r.out,
      /wrong\.ts\(2,\d+\): error TS2353: .*'nonsense' does not exist in type 'PublisherOptions'/,
    );
    assert.match(r.out, /wrong\.ts\(2,\d+\): error TS2554: Expected 2-3 arguments, but got 1/);
    assert.match(r.out, /wrong\.ts\(4,\d+\): error TS2345: Argument of type 'number' is not assignable/);
    assert.match(r.out, /wrong\.ts\(5,\d+\): error TS2345/);
    assert.match(
      r.out,
      /deep\.ts\(1,\d+\): error TS2307: Cannot find module 'gwsync\/dist\/store\/open-store\.js'/,
    );
    const node = await run(
      process.execPath,
      ["--input-type=module", "-e", 'await import("gwsync/dist/store/open-store.js")'],
      project,
    );
    assert.notEqual(node.code, 0);
    assert.match(node.out, /ERR_PACKAGE_PATH_NOT_EXPORTED/);
  });
});

describe("loading the installed package", () => {
  test("import gives exactly the public API", async () => {
    const r = await run(
      process.execPath,
      [
        "--input-type=module",
        "-e",
        'const g = await import("gwsync"); console.log(JSON.stringify(Object.keys(g).sort()))',
      ],
      project,
    );
    assert.equal(r.code, 0, r.out);
    assert.deepEqual(JSON.parse(r.stdout), [...RUNTIME_EXPORTS].sort());
  });

  test('require("gwsync") works too (an ES module loaded by require, Node >= 22.12), without a warning', async () => {
    const r = await run(
      process.execPath,
      [
        "--input-type=commonjs",
        "-e",
        'const g = require("gwsync"); console.log(typeof g.createPublisher, typeof g.loadConfig)',
      ],
      project,
    );
    assert.equal(r.code, 0, r.out);
    assert.equal(r.out.trim(), "function function", "output other than the result (a warning?)");
  });

  test("the installed CLI runs from dist/", async () => {
    const r = await run(
      process.execPath,
      [path.join(project, "node_modules", "gwsync", "bin", "gwsync.js"), "--version"],
      project,
    );
    assert.equal(r.code, 0, r.out);
    const pkg = JSON.parse(readFileSync(path.join(ROOT, "package.json"), "utf8")) as { version: string };
    assert.equal(r.stdout.trim(), pkg.version);
  });
});
