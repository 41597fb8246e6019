import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { Writable } from "node:stream";
import { after, before, describe, test } from "node:test";
import { deployApiEvent, encodeNotification } from "../../src/events/encode.js";
import type { Gateway } from "../../src/gateway/gateway.js";
import { HttpArtifactRetriever } from "../../src/gateway/retriever.js";
import { createLogger } from "../../src/log.js";
import { FaultControlPlane } from "../harness/fault-http.js";
import { assertClean } from "../harness/invariants.js";
import { counter, waitFor } from "../harness/wait.js";
import { FaultWorld, PASSWORD, publishMessages, tinyApi, USER } from "./world.js";

const LABEL = "F";
/** deployment_retry_duration: the first wait; each next one is × retry_progression_factor (2). */
const RETRY_MS = 50;
const MAX_RETRIES = 6;
/** The gateway's fetch timeout in this test (the default is 30 s). */
const FETCH_TIMEOUT_MS = 300;
/** Timers fire a little early or late; backoff is checked with this slack. */
const TIMER_SLACK_MS = 5;

/** The gaps between successive requests: p-retry waits minTimeout × factor^(n-1) × random(1..2). */
function gaps(times: number[]): number[] {
  return times.slice(1).map((t, i) => t - times[i]!);
}

describe("artifact fetch failures", () => {
  const world = new FaultWorld();
  const cp = new FaultControlPlane(() => world.publisherUrl);
  const logLines: string[] = [];
  let gw: Gateway;

  before(async () => {
    await world.startPublisher();
    await cp.up();
    const capture = new Writable({
      write(chunk: Buffer, _enc, done) {
        logLines.push(
          ...chunk
            .toString()
            .split("\n")
            .filter((l) => l !== ""),
        );
        done();
      },
    });
    gw = await world.startGateway(
      { name: "gw", labels: [LABEL], serviceUrl: cp.url, retryMs: RETRY_MS, maxRetries: MAX_RETRIES },
      {
        logger: createLogger({ level: "info", destination: capture }),
        retriever: new HttpArtifactRetriever({
          serviceUrl: cp.url,
          username: USER,
          password: PASSWORD,
          timeoutMs: FETCH_TIMEOUT_MS,
        }),
      },
    );
  });
  after(async () => {
    await cp.down();
    await world.close();
  });

  test("500s are retried with exponential backoff until the control plane answers, then the API is deployed", async () => {
    const FAILURES = 4;
    const pub = world.publisher!.publisher;
    let failed = 0;
    let apiId = "";
    cp.rule = (r) => (r.apiId === apiId && failed++ < FAILURES ? "error" : "forward");
    const retries = counter(gw.events, "fetch-retry");
    apiId = (await pub.deployApi(tinyApi("Flaky500", 1), [LABEL])).apiId;
    await waitFor(
      gw.events,
      "applied",
      () => gw.deployer.get(apiId) !== undefined,
      "Flaky500 deployed after the 500s",
    );
    const seen = cp.requestsFor(apiId);
    assert.deepEqual(
      seen.map((r) => r.fault),
      [...Array(FAILURES).fill("error"), "forward"],
    );
    // The requests for this API prove its retries exactly (above); the gateway-wide retry count may be
    // higher: under load another fetch (the connect-time changelog read, 300 ms timeout here) can retry too.
    assert.ok(retries.count >= FAILURES, `at least ${FAILURES} retries counted, saw ${retries.count}`);
    for (const [i, gap] of gaps(seen.map((r) => r.t)).entries()) {
      assert.ok(
        gap >= RETRY_MS * 2 ** i - TIMER_SLACK_MS,
        `wait ${i + 1} was ${gap} ms, at least ${RETRY_MS * 2 ** i} ms`,
      );
    }
    console.log(`500s: waits between attempts ${gaps(seen.map((r) => r.t)).join(", ")} ms`);
  });

  test(`a control plane that does not answer is timed out (${FETCH_TIMEOUT_MS} ms here) and retried`, async () => {
    const HANGS = 2;
    const pub = world.publisher!.publisher;
    let hung = 0;
    let apiId = "";
    cp.rule = (r) => (r.apiId === apiId && hung++ < HANGS ? "hang" : "forward");
    apiId = (await pub.deployApi(tinyApi("Hangs", 1), [LABEL])).apiId;
    await waitFor(
      gw.events,
      "applied",
      () => gw.deployer.get(apiId) !== undefined,
      "Hangs deployed after the timeouts",
    );
    const seen = cp.requestsFor(apiId);
    assert.deepEqual(
      seen.map((r) => r.fault),
      ["hang", "hang", "forward"],
    );
    for (const gap of gaps(seen.map((r) => r.t)))
      assert.ok(gap >= FETCH_TIMEOUT_MS - TIMER_SLACK_MS, `a hung fetch gave up after ${gap} ms`);
  });

  // WSO2 retries a 404 like any non-200 (carbon-apimgt 4.x APIUtil.java:596-627, called from
  // DBRetriever.java:85 and 222) and never undeploys on it: InMemoryAPIDeployer.java:181-199 throws on an
  // empty answer and deployAPI (lines 99-117) undeploys only after a successful fetch.
  test("a 404 for a DEPLOY is retried as WSO2 does, then the message is acknowledged and the live API kept", async () => {
    const pub = world.publisher!.publisher;
    cp.rule = () => "forward";
    const apiId = (await pub.deployApi(tinyApi("Lagging", 1), [LABEL])).apiId;
    await waitFor(gw.events, "applied", () => gw.deployer.get(apiId) !== undefined, "Lagging deployed");
    const live = gw.deployer.get(apiId)!;
    // The control plane lags (a replica behind): it answers 404 for the API's next revision.
    cp.rule = (r) => (r.apiId === apiId ? "notfound" : "forward");
    const retries = counter(gw.events, "fetch-retry");
    const notFound = () => cp.requestsFor(apiId).filter((r) => r.fault === "notfound").length;
    // The DEPLOY of revision 2 is settled once the last retry was answered and a notification handled.
    let settled: string | undefined;
    const onHandled = (stream: string, kind: string) => {
      if (stream === "notification" && notFound() === 1 + MAX_RETRIES) settled ??= kind;
    };
    gw.events.on("handled", onHandled);
    await pub.deployApi(tinyApi("Lagging", 2), [LABEL]);
    await waitFor(
      gw.events,
      "handled",
      () => settled !== undefined,
      "the DEPLOY of revision 2 to be handled",
    );
    gw.events.removeListener("handled", onHandled);
    assert.equal(settled, "ack", "acknowledged, not requeued");
    assert.equal(notFound(), 1 + MAX_RETRIES, "asked, then retried max_retry_count times, no more");
    // Every failed attempt is counted (the gateway-wide counter may also count another fetch's retry).
    assert.ok(retries.count >= 1 + MAX_RETRIES, `at least ${1 + MAX_RETRIES} counted, saw ${retries.count}`);
    assert.equal(gw.deployer.get(apiId)?.sha256, live.sha256, "the live revision is still deployed");
    const report = logLines.find((l) => l.includes(apiId) && l.includes("404"));
    assert.ok(report, "the 404 is reported in the log with the API id");
    // The control plane catches up: the changelog (not another event) brings revision 2.
    cp.rule = () => "forward";
    // The first call may join a catch-up already under way; the second reads the changelog afresh.
    await gw.catchUp();
    await gw.catchUp();
    assert.equal(gw.deployer.get(apiId)?.revision, 2, "the changelog catch-up deploys revision 2");
  });

  test("a 404 for an API never published: retried, acknowledged, nothing deployed", async () => {
    cp.rule = () => "forward";
    // An event for an API the control plane does not have (removed before the gateway asked).
    const apiId = randomUUID();
    const enc = encodeNotification(
      deployApiEvent({
        uuid: apiId,
        name: "Gone",
        version: "1.0.0",
        provider: "admin",
        context: "/gone",
        gatewayLabels: [LABEL],
      }),
    );
    const handled: string[] = [];
    const onHandled = (_s: string, kind: string, id: string | undefined) =>
      id === enc.eventId && handled.push(kind);
    gw.events.on("handled", onHandled);
    await publishMessages(world.exchange, [
      { topic: "notification", messageId: enc.eventId, body: enc.body, headers: {} },
    ]);
    await waitFor(
      gw.events,
      "handled",
      () => handled.length >= 1,
      "the event for the missing API to be handled",
    );
    gw.events.removeListener("handled", onHandled);
    assert.deepEqual(handled, ["ack"], "acknowledged once, not requeued");
    assert.equal(cp.requestsFor(apiId).length, 1 + MAX_RETRIES, "asked, then retried");
    assert.equal(gw.deployer.get(apiId), undefined);
  });

  test("a 404 confirms a REMOVE: asked once, the API undeployed", async () => {
    const pub = world.publisher!.publisher;
    cp.rule = () => "forward";
    const apiId = (await pub.deployApi(tinyApi("Removed", 1), [LABEL])).apiId;
    await waitFor(gw.events, "applied", () => gw.deployer.get(apiId) !== undefined, "Removed deployed");
    const asked = cp.requestsFor(apiId).length;
    // Retries of this API's fetch (its 404 names it); another fetch may retry under load.
    const retries = counter(gw.events, "fetch-retry", (err) => (err as Error).message.includes(apiId));
    await pub.removeApi(apiId, [LABEL]);
    await waitFor(gw.events, "applied", () => gw.deployer.get(apiId) === undefined, "Removed undeployed");
    assert.equal(cp.requestsFor(apiId).length - asked, 1, "asked once");
    assert.equal(retries.count, 0, "no retry");
    assertClean(await world.judge("gw"));
  });
});
