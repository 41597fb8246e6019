import assert from "node:assert/strict";
import { subscribe, unsubscribe } from "node:diagnostics_channel";
import { performance } from "node:perf_hooks";
import { describe, test } from "node:test";
import { HOP_CHANNEL, type HopRecord, hop } from "../../src/hops.js";

describe("hop timestamps (src/hops.ts)", () => {
  test("a subscriber of gwsync:hop gets each hop with its name, key and a timestamp on the process clock", () => {
    const seen: HopRecord[] = [];
    const fn = (m: unknown) => void seen.push(m as HopRecord);
    subscribe(HOP_CHANNEL, fn);
    try {
      const before = performance.timeOrigin + performance.now();
      hop("publisher.committed", "api-1");
      hop("gateway.acked");
      const after = performance.timeOrigin + performance.now();
      assert.deepEqual(
        seen.map((h) => [h.hop, h.key]),
        [
          ["publisher.committed", "api-1"],
          ["gateway.acked", undefined],
        ],
      );
      for (const h of seen) assert.ok(h.t >= before && h.t <= after, `${h.t} within [${before}, ${after}]`);
    } finally {
      unsubscribe(HOP_CHANNEL, fn);
    }
  });

  test("without a subscriber nothing is recorded (a later subscriber sees only later hops)", () => {
    hop("publisher.received");
    const seen: HopRecord[] = [];
    const fn = (m: unknown) => void seen.push(m as HopRecord);
    subscribe(HOP_CHANNEL, fn);
    try {
      hop("publisher.answered", "x");
      assert.deepEqual(
        seen.map((h) => h.hop),
        ["publisher.answered"],
      );
    } finally {
      unsubscribe(HOP_CHANNEL, fn);
    }
  });
});
