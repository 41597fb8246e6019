import assert from "node:assert/strict";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { type Browser, chromium, type Page } from "playwright-core";
import type { Gateway } from "../../src/gateway/gateway.js";
import type { PublisherService } from "../../src/publisher/service.js";
import { authHeader, synapseApi, TEST_PASSWORD, TEST_USER, TestCluster } from "../harness/cluster.js";
import { tempDir } from "../harness/temp-dir.js";

/**
 * Issue 18, the status page in a real browser: Debian's chromium (installed by .ci/run) driven by
 * playwright-core against a running publisher and two gateways on the real broker. Publish an API and
 * see it reach both gateways on the page; make one gateway refuse an artifact and see the refusal and
 * its reason; stop a gateway and see it marked stopped. Screenshots go to a temporary folder, or to
 * GWSYNC_UI_SCREENSHOTS (docs/img for the README).
 */

const CHROMIUM = process.env.GWSYNC_CHROMIUM ?? "/usr/bin/chromium";
/** Playwright's own waits poll the page; this bounds each of them. */
const PAGE_WAIT_MS = 30_000;

describe("the /ui status page in Chromium", () => {
  const cluster = new TestCluster();
  const shots = process.env.GWSYNC_UI_SCREENSHOTS ?? tempDir("gwsync-ui-");
  let svc: PublisherService;
  let url: string;
  let browser: Browser;
  let page: Page;
  let both: Gateway;
  let one: Gateway;
  let apiA: string;

  async function publish(body: string, label: string): Promise<{ apiId: string; revision: number }> {
    const res = await fetch(`${url}/api/v1/artifacts?label=${label}`, {
      method: "POST",
      headers: { authorization: authHeader(), "content-type": body.startsWith("{") ? "application/json" : "application/xml" },
      body,
    });
    assert.equal(res.status, 201, await res.clone().text());
    return (await res.json()) as { apiId: string; revision: number };
  }

  const row = (table: string, text: string) => page.locator(`#${table} tbody tr`, { hasText: text });
  /** The API list's row whose name cell is exactly `name`. */
  const apiRow = (name: string) =>
    page.locator("#apis tbody tr").filter({ has: page.getByRole("cell", { name, exact: true }) });

  before(async () => {
    assert.ok(existsSync(CHROMIUM), `no Chromium at ${CHROMIUM}: apt-get install chromium (.ci/run does), or set GWSYNC_CHROMIUM`);
    mkdirSync(shots, { recursive: true });
    svc = await cluster.startPublisher();
    url = svc.httpUrl!;
    both = await cluster.startGateway({ name: "edge-eu-1", labels: ["Production", "Partners"] });
    one = await cluster.startGateway({ name: "edge-eu-2", labels: ["Production"] });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox", "--disable-gpu"] });
    const context = await browser.newContext({
      httpCredentials: { username: TEST_USER, password: TEST_PASSWORD },
      viewport: { width: 1400, height: 1000 },
    });
    page = await context.newPage();
    page.setDefaultTimeout(PAGE_WAIT_MS);
  });
  after(async () => {
    await browser?.close();
    await cluster.close();
  });

  test("the page needs the credentials and loads nothing from another origin", async () => {
    assert.equal((await fetch(`${url}/ui/`)).status, 401);
    const res = await fetch(`${url}/ui/`, { headers: { authorization: authHeader() } });
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-security-policy") ?? "", /default-src 'none'; script-src 'self'/);
    const html = await res.text();
    assert.doesNotMatch(html, /https?:\/\//, "no external URL in the page");
    const foreign: string[] = [];
    page.on("request", (r) => {
      if (!r.url().startsWith(url)) foreign.push(r.url());
    });
    await page.goto(`${url}/ui`);
    await page.locator("body[data-refreshed]").waitFor();
    assert.deepEqual(foreign, []);
  });

  test("publish an API: the page shows it deployed on both gateways", async () => {
    const a = await publish(
      JSON.stringify({
        apiId: "44444444-0000-4000-8000-000000000001",
        name: "PizzaShack",
        version: "1.0.0",
        provider: "acme--eu",
        tenantDomain: "carbon.super",
        apiDefinition: synapseApi({ provider: "acme--eu", name: "PizzaShack", version: "1.0.0" }),
      }),
      "Production",
    );
    apiA = a.apiId;
    await apiRow("PizzaShack").filter({ hasText: "2 deployed" }).waitFor();
    await apiRow("PizzaShack").click();
    for (const gw of [both, one]) {
      await row("rollout", gw.config.gwsync.nodeId).filter({ hasText: "deployed" }).filter({ hasText: `r${a.revision}` }).waitFor();
    }
    await row("gateways", both.config.gwsync.nodeId).filter({ hasText: "ready" }).waitFor();
    await page.screenshot({ path: path.join(shots, "ui-rollout.png"), fullPage: true });
  });

  test("a gateway refuses an artifact: the refusal and its reason are on the page", async () => {
    // Another API (provider acme, name eu--PizzaShack) whose synapse file is PizzaShack's
    // (acme--eu--PizzaShack_v1.0.0.xml), on the second label: the gateway of both labels refuses it.
    const b = await publish(
      JSON.stringify({
        apiId: "44444444-0000-4000-8000-000000000002",
        name: "eu--PizzaShack",
        version: "1.0.0",
        provider: "acme",
        tenantDomain: "carbon.super",
        apiDefinition: synapseApi({ provider: "acme--eu", name: "PizzaShack", version: "1.0.0", context: "/eu/pizza" }),
      }),
      "Partners",
    );
    const refusal = row("refusals", both.config.gwsync.nodeId).filter({ hasText: "GWSYNC_ARTIFACT_CONFLICT" });
    await refusal.waitFor();
    const text = (await refusal.textContent()) ?? "";
    assert.match(text, new RegExp(`already owned by API ${apiA}`), text);
    assert.match(text, /refused/);
    await apiRow("eu--PizzaShack").filter({ hasText: "1 refused" }).waitFor();
    await apiRow("eu--PizzaShack").click();
    await row("rollout", both.config.gwsync.nodeId).filter({ hasText: "refused" }).filter({ hasText: `r${b.revision} GWSYNC_ARTIFACT_CONFLICT` }).waitFor();
    await page.screenshot({ path: path.join(shots, "ui-refusal.png"), fullPage: true });
  });

  test("a refusal message is shown as text, never run as markup", async () => {
    const node = both.config.gwsync.nodeId;
    const evil = `<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>`;
    // Written the way the publisher records a report; a gateway's report is data, whatever it says.
    await svc.publisher.store.recordGatewayReports(
      [{ nodeId: node, apiId: "forged-api", refusal: { revision: 1, code: "GWSYNC_EVENT_INVALID", message: evil, at: Date.now() }, reportedAt: Date.now() }],
      { replace: false, cursor: (await svc.publisher.store.listReportCursors()).find((c) => c.nodeId === node)! },
    );
    const cell = row("refusals", "forged-api").locator("td.message");
    await cell.waitFor();
    assert.equal(await cell.textContent(), evil);
    assert.equal(await page.evaluate(() => (globalThis as { __pwned?: number }).__pwned), undefined);
    assert.equal(await page.locator("#refusals img").count(), 0);
  });

  test("stop a gateway: the page marks it stopped", async () => {
    const node = one.config.gwsync.nodeId;
    await cluster.stopGateway("edge-eu-2");
    await row("gateways", node).locator(".state.stopped").waitFor();
    await page.locator("#summary", { hasText: "1 stopped" }).waitFor();
    await page.screenshot({ path: path.join(shots, "ui-fleet.png"), fullPage: true });
    for (const f of ["ui-rollout.png", "ui-refusal.png", "ui-fleet.png"]) {
      const png = readFileSync(path.join(shots, f));
      assert.equal(png.subarray(1, 4).toString("latin1"), "PNG", f);
    }
  });
});
