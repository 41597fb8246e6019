/**
 * A gateway's parts in memory, for unit tests that drive its message path without a broker: its
 * configuration, a Reconciler over a MemoryDeployer, and the deploy notification a publisher sends.
 */
import { loadConfig } from "../../src/config/load-config.js";
import type { GwsyncConfig } from "../../src/config/types.js";
import { deployApiEvent, encodeNotification } from "../../src/events/encode.js";
import { MemoryDeployer } from "../../src/gateway/deploy/memory-deployer.js";
import { Reconciler, type ReconcilerHooks } from "../../src/gateway/reconciler.js";
import type { ArtifactRetriever } from "../../src/gateway/retriever.js";
import { silentLogger } from "../../src/log.js";

/** A gateway configuration (node gw-unit) serving `labels`, its data in `dir`; everything else default. */
export function unitGatewayConfig(dir: string, labels: readonly string[]): GwsyncConfig {
  const text = `[apim.sync_runtime_artifacts.gateway]\ngateway_labels = ${JSON.stringify(labels)}\n[gwsync]\nnode_id = "gw-unit"\ndata_dir = "${dir}"\n`;
  return loadConfig({ text, env: {}, baseDir: dir }).config;
}

/**
 * A Reconciler of `labels` over `retriever` and a fresh MemoryDeployer (content not kept); a failed fetch
 * is tried `retries` times more (default 1), 1 ms apart.
 */
export function memoryReconciler(o: {
  labels: readonly string[];
  retriever: ArtifactRetriever;
  retries?: number;
  hooks?: ReconcilerHooks;
}): { deployer: MemoryDeployer; reconciler: Reconciler } {
  const deployer = new MemoryDeployer({ keepContent: false });
  const reconciler = new Reconciler({
    labels: o.labels,
    retriever: o.retriever,
    deployer,
    policy: { retries: o.retries ?? 1, minTimeoutMs: 1, factor: 1, maxTimeoutMs: 1 },
    logger: silentLogger,
    ...(o.hooks === undefined ? {} : { hooks: o.hooks }),
  });
  return { deployer, reconciler };
}

/** A deploy_api notification for admin's API `name` 1.0.0 (id-<name>, context /<name>) on `labels`, encoded. */
export function encodedDeployApi(name: string, labels: readonly string[]) {
  return encodeNotification(
    deployApiEvent({
      uuid: `id-${name}`,
      name,
      version: "1.0.0",
      provider: "admin",
      context: `/${name}`,
      gatewayLabels: labels,
    }),
  );
}
