import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";

/** Node 22 LTS or newer everywhere the project names a Node: engines, the image, CI, the docs. */

const read = (file: string) => readFileSync(new URL(`../../${file}`, import.meta.url), "utf8");
const MIN_MAJOR = 22;

describe("Node 22 LTS or newer", () => {
  test("package.json engines, the Dockerfile's base image and .ci/run ask for Node >= 22", () => {
    const engines = (JSON.parse(read("package.json")) as { engines: { node: string } }).engines.node;
    assert.match(engines, /^>=22\.(1[2-9]|[2-9]\d)/, "require(esm) without a warning needs 22.12+");
    assert.match(read("Dockerfile"), /^ARG NODE_IMAGE=node:22-/m);
    const ci = read(".ci/run");
    assert.match(ci, new RegExp(`^NODE_MIN_MAJOR=${MIN_MAJOR}$`, "m"));
    // An older machine gets Node from the npm registry, and native addons build against its headers.
    assert.match(ci, /npm pack --silent "node-linux-\$\{node_arch\}@\$\{NODE_MIN_MAJOR\}"/);
    assert.match(ci, /export npm_config_nodedir="\$node_prefix"/);
    assert.match(read("README.md"), /Node ≥ 22\.12/);
  });

  test("CI runs the suite on Node >= 22 (.ci/run switches to it)", (t) => {
    if (process.env.CI !== "true") {
      t.skip("not under .ci/run (CI=true): this machine's node is the developer's business");
      return;
    }
    assert.ok(Number(process.versions.node.split(".")[0]) >= MIN_MAJOR, process.version);
  });
});
