import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { GwsyncError } from "../../src/errors.js";
import { BusyGate } from "../../src/gateway/busy-gate.js";
import { withRetry } from "../../src/gateway/retry.js";

const policy = { retries: 0, minTimeoutMs: 1, factor: 2, maxTimeoutMs: 1_000 };
const busy = () =>
  new GwsyncError("GWSYNC_FETCH_FAILED", "busy", { details: { retryAfterMs: 15, status: 503 } });

/**
 * A control plane that answers busy (Retry-After 15 ms) to every request for its first `busyMs`, as a
 * full one does, then serves; it counts its refusals.
 */
function controlPlane(busyMs: number) {
  const t0 = Date.now();
  let refused = 0;
  let served = 0;
  return {
    get refused() {
      return refused;
    },
    get served() {
      return served;
    },
    async request(): Promise<string> {
      await new Promise((r) => setTimeout(r, 2));
      if (Date.now() - t0 < busyMs) {
        refused++;
        throw busy();
      }
      served++;
      return "served";
    },
  };
}

describe("BusyGate: one gateway's requests behind a busy control plane", () => {
  // 10 calls against a control plane busy for 300 ms that says "retry after 15 ms": 20 rounds of it.
  test("with the gate, after the first round of refusals the gateway asks once per Retry-After, not once per call", async () => {
    const cp = controlPlane(300);
    const gate = new BusyGate();
    await Promise.all(
      Array.from({ length: 10 }, () => withRetry(() => cp.request(), policy, { gate, random: () => 0 })),
    );
    assert.equal(cp.served, 10);
    // The first round (10, sent before any answer) plus about one probe per 15 ms wait (timers run late,
    // so fewer): at most 10 + 300 / 15 + 1.
    assert.ok(cp.refused <= 31, `refusals with the gate: ${cp.refused}`);
    assert.equal(gate.busy, false, "served: the gate is open");
  });

  test("without the gate (the old behaviour) every call asks again after each wait: several times the refusals", async () => {
    const cp = controlPlane(300);
    await Promise.all(
      Array.from({ length: 10 }, () => withRetry(() => cp.request(), policy, { random: () => 0 })),
    );
    assert.equal(cp.served, 10);
    // About 10 per 17 ms round (~170); 40 is four rounds, however late the timers run here.
    assert.ok(cp.refused >= 40, `refusals without the gate: ${cp.refused}`);
  });

  test("while busy, only the probe is in flight", async () => {
    const gate = new BusyGate();
    let inFlight = 0;
    let maxInFlight = 0;
    let refusals = 0;
    const fn = async () => {
      inFlight++;
      // Counted while the control plane still says busy: once one is served, the others may all go.
      if (refusals < 5) maxInFlight = Math.max(maxInFlight, inFlight);
      await new Promise((r) => setTimeout(r, 2));
      inFlight--;
      if (refusals < 5) {
        refusals++;
        throw busy();
      }
      return "ok";
    };
    // One call is refused first, so the gate is shut before the others start.
    const first = withRetry(fn, policy, { gate, random: () => 0 });
    await new Promise((r) => setTimeout(r, 8));
    assert.equal(gate.busy, true);
    maxInFlight = 0;
    const rest = Array.from({ length: 8 }, () => withRetry(fn, policy, { gate, random: () => 0 }));
    await Promise.all([first, ...rest]);
    assert.equal(maxInFlight, 1, "one request at a time while the control plane says busy");
    assert.equal(refusals, 5);
  });

  test("a probe that fails otherwise lets the next waiter probe (no call is stuck behind it)", async () => {
    const gate = new BusyGate();
    let calls = 0;
    const fn = async () => {
      calls++;
      const n = calls;
      await new Promise((r) => setTimeout(r, 2));
      if (n === 1) throw busy();
      if (n === 2) throw new GwsyncError("GWSYNC_FETCH_FAILED", "connection reset");
      return `ok ${n}`;
    };
    const a = withRetry(fn, policy, { gate, random: () => 0 });
    await new Promise((r) => setTimeout(r, 5));
    const b = withRetry(fn, policy, { gate, random: () => 0 });
    const c = withRetry(fn, policy, { gate, random: () => 0 });
    const settled = await Promise.allSettled([a, b, c]);
    // a was refused, then probed and failed with no retries left; b and c were served after it.
    assert.equal(settled.filter((s) => s.status === "rejected").length, 1);
    assert.equal(settled.filter((s) => s.status === "fulfilled").length, 2);
  });

  test("an abort while waiting behind the gate ends that call at once", async () => {
    const gate = new BusyGate();
    const slowBusy = () =>
      new GwsyncError("GWSYNC_FETCH_FAILED", "busy", { details: { retryAfterMs: 10_000, status: 503 } });
    const first = withRetry(
      async () => {
        throw slowBusy();
      },
      { ...policy, maxTimeoutMs: 10_000 },
      { gate, random: () => 0, signal: AbortSignal.timeout(200) },
    );
    await assert.rejects(first);
    const ac = new AbortController();
    const t0 = Date.now();
    const waiting = withRetry(async () => "never sent", policy, { gate, signal: ac.signal });
    setTimeout(() => ac.abort(), 10);
    await assert.rejects(waiting);
    assert.ok(Date.now() - t0 < 2_000, "not the 10 s the gate was told");
  });
});
