/**
 * B1's lsyncd row states what its goal asks of the machine: the same run's raw AMQP path is the
 * fastest any pipeline over the broker can be, so when raw itself is less than 20× faster than lsyncd,
 * the row says the goal is beyond the transport (issue 19: raw 3.98 ms against lsyncd 47.94 ms, 12.0×).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { lsyncdCeiling } from "../../bench/b1-latency.js";

test("raw AMQP less than 20× faster than lsyncd: the goal is beyond the transport, by how much", () => {
  const note = lsyncdCeiling(47.94, 3.98, 10.09);
  assert.match(note, /gwsync 4\.8× faster than lsyncd/);
  assert.match(note, /raw AMQP in the same run \(p50 3\.98 ms\) is 12\.0× faster than lsyncd/);
  // 20 × 3.98 / 47.94 = 1.66: gwsync would have to beat raw AMQP by that much.
  assert.match(note, /beyond the transport here: it would take gwsync 1\.66× faster than raw AMQP itself/);
});

test("raw AMQP at least 20× faster than lsyncd: the goal is reachable, and the p50 it needs is named", () => {
  const note = lsyncdCeiling(100, 4, 10);
  assert.match(note, /is 25\.0× faster than lsyncd/);
  assert.match(note, /within the transport's reach here \(gwsync needs p50 ≤ 5\.00 ms\)/);
});
