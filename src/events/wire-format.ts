/**
 * AMQP message properties of the event hub as WSO2's JMS client (Andes, a Qpid 0-x fork) writes and reads
 * them (docs/wso2-formats.md, "Corrections" 1 and 4, §4.9). A WSO2 gateway turns a delivery into a JMS
 * message class by its exact AMQP content type (`MessageFactoryRegistry.newDefaultRegistry`); its 4.x
 * listeners act on TextMessages only, its 3.2.0 listeners on MapMessages only.
 */

/** Andes `JMSTextMessage.MIME_TYPE`: the 4.x JSON envelope travels as a TextMessage. */
export const CONTENT_TYPE_TEXT = "text/plain";
/** Also a TextMessage for Andes (`MessageFactoryRegistry`), read like text/plain. */
export const CONTENT_TYPE_TEXT_XML = "text/xml";
/** Andes `JMSMapMessage.MIME_TYPE`: the legacy Qpid binary map (src/events/qpid-map.ts). */
export const CONTENT_TYPE_JMS_MAP = "jms/map-message";
/** Andes `AMQPEncodedMapMessage.MIME_TYPE`: a MapMessage in AMQP 0-10 map encoding (src/events/amqp-map.ts). */
export const CONTENT_TYPE_AMQP_MAP = "amqp/map";
/** What gwsync wrote before it spoke WSO2's content type; still read. */
export const CONTENT_TYPE_JSON = "application/json";
/** `JMSTextMessage.setText` writes this encoding when none is set. */
export const TEXT_ENCODING = "UTF-8";

/**
 * Andes' 0-8/0-9 producer sets this header on every message (`BasicMessageProducer_0_8`); the consumer
 * builds a JMS Topic destination from it whatever the exchange (`AMQMessageDelegate_0_8`).
 */
export const HEADER_JMS_DESTTYPE = "JMS_QPID_DESTTYPE";
/** `AMQDestination.TOPIC_TYPE`. */
export const JMS_TOPIC_TYPE = 2;

/** How a body is laid out, by its content type. */
export type BodyFormat = "json" | "jms-map" | "amqp-map";

/**
 * The body format of a content type, or undefined when gwsync cannot read it. Parameters
 * (`; charset=utf-8`) and case are ignored; no content type at all is read as JSON (WSO2 publishers
 * always set one, other tools often do not).
 */
export function bodyFormatOf(contentType: string | undefined): BodyFormat | undefined {
  // WSO2 4.x's own, as it is: no split, trim and lower-casing per event (issue 19, B4).
  if (contentType === CONTENT_TYPE_TEXT) return "json";
  if (contentType === undefined || contentType.trim() === "") return "json";
  const media = contentType.split(";", 1)[0]!.trim().toLowerCase();
  switch (media) {
    case CONTENT_TYPE_TEXT:
    case CONTENT_TYPE_TEXT_XML:
    case CONTENT_TYPE_JSON:
      return "json";
    case CONTENT_TYPE_JMS_MAP:
      return "jms-map";
    case CONTENT_TYPE_AMQP_MAP:
      return "amqp-map";
    default:
      return undefined;
  }
}

/** The JMS header in the AMQP type Andes reads it as (a 32-bit int: `FieldTable.getInteger`). */
export function jmsTopicHeader(): Record<string, { "!": "int"; value: number }> {
  return { [HEADER_JMS_DESTTYPE]: { "!": "int", value: JMS_TOPIC_TYPE } };
}
