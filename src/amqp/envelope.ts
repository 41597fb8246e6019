import type {
  Channel,
  ChannelModel,
  ConfirmChannel,
  ConsumeMessage,
  MessageProperties,
  Options,
} from "amqplib";

/**
 * The AMQP types the services hold (channels their setup opens, publish options): named here so that
 * src/amqp/ stays the only importer of amqplib (biome.json's layer rules).
 */
export type { Channel, ChannelModel, ConfirmChannel, ConsumeMessage };
export type PublishOptions = Options.Publish;

/** amqplib's basic properties of a delivery (messageId, contentType, timestamp, headers, ...), as delivered. */
export type { MessageProperties };

/**
 * One delivery as the transport hands it to a handler: the stream (routing key), the body, the
 * properties and the headers (never undefined). Handlers see no channel and no delivery tag: they
 * return an Outcome (src/amqp/consumer.ts) and the consumer settles the delivery.
 */
export interface Envelope {
  stream: string;
  body: Buffer;
  properties: Readonly<MessageProperties>;
  headers: Readonly<Record<string, unknown>>;
  /** The broker delivered this message before (classic queues count nothing more). */
  redelivered: boolean;
}

export function envelopeOf(msg: ConsumeMessage): Envelope {
  const headers = (msg.properties.headers ?? {}) as Record<string, unknown>;
  return {
    stream: msg.fields.routingKey,
    body: msg.content,
    properties: msg.properties,
    headers,
    redelivered: msg.fields.redelivered === true,
  };
}

/** A test's delivery (unit tests of handlers and pipelines, no broker). */
export function envelope(
  stream: string,
  body: Buffer,
  properties: Partial<MessageProperties> = {},
  redelivered = false,
): Envelope {
  const headers = (properties.headers ?? {}) as Record<string, unknown>;
  return { stream, body, properties: { ...properties, headers } as MessageProperties, headers, redelivered };
}
