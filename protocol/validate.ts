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
import { SchemaError } from "./schema.ts";

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
