import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";
import { GatewayMetrics, PublisherMetrics, RelayMetrics } from "../../src/http/metrics.js";

const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
  version: string;
};

/** The gwsync_* families a scrape shows (a histogram counts once). */
async function families(text: Promise<string>): Promise<string[]> {
  return [...(await text).matchAll(/^# TYPE (gwsync_\w+) /gm)].map((m) => m[1]!).sort();
}

const COMMON = ["gwsync_broker_connected", "gwsync_build_info", "gwsync_limit_exceeded_total"];

describe("/metrics: one registry per role, each with only its own families", () => {
  test("publisher, gateway and relay export their own gwsync_* families and nothing of the others", async () => {
    assert.deepEqual(
      await families(new PublisherMetrics().text()),
      [
        ...COMMON,
        "gwsync_changes_pages_total",
        "gwsync_data_api_requests_total",
        "gwsync_events_published_total",
        "gwsync_fleet_gateways",
        "gwsync_outbox_coalesced_total",
        "gwsync_outbox_depth",
        "gwsync_queue_reasserts_total",
        "gwsync_rollout_refused_total",
        "gwsync_signature_rejected_total",
      ].sort(),
    );
    assert.deepEqual(
      await families(new GatewayMetrics().text()),
      [
        ...COMMON,
        "gwsync_applied_seq",
        "gwsync_artifacts_applied_total",
        "gwsync_catch_up_waits_total",
        "gwsync_deployed_apis",
        "gwsync_events_applied_total",
        "gwsync_events_received_total",
        "gwsync_events_rejected_total",
        "gwsync_events_skipped_total",
        "gwsync_fetch_busy_total",
        "gwsync_fetch_retries_total",
        "gwsync_lag_seq",
        "gwsync_publish_to_deployed_seconds",
        "gwsync_queue_reasserts_total",
        "gwsync_signature_rejected_total",
        "gwsync_state_save_failures_total",
      ].sort(),
    );
    assert.deepEqual(
      await families(new RelayMetrics().text()),
      [
        ...COMMON,
        "gwsync_events_rejected_total",
        "gwsync_events_skipped_total",
        "gwsync_relay_backlog",
        "gwsync_relay_catch_up_forwarded_total",
        "gwsync_relay_catch_up_seq",
        "gwsync_relay_forwarded_total",
      ].sort(),
    );
  });

  test("every role exports the process and runtime metrics and gwsync_build_info with the package's version", async () => {
    for (const m of [new PublisherMetrics(), new GatewayMetrics(), new RelayMetrics()]) {
      const text = await m.text();
      for (const family of [
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "nodejs_heap_size_used_bytes",
        "nodejs_eventloop_lag_seconds",
      ]) {
        assert.match(text, new RegExp(`^# TYPE ${family} `, "m"), family);
      }
      const info = /^gwsync_build_info\{([^}]*)\} 1$/m.exec(text)?.[1];
      assert.ok(info, text.slice(0, 300));
      assert.match(info, new RegExp(`version="${pkg.version.replaceAll(".", "\\.")}"`));
      assert.match(info, new RegExp(`node_version="${process.version}"`));
      assert.match(info, /service="(publisher|gateway|relay)"/);
    }
  });
});
