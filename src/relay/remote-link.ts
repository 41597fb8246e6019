import { EventEmitter } from "node:events";
import { ConfirmPublisher, type OutgoingMessage } from "../amqp/confirm-publisher.js";
import { BrokerConnection, type BrokerStatus, type SetupLink } from "../amqp/connection.js";
import type { ChannelModel } from "../amqp/envelope.js";
import { assertTopicExchange, declareIngressQueue, LANES, type Lane } from "../amqp/topology.js";
import type { BrokerEndpoint } from "../config/types.js";
import { GwsyncError } from "../errors.js";
import type { Logger } from "../log.js";

/** Wait between two attempts to publish a batch the remote region did not confirm. */
export const DEFAULT_REPUBLISH_DELAY_MS = 250;

export interface RemoteLinkOptions {
  region: string;
  endpoints: BrokerEndpoint[];
  /** The remote region's topic exchange (the same name in every region). */
  exchange: string;
  connectionName: string;
  heartbeatSec: number;
  reconnectMaxDelayMs?: number;
  republishDelayMs?: number;
  confirmTimeoutMs?: number;
  logger: Logger;
}

/**
 * The relay's connection to one remote region's event hub: one confirm channel per lane, so a burst
 * of artifacts never holds back a revocation's confirm. `publish` resolves only once the remote
 * broker confirmed every message, retrying across reconnects for as long as it takes: a region that
 * is down makes its own lanes wait, never another region's.
 */
export class RemoteLink extends EventEmitter {
  readonly region: string;
  readonly #o: RemoteLinkOptions;
  readonly #conn: BrokerConnection;
  readonly #publishers: Record<Lane, ConfirmPublisher>;
  readonly #closed = new AbortController();

  constructor(o: RemoteLinkOptions) {
    super();
    this.region = o.region;
    this.#o = o;
    const confirm = {
      ...(o.confirmTimeoutMs ? { confirmTimeoutMs: o.confirmTimeoutMs } : {}),
      onStuckChannel: (reason: string) => this.#conn.renew(reason),
    };
    this.#publishers = { priority: new ConfirmPublisher(confirm), artifacts: new ConfirmPublisher(confirm) };
    this.#conn = new BrokerConnection({
      endpoints: o.endpoints,
      connectionName: o.connectionName,
      heartbeatSec: o.heartbeatSec,
      ...(o.reconnectMaxDelayMs ? { reconnectMaxDelayMs: o.reconnectMaxDelayMs } : {}),
      logger: o.logger,
      setup: (model, link) => this.#setup(model, link),
    });
    this.#conn.on("status", (s: BrokerStatus) => this.emit("status", s));
    this.#conn.on("fatal", (err: Error) => this.emit("fatal", err));
  }

  async #setup(model: ChannelModel, link: SetupLink): Promise<void> {
    for (const lane of LANES) {
      const ch = await model.createConfirmChannel();
      // ConfirmPublisher listens for "close" once per message in flight: a batch is many listeners.
      ch.setMaxListeners(0);
      ch.on("error", (err: Error) =>
        this.#o.logger.warn({ region: this.region, lane, err: err.message }, "remote channel error"),
      );
      link.essential(ch, `${lane} lane's confirm`);
      if (lane === "artifacts") await declareIngressQueue(ch, this.region);
      else await assertTopicExchange(ch, this.#o.exchange);
      this.#publishers[lane].attach(ch);
    }
    this.emit("ready");
  }

  get status(): BrokerStatus {
    return this.#conn.status;
  }

  get connected(): boolean {
    return this.#conn.status.state === "connected" && LANES.every((l) => this.#publishers[l].ready);
  }

  /**
   * Connect in the background: a region that is down at startup must not stop the relay from
   * serving the others (its messages wait in their durable queues).
   */
  start(): void {
    this.#conn.start().catch((err: unknown) => {
      if (!this.#closed.signal.aborted) {
        this.#o.logger.error(
          { region: this.region, err: (err as Error).message },
          "remote region connection gave up",
        );
      }
    });
  }

  /**
   * Publish in order on the lane's channel and resolve when all are confirmed; on any failure wait
   * and publish the whole batch again (the receivers dedupe), until confirmed or the link closes.
   */
  async publish(lane: Lane, messages: OutgoingMessage[], signal?: AbortSignal): Promise<void> {
    if (messages.length === 0) return;
    const stop = signal ? AbortSignal.any([signal, this.#closed.signal]) : this.#closed.signal;
    let attempt = 0;
    for (;;) {
      if (stop.aborted) throw new GwsyncError("GWSYNC_SHUTTING_DOWN", `relay to ${this.region} is stopping`);
      const publisher = this.#publishers[lane];
      if (publisher.ready) {
        try {
          await publisher.publishAll(messages);
          return;
        } catch (err) {
          attempt++;
          // Once per outage, not per retry: the backlog gauge tells how long it lasts.
          if (attempt === 1) {
            this.#o.logger.warn(
              { region: this.region, lane, err: (err as Error).message },
              "remote region did not confirm; retrying",
            );
          }
        }
      }
      await this.#waitForReady(stop);
    }
  }

  /** Resolves on the next (re)connect or after the republish delay, whichever comes first. */
  #waitForReady(signal: AbortSignal): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.removeListener("ready", done);
        signal.removeEventListener("abort", done);
        resolve();
      };
      const timer = setTimeout(done, this.#o.republishDelayMs ?? DEFAULT_REPUBLISH_DELAY_MS);
      this.once("ready", done);
      signal.addEventListener("abort", done, { once: true });
    });
  }

  async close(): Promise<void> {
    this.#closed.abort();
    await this.#conn.close();
  }
}
