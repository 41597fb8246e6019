import { GwsyncError } from "../errors.js";
import { type JndiConfig, loadJndiDir, type QpidConnectionUrl, toBrokerEndpoints } from "./jndi.js";
import type { BrokerEndpoint } from "./types.js";

/** WSO2's jndi files name their factory so; any other single factory is accepted too. */
export const PREFERRED_FACTORY = "TopicConnectionFactory";

/** One region a relay forwards to: its jndi file's connection factory and brokers, in failover order. */
export interface RelayDestination {
  region: string;
  factory: string;
  brokers: BrokerEndpoint[];
  /** JNDI topic name → physical topic (routing key) on that region's hub. */
  topics: Record<string, string>;
}

/** The connection factory of a region's jndi file (a relay cannot guess between several). */
export function regionFactory(region: string, jndi: JndiConfig): { name: string; url: QpidConnectionUrl } {
  const names = Object.keys(jndi.connectionFactories);
  const name = names.includes(PREFERRED_FACTORY) ? PREFERRED_FACTORY : names[0];
  const url = name === undefined ? undefined : jndi.connectionFactories[name];
  if (name === undefined || url === undefined) {
    throw new GwsyncError(
      "GWSYNC_JNDI_INVALID",
      `jndi file of region ${region} declares no connectionfactory; add connectionfactory.${PREFERRED_FACTORY} = amqp://...`,
    );
  }
  return { name, url };
}

/**
 * Where a relay of region `own` forwards: every other <region>.properties of `jndiDir`. The relay
 * and `gwsync config check` both read it here, so the check shows what the relay will do.
 */
export function relayDestinations(jndiDir: string, own: string): RelayDestination[] {
  return Object.entries(loadJndiDir(jndiDir))
    .filter(([region]) => region !== own)
    .map(([region, jndi]) => {
      const { name, url } = regionFactory(region, jndi);
      return { region, factory: name, brokers: toBrokerEndpoints(url), topics: jndi.topics };
    });
}
