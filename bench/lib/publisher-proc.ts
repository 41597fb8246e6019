/**
 * A gwsync publisher in its own process, for the benchmarks that measure what a user sees (REST calls
 * from another process): `node publisher-proc.mjs <config.toml>`. On "start" it starts the publisher
 * service and answers "ready" with its HTTP address; "stats" answers its memory; "stop" closes it.
 */
import { subscribe } from "node:diagnostics_channel";
import { readFileSync } from "node:fs";
import { loadConfig } from "../../src/config/load-config.js";
import { PublisherService } from "../../src/publisher/service.js";
import { type IpcMessage, send, serve } from "./child-ipc.js";
import { nowMs } from "./clock.js";

const configFile = process.argv[2];
if (!configFile) throw new Error("usage: publisher-proc <config.toml>");
const { config } = loadConfig({ text: readFileSync(configFile, "utf8"), role: "publisher", env: {} });

let service: PublisherService | undefined;

/**
 * HTTP requests this process served, by method: GETs are the data API's reads (and the views), POSTs
 * the REST publishes. Counted from Node's own diagnostics channel, nothing added to the service.
 */
const requests = { get: 0, post: 0, other: 0, busy503: 0 };
subscribe("http.server.request.start", (m) => {
  const method = (m as { request: { method?: string } }).request.method;
  if (method === "GET") requests.get++;
  else if (method === "POST") requests.post++;
  else requests.other++;
});
// Answers 503 (the data API's admission control refusing a request, Retry-After given).
subscribe("http.server.response.finish", (m) => {
  if ((m as { response: { statusCode?: number } }).response.statusCode === 503) requests.busy503++;
});

async function handle(m: IpcMessage): Promise<void> {
  switch (m.type) {
    case "start": {
      const svc = new PublisherService({ config });
      await svc.start();
      service = svc;
      send({ type: "ready", t: nowMs(), httpUrl: svc.httpUrl });
      return;
    }
    case "stats": {
      const mem = process.memoryUsage();
      const metrics = service?.publisher.metrics;
      const outbox = {
        published: (await metrics?.eventsPublished.get())?.values.reduce((a, v) => a + v.value, 0) ?? 0,
        coalesced: (await metrics?.outboxCoalesced.get())?.values[0]?.value ?? 0,
      };
      // Connections Node dropped over [gwsync.http] max_connections (and the other HTTP limits).
      const limits: Record<string, number> = {};
      for (const v of (await metrics?.limitExceeded.get())?.values ?? [])
        limits[String(v.labels.limit)] = v.value;
      send({
        type: "stats",
        rss: mem.rss,
        heapUsed: mem.heapUsed,
        requests: { ...requests },
        outbox,
        limits,
        t: nowMs(),
      });
      return;
    }
    case "stop": {
      await service?.close();
      send({ type: "stopped" });
      process.exit(0);
    }
  }
}

serve(handle);
