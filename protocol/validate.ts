/**
 * Validation of what clients send: the envelope, the command name and its payload. The server
 * calls this on every client message before routing it, and any client may call it too.
 *
 * @example
 * ```ts
 * import { parseClientMessage } from "./validate.ts";
 * const msg = parseClientMessage('{"e": "set_break", "p": {"line": 4}, "id": 1}');
 * msg.e; // "set_break"
 * ```
 * @module
 */

import { type CommandName, type CommandPayloads, COMMANDS, isCommandName } from "./commands.ts";
import { checkEnvelope, type Message, type MessageId, parseEnvelope } from "./envelope.ts";
import { ProtocolError } from "./errors.ts";
import {
  type EventPayloads,
  GROUP_EVENTS,
  type GroupEventName,
  SERVER_EVENTS,
  type ServerEventName,
  TRACER_EVENTS,
  type TracerEventName,
} from "./events.ts";
import { type Infer, SchemaError } from "./schema.ts";

/** Largest client message accepted, in UTF-16 code units of its JSON text. */
export const MAX_CLIENT_MESSAGE_LENGTH = 4 * 1024 * 1024;

/** A checked client command: a known name and a payload of the right shape. */
export type ClientMessage = {
  [K in CommandName]: { e: K; p: CommandPayloads[K]; id?: MessageId };
}[CommandName];

/** Options of {@linkcode parseClientMessage}. */
export interface ParseOptions {
  /** Largest accepted message, in characters. Default {@linkcode MAX_CLIENT_MESSAGE_LENGTH}. */
  maxLength?: number;
}

/**
 * Parses and checks one client message.
 *
 * @throws {ProtocolError} `message` (not JSON, not an object, too large), `event` (unknown
 * command) or `payload` (wrong payload), with a message naming the problem.
 */
export function parseClientMessage(text: string, options: ParseOptions = {}): ClientMessage {
  const max = options.maxLength ?? MAX_CLIENT_MESSAGE_LENGTH;
  if (text.length > max) {
    throw new ProtocolError(
      "message",
      `Message of ${text.length} characters exceeds the limit of ${max}`,
    );
  }
  return checkClientMessage(parseEnvelope(text));
}

/**
 * Checks an envelope (or any parsed value) as a client command.
 *
 * @throws {ProtocolError} as {@linkcode parseClientMessage} does.
 */
export function checkClientMessage(value: Message | unknown): ClientMessage {
  const msg = checkEnvelope(value);
  if (!isCommandName(msg.e)) {
    const known = Object.keys(COMMANDS).join(", ");
    throw new ProtocolError(
      "event",
      `Unknown command ${JSON.stringify(msg.e)}; known commands: ${known}`,
      { command: msg.e, id: msg.id },
    );
  }
  const spec = COMMANDS[msg.e];
  let payload: unknown;
  try {
    payload = spec.payload.check(msg.p, "payload");
  } catch (error) {
    if (!(error instanceof SchemaError)) throw error;
    throw new ProtocolError("payload", `${msg.e}: ${error.message}`, {
      command: msg.e,
      id: msg.id,
    });
  }
  const out = { e: msg.e, p: payload } as ClientMessage;
  if (msg.id !== undefined) out.id = msg.id;
  return out;
}

/** One event with its payload: required unless the event may come without one. */
export type EventOf<K extends keyof EventPayloads> = undefined extends EventPayloads[K]
  ? { e: K; p?: EventPayloads[K]; id?: MessageId }
  : { e: K; p: EventPayloads[K]; id?: MessageId };

/** A checked tracer event: a known name and a payload of the right shape. */
export type TracerMessage = { [K in TracerEventName]: EventOf<K> }[TracerEventName];

/** A checked event of the server itself. */
export type ServerMessage = { [K in ServerEventName]: EventOf<K> }[ServerEventName];

/**
 * What a client receives: a tracer event (relayed by the server) or the server's own. Switching
 * on `e` narrows `p` to that event's payload.
 */
export type ClientEvent = TracerMessage | ServerMessage;

/**
 * Checks a message a client received from the server. An event this version does not know is
 * `undefined` (a newer server may send more), so that a client skips it; a known one with a
 * payload of the wrong shape is refused.
 *
 * @example
 * ```ts
 * import { checkClientEvent } from "./validate.ts";
 * const event = checkClientEvent({ e: "exited", p: { code: 0 } });
 * if (event?.e === "exited") event.p?.code; // 0, typed
 * ```
 *
 * @throws {ProtocolError} `message` (malformed envelope) or `payload` (wrong payload).
 */
export function checkClientEvent(value: Message | unknown): ClientEvent | undefined {
  const msg = checkEnvelope(value);
  const spec = Object.hasOwn(SERVER_EVENTS, msg.e)
    ? SERVER_EVENTS[msg.e as ServerEventName]
    : Object.hasOwn(TRACER_EVENTS, msg.e)
    ? TRACER_EVENTS[msg.e as TracerEventName]
    : undefined;
  if (!spec) return undefined;
  return checkedEvent(msg, spec.payload) as ClientEvent;
}

/** Events a group link's client may get besides the group events. */
export const GROUP_LINK_ALSO = ["print", "snapshot", "snapshots", "error", "disable"] as const;

/** Payload types of the group link's own events. */
export type GroupEventPayloads = {
  [K in GroupEventName]: Infer<(typeof GROUP_EVENTS)[K]["payload"]>;
};

/** One group event with its payload. */
export type GroupEventOf<K extends GroupEventName> = undefined extends GroupEventPayloads[K]
  ? { e: K; p?: GroupEventPayloads[K]; id?: MessageId }
  : { e: K; p: GroupEventPayloads[K]; id?: MessageId };

/**
 * What a group link's client receives: a group event, or one of the session events a group
 * link also carries (a member's output and snapshots, errors, the end). Switching on `e`
 * narrows `p`.
 */
export type GroupLinkEvent =
  | { [K in GroupEventName]: GroupEventOf<K> }[GroupEventName]
  | Extract<ClientEvent, { e: (typeof GROUP_LINK_ALSO)[number] }>;

/**
 * Checks an event a group link's client received (see `GROUP_EVENTS`): the event, or
 * undefined for one this version does not know.
 *
 * @throws {ProtocolError} `message` (malformed envelope) or `payload` (wrong payload).
 */
export function checkGroupEvent(value: Message | unknown): GroupLinkEvent | undefined {
  const msg = checkEnvelope(value);
  if (Object.hasOwn(GROUP_EVENTS, msg.e)) {
    // Checked against its schema just now: the type says what the schema checked.
    return checkedEvent(msg, GROUP_EVENTS[msg.e as GroupEventName].payload) as GroupLinkEvent;
  }
  if (!(GROUP_LINK_ALSO as readonly string[]).includes(msg.e)) return undefined;
  return checkClientEvent(msg) as GroupLinkEvent | undefined;
}

/** The event with its payload checked by `schema` (null fields dropped), or a `payload` error. */
function checkedEvent(msg: Message, schema: { check(v: unknown, path: string): unknown }) {
  let payload: unknown;
  try {
    payload = schema.check(msg.p, "payload");
  } catch (error) {
    if (!(error instanceof SchemaError)) throw error;
    throw new ProtocolError("payload", `${msg.e}: ${error.message}`, { id: msg.id });
  }
  const out: Message = { e: msg.e };
  if (payload !== undefined) out.p = payload;
  if (msg.id !== undefined) out.id = msg.id;
  return out;
}

/** True for the name of an event a tracer may send (after its `start`). */
export function isTracerEventName(name: string): name is TracerEventName {
  return Object.hasOwn(TRACER_EVENTS, name);
}

/**
 * Checks an envelope (or any parsed value) as an event from a tracer. The server calls this on
 * every tracer message before it reaches a client: a tracer may send only tracer events (never
 * `command`, `attached` or `clients`, which clients trust as the server's own), with payloads
 * of the documented shape.
 *
 * @example
 * ```ts
 * import { checkTracerMessage } from "./validate.ts";
 * checkTracerMessage({ e: "exited", p: { code: 0 } }); // { e: "exited", p: { code: 0 } }
 * ```
 *
 * @throws {ProtocolError} `message` (malformed envelope), `event` (not a tracer event) or
 * `payload` (wrong payload), with a message naming the problem.
 */
export function checkTracerMessage(value: Message | unknown): TracerMessage {
  const msg = checkEnvelope(value);
  if (!isTracerEventName(msg.e)) {
    const known = Object.keys(TRACER_EVENTS).join(", ");
    throw new ProtocolError(
      "event",
      `A tracer may not send ${JSON.stringify(msg.e.slice(0, 64))}; tracer events: ${known}`,
      { id: msg.id },
    );
  }
  return checkedEvent(msg, TRACER_EVENTS[msg.e].payload) as TracerMessage;
}
