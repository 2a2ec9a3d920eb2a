/**
 * The message envelope every qdb link carries: `{"e": event, "p": payload, "id": id}`.
 *
 * @example
 * ```ts
 * import { encodeMessage, parseEnvelope } from "./envelope.ts";
 * const text = encodeMessage({ e: "eval", p: "2 + 2", id: 7 });
 * parseEnvelope(text); // { e: "eval", p: "2 + 2", id: 7 }
 * ```
 * @module
 */

import { ProtocolError } from "./errors.ts";
import { parseJson } from "./json.ts";
import { isPlainObject, showValue } from "./schema.ts";

/** The protocol version this code speaks; a peer with a higher one is refused. */
export const PROTOCOL_VERSION = 2;

/** Longest accepted event name. */
export const MAX_EVENT_LENGTH = 64;

/** Longest accepted client `id` string. */
export const MAX_ID_LENGTH = 128;

/** A correlation id chosen by a client and echoed on every reply its command causes. */
export type MessageId = string | number;

/** One protocol message. `p` is absent for events without payload. */
export interface Message<E extends string = string, P = unknown> {
  /** The event (or command) name. */
  e: E;
  /** The payload; absent when the event takes none. */
  p?: P;
  /** The sender's correlation id, echoed on replies. */
  id?: MessageId;
}

/** Builds a message, leaving out `p` and `id` when they are undefined. */
export function message<E extends string, P>(e: E, p?: P, id?: MessageId): Message<E, P> {
  const msg: Message<E, P> = { e };
  if (p !== undefined) msg.p = p;
  if (id !== undefined) msg.id = id;
  return msg;
}

/** Serialises a message to its JSON text. */
export function encodeMessage(msg: Message): string {
  return JSON.stringify(msg);
}

/**
 * Parses JSON text into an envelope, checking only the envelope itself (`e` a non-empty
 * string, `id` a string or integer, no other top-level fields). Payloads are checked
 * separately, per event. Text nested more than 64 levels deep is
 * refused before it is parsed ({@linkcode parseJson}).
 *
 * @throws {ProtocolError} of type `message` naming what is wrong.
 */
export function parseEnvelope(text: string): Message {
  return checkEnvelope(parseJson(text));
}

/**
 * Checks an already-parsed value as an envelope.
 *
 * @throws {ProtocolError} of type `message` naming what is wrong.
 */
export function checkEnvelope(value: unknown): Message {
  if (!isPlainObject(value)) {
    throw new ProtocolError(
      "message",
      `Message must be a JSON object {"e": event, "p": payload}, got ${showValue(value)}`,
    );
  }
  const id = value.id;
  if (id !== undefined && id !== null) {
    const validId = (typeof id === "string" && id.length <= MAX_ID_LENGTH) ||
      (typeof id === "number" && Number.isSafeInteger(id));
    if (!validId) {
      throw new ProtocolError(
        "message",
        `Message field "id" must be an integer or a string of at most ${MAX_ID_LENGTH} characters, got ${
          showValue(id)
        }`,
      );
    }
  }
  const e = value.e;
  if (typeof e !== "string" || e.length === 0) {
    throw new ProtocolError(
      "message",
      e === undefined
        ? `Message has no "e" field naming its event`
        : `Message field "e" must be a non-empty string, got ${showValue(e)}`,
      { id: (id ?? undefined) as MessageId | undefined },
    );
  }
  if (e.length > MAX_EVENT_LENGTH) {
    throw new ProtocolError(
      "message",
      `Message field "e" must be at most ${MAX_EVENT_LENGTH} characters, got ${e.length}`,
      { id: (id ?? undefined) as MessageId | undefined },
    );
  }
  for (const key of Object.keys(value)) {
    if (key !== "e" && key !== "p" && key !== "id") {
      throw new ProtocolError(
        "message",
        `Message has an unknown top-level field ${
          JSON.stringify(key.slice(0, 64))
        } (known: e, p, id)`,
        { command: e, id: (id ?? undefined) as MessageId | undefined },
      );
    }
  }
  return message(e, value.p === null ? undefined : value.p, (id ?? undefined) as MessageId);
}
