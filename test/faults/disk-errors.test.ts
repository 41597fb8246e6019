import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import { mkdirSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { type GwsyncError, isGwsyncError } from "../../src/errors.js";
import { type DeployFs, nodeDeployFs } from "../../src/gateway/deploy/deploy-fs.js";
import type { ApiDeployer } from "../../src/gateway/deploy/deployer.js";
import { FileDeployer } from "../../src/gateway/deploy/file-deployer.js";
import { SqliteArtifactStore } from "../../src/store/sqlite/sqlite-store.js";
import { assertClean } from "../harness/invariants.js";
import { waitFor } from "../harness/wait.js";
import { FaultWorld, PASSWORD, pollUntil, tinyApi, USER } from "./world.js";

const LABEL = "E";
const APIS = 5;
/** Deploys that must fail while the fault is on, before it is lifted. */
const FAILURES_BEFORE_HEAL = 8;

type Step = "write" | "sync" | "rename";

/** node's fs with one kind of call failing (errno `code`) for as long as the fault is on. */
function faultyFs(): DeployFs & { fault: { step: Step; code: string } | undefined } {
  const state: { fault: { step: Step; code: string } | undefined } = { fault: undefined };
  const trip = (step: Step, file: string) => {
    // The state file's own writes fail too on a real full disk; faults here target the artifacts.
    if (state.fault?.step === step && !file.includes("gateway-state")) {
      throw Object.assign(new Error(`${state.fault.code}: injected on ${step}`), { code: state.fault.code });
    }
  };
  return {
    ...nodeDeployFs,
    get fault() {
      return state.fault;
    },
    set fault(f) {
      state.fault = f;
    },
    async open(file, flags, mode) {
      const handle = await nodeDeployFs.open(file, flags, mode);
      return {
        writeFile: async (data, enc) => {
          trip("write", file);
          await handle.writeFile(data, enc);
        },
        sync: async () => {
          if (flags !== "r") trip("sync", file);
          await handle.sync();
        },
        close: () => handle.close(),
      };
    },
    async rename(from, to) {
      trip("rename", to);
      await nodeDeployFs.rename(from, to);
    },
  };
}

/** The deployer the gateway gets, reporting every error its deploys throw (the typed error under test). */
function spyDeployer(inner: FileDeployer, errors: EventEmitter & { inFlight?: number }): ApiDeployer {
  errors.inFlight = 0;
  return {
    load: () => inner.load(),
    deploy: (dto, meta, options) => {
      errors.inFlight = (errors.inFlight ?? 0) + 1;
      return inner
        .deploy(dto, meta, options)
        .catch((err: unknown) => {
          errors.emit("error-seen", err);
          throw err;
        })
        .finally(() => {
          errors.inFlight = (errors.inFlight ?? 1) - 1;
          errors.emit("settled");
        });
    },
    undeploy: (id, options) => inner.undeploy(id, options),
    flush: () => inner.flush(),
    deployed: () => inner.deployed(),
    get size() {
      return inner.size;
    },
    get: (id) => inner.get(id),
  };
}

/** Every file under dir with its content (temp files included: none may be left). */
function tree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const p of readdirSync(dir, { recursive: true }) as string[]) {
    const full = join(dir, p);
    if (statSync(full).isFile()) out[p] = readFileSync(full, "utf8");
  }
  return out;
}

describe("deploy-disk errors on a live gateway (ENOSPC, EIO)", () => {
  const world = new FaultWorld();
  after(() => world.close());

  const cases: { step: Step; code: string; typed: string }[] = [
    { step: "write", code: "ENOSPC", typed: "GWSYNC_DEPLOY_DISK_FULL" },
    { step: "sync", code: "EIO", typed: "GWSYNC_DEPLOY_IO" },
    { step: "rename", code: "EIO", typed: "GWSYNC_DEPLOY_IO" },
  ];

  test(`${cases.map((c) => `${c.code} on ${c.step}`).join(", ")}: a typed error, the previous version kept, nothing partial, then caught up`, async () => {
    const svc = await world.startPublisher();
    const pub = svc.publisher;
    const fs = faultyFs();
    const errors = new EventEmitter();
    const seen: unknown[] = [];
    errors.on("error-seen", (e) => seen.push(e));
    mkdirSync(world.dataDir("gw"), { recursive: true });
    const inner = new FileDeployer({
      deploymentDir: world.deploymentDir("gw"),
      stateFile: world.stateFile("gw"),
      fs,
    });
    // Catch-up on a short timer: a message whose redeliveries all hit the full disk is dead-lettered;
    // the changelog brings its change once the disk is back.
    await world.startGateway(
      { name: "gw", labels: [LABEL], catchUpMs: 300 },
      { deployer: spyDeployer(inner, errors) },
    );
    let revision = 0;
    const ids: string[] = [];
    for (let i = 0; i < APIS; i++)
      ids.push((await pub.deployApi(tinyApi(`Disk${i}`, ++revision), [LABEL])).apiId);
    await world.waitConverged("gw");

    for (const c of cases) {
      const before = tree(world.deploymentDir("gw"));
      await inner.flush(); // the state file is written a moment after a burst: make it current
      const stateBefore = readFileSync(world.stateFile("gw"), "utf8");
      seen.length = 0;
      fs.fault = { step: c.step, code: c.code };
      for (let i = 0; i < APIS; i++) await pub.deployApi(tinyApi(`Disk${i}`, ++revision), [LABEL]);
      await waitFor(
        errors,
        "error-seen",
        () => seen.length >= FAILURES_BEFORE_HEAL,
        `${FAILURES_BEFORE_HEAL} failed deploys (${c.code} on ${c.step})`,
      );
      for (const err of seen) {
        assert.ok(isGwsyncError(err), `a GwsyncError, got ${String(err)}`);
        assert.equal((err as GwsyncError).code, c.typed);
        assert.equal((err as GwsyncError).retryable, true, "a disk error may pass: retryable");
        assert.match((err as Error).message, new RegExp(`cannot deploy API .*${c.code}`));
      }
      // Judge the folder between two attempts (deliveries keep retrying): read it synchronously at a
      // moment no deploy is in flight, so no attempt's own temp file is mistaken for a leftover.
      let during: Record<string, string> = {};
      const errorsWithCount = errors as EventEmitter & { inFlight?: number };
      await waitFor(
        errors,
        "settled",
        () => {
          if (errorsWithCount.inFlight !== 0) return false;
          during = tree(world.deploymentDir("gw"));
          return true;
        },
        "a moment between attempts",
      );
      assert.deepEqual(during, before, "every file still holds the previous version; no temp file left");
      // A failed rename marks the API for a full rewrite (its sha256 becomes ""); the files stay as they were.
      if (c.step !== "rename")
        assert.equal(
          readFileSync(world.stateFile("gw"), "utf8"),
          stateBefore,
          "the last-known-good state is unchanged",
        );
      fs.fault = undefined;
      await world.waitConverged("gw", 30_000);
      console.log(`${c.code} on ${c.step}: ${seen.length} typed errors, then caught up`);
    }
    assertClean(await world.judge("gw"));
  });
});

describe("SQLite store full", () => {
  const world = new FaultWorld();
  after(() => world.close());

  test("a full store refuses the publish with GWSYNC_STORE_FULL (HTTP 507), keeps the previous version and writes nothing", async () => {
    mkdirSync(join(world.root, "publisher"), { recursive: true });
    // 4 KiB pages: the schema plus a few dozen small artifacts.
    const store = SqliteArtifactStore.open(world.dbFile, { maxPageCount: 64 });
    const svc = await world.startPublisher({}, { store });
    const pub = svc.publisher;
    await world.startGateway({ name: "gw", labels: [LABEL] });
    const victim = await pub.deployApi(tinyApi("Victim", 1), [LABEL]);

    // Fill with big artifacts, then smaller and smaller ones, until not even a tiny one fits; the
    // outbox rows of the fill are deleted once confirmed (space freed), so fill until that is over too.
    let full: unknown;
    let fill = 0;
    for (let round = 0; round < 20; round++) {
      let added = 0;
      for (const pad of [2000, 200, 0]) {
        for (let i = 0; i < 1000; i++) {
          try {
            await pub.deployApi(tinyApi(`Fill${fill++}`, 1, pad), [LABEL]);
            added++;
          } catch (err) {
            full = err;
            break;
          }
        }
      }
      await pollUntil(async () => (await store.outboxDepth()) === 0, "the fill's events to be confirmed");
      if (added === 0) break;
    }
    assert.ok(isGwsyncError(full), `the store filled up with a GwsyncError, got ${String(full)}`);
    assert.equal((full as GwsyncError).code, "GWSYNC_STORE_FULL");
    assert.equal((full as GwsyncError).retryable, false);

    const head = await store.headSeq();
    const depth = await store.outboxDepth();
    await assert.rejects(
      () => pub.deployApi(tinyApi("Victim", 2, 8000), [LABEL]),
      (err: unknown) =>
        isGwsyncError(err) && err.code === "GWSYNC_STORE_FULL" && /free disk space/.test(err.message),
    );
    const res = await fetch(`${svc.httpUrl}/api/v1/artifacts?label=${LABEL}`, {
      method: "POST",
      body: tinyApi("Victim", 3, 8000),
      headers: {
        "content-type": "application/xml",
        authorization: `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString("base64")}`,
      },
    });
    assert.equal(res.status, 507);
    assert.equal(((await res.json()) as { code: string }).code, "GWSYNC_STORE_FULL");
    assert.equal(
      (await store.getArtifact(victim.apiId, LABEL))?.sha256,
      victim.sha256,
      "the previous version is kept",
    );
    assert.equal(await store.headSeq(), head, "no changelog row");
    assert.equal(await store.outboxDepth(), depth, "no outbox row");
    await world.waitConverged("gw");
    assert.equal(world.gateways.get("gw")!.deployer.get(victim.apiId)?.sha256, victim.sha256);
    assertClean(await world.judge("gw"));
  });
});
