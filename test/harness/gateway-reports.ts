/** Fixtures of the gateway report stream's tests: the APIs a gateway serves and the messages it sends. */
import type { GatewayReport } from "../../src/events/gateway-report.js";
import { apiDto } from "./api-dto.js";

/** A sha256 made of one character repeated: sha("a") is 64 a's. */
export const sha = (c: string) => c.repeat(64);

/** API number i: admin's A<i> 1.0.0 at /a<i>, its id id-<i> unless `apiId` says otherwise. */
export function numberedApi(i: number, apiId = `id-${i}`) {
  return apiDto(`A${i}`, {
    apiId,
    apiDefinition: `<api name="admin--A${i}" context="/a${i}" version="1.0.0"/>`,
  });
}

/** A report message from node gw (boot b1): a one-part delta serving and refusing nothing, sent at 1, unless `o` says otherwise. */
export function reportMessage(
  o: Partial<GatewayReport> & Pick<GatewayReport, "seq" | "apis">,
): GatewayReport {
  return {
    nodeId: "gw",
    boot: "b1",
    kind: "delta",
    part: 1,
    parts: 1,
    served: 0,
    refused: 0,
    sentAt: 1,
    ...o,
  };
}

/**
 * The reporter's retry timer is unref'd (it must not hold a gateway's exit): hold the event loop while a
 * test waits for a resend, or the test runner, finding nothing else to wait for, cancels the test
 * ("Promise resolution is still pending but the event loop has already resolved").
 */
export function holdLoop(): () => void {
  const t = setInterval(() => undefined, 60_000);
  return () => clearInterval(t);
}
