import type { Command } from "commander";
import { GwsyncError } from "../errors.js";
import { fleetStatus, gatewayState } from "../publisher/fleet-status.js";
import { fleetView, type Rollout, rolloutView } from "../publisher/fleet-view.js";
import { resolveApiRef } from "../publisher/publisher.js";
import { openStore } from "../store/open-store.js";
import type { ForgetResult } from "./rest-client.js";
import { cliLogger } from "./common.js";
import { renderRollout, renderStatus, type StatusReport } from "./status-render.js";
import { addTargetOptions, resolveTarget, type Target, type TargetOptions } from "./target.js";

async function readStatus(target: Target): Promise<StatusReport> {
  if (target.kind === "rest") {
    const [status, fleet] = await Promise.all([target.client.status(), target.client.fleet()]);
    return { ...status, fleet };
  }
  const { database, gwsync } = target.config;
  const store = openStore(database, { readonly: true, region: gwsync.region });
  try {
    return { ...(await fleetStatus(store)), fleet: await fleetView(store) };
  } finally {
    await store.close();
  }
}

async function readRollout(target: Target, ref: string, tenantDomain?: string): Promise<Rollout> {
  if (target.kind === "rest") return target.client.rollout(ref, tenantDomain);
  const { database, gwsync } = target.config;
  const store = openStore(database, { readonly: true, region: gwsync.region });
  try {
    const r = await rolloutView(store, await resolveApiRef(store, ref, tenantDomain));
    if (r === undefined) throw new GwsyncError("GWSYNC_NOT_FOUND", `API ${ref} is not in the store`);
    return r;
  } finally {
    await store.close();
  }
}

async function forget(target: Target, nodeId: string): Promise<ForgetResult> {
  if (target.kind === "rest") return target.client.forgetGateway(nodeId);
  const { database, gwsync } = target.config;
  const store = openStore(database, { region: gwsync.region });
  try {
    const known = (await store.listGateways()).find((g) => g.nodeId === nodeId);
    if (known === undefined || !(await store.forgetGateway(nodeId))) {
      throw new GwsyncError("GWSYNC_NOT_FOUND", `no gateway ${nodeId} has been seen`);
    }
    return { nodeId, forgotten: true, state: gatewayState(known, Date.now()) };
  } finally {
    await store.close();
  }
}

export function registerStatus(program: Command): void {
  const status = addTargetOptions(
    program
      .command("status")
      .description(
        "what the store holds (APIs per label, head sequence, outbox) and every gateway seen: ready, stale, starting, stopped or missing, applied seq, lag, refusals; with API (an id or name:version): that API's rollout on every gateway of its labels: deployed at which revision, pending, or refused and why",
      )
      .argument("[api]", "an API id or name:version: show its rollout")
      .option("--tenant-domain <domain>", "tenant of a name:version (default carbon.super)"),
  ).action(async (api: string | undefined, opts: TargetOptions & { tenantDomain?: string }) => {
    const log = cliLogger(opts);
    const target = resolveTarget("status", opts, log);
    if (api !== undefined) {
      const r = await readRollout(target, api, opts.tenantDomain);
      process.stdout.write(opts.json ? `${JSON.stringify(r, null, 2)}\n` : renderRollout(r));
      return;
    }
    const s = await readStatus(target);
    process.stdout.write(opts.json ? `${JSON.stringify(s, null, 2)}\n` : renderStatus(s));
  });

  addTargetOptions(
    status
      .command("forget")
      .description(
        "drop a gateway that is gone for good from the status (a live one reappears with its next heartbeat)",
      )
      .argument("<node>", "the gateway's node_id"),
  ).action(async (node: string, _opts: TargetOptions, cmd: Command) => {
    // Options given before "forget" belong to status: read both.
    const opts = cmd.optsWithGlobals<TargetOptions>();
    const log = cliLogger(opts);
    const r = await forget(resolveTarget("status forget", opts, log), node);
    if (opts.json) process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
    else {
      const note =
        r.state === "alive" ? " (it is still sending heartbeats: it will be back with the next one)" : "";
      process.stdout.write(`forgot gateway ${r.nodeId}${note}\n`);
    }
  });
}
