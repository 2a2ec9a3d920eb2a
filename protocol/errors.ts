/**
 * Protocol errors: the stable `type`s of `{"e": "error", "p": {"type", "data"}}` and the one
 * exception class that handlers throw and a single place turns into an error event.
 *
 * @example
 * ```ts
 * import { errorEvent, ProtocolError } from "./errors.ts";
 * const error = new ProtocolError("payload", "payload.line must be an integer >= 1, got 0", {
 *   command: "set_break",
 * });
 * errorEvent(error); // { e: "error", p: { type: "payload", data: "...", command: "set_break" } }
 * ```
 * @module
 */

import type { Message, MessageId } from "./envelope.ts";

/**
 * Every error type qdb sends, with when it is sent. Clients may rely on these names.
 * The original qdb's types (payload, event, auth, tracer, client, set_break, clear_break,
 * list, up, down, disable, condition) keep their meaning.
 */
export const ERROR_TYPES = {
  message: "The message is not JSON, not an object, too large, or its envelope is malformed",
  event: "The event name is not a known command",
  payload: "The payload does not match what the command takes",
  auth: "Authentication failed, or no `start` arrived in time",
  permission: "The client is read-only: the server refuses its commands",
  version: "The peer speaks a newer protocol version than this server",
  tracer: "The session has no tracer (yet), or it went away",
  client: "No client attached to the session in time",
  session: "The session id is taken by a live tracer, or is not valid",
  limit:
    "A resource limit was reached (connections, sessions, clients of a session, unread data, failed logins)",
  running: "The command needs a stopped program, and the program is running",
  policy: "The tracer's eval policy refused to run the code",
  set_break: "The breakpoint cannot be set (no such file, no code on that line...)",
  clear_break: "No such breakpoint to clear",
  update_break: "No such breakpoint to change, or the change is invalid",
  list: "The source cannot be listed",
  up: "Already at the oldest frame",
  down: "Already at the newest frame",
  frame: "No frame with that index",
  disable: "The disable mode is not soft or hard",
  condition: "A breakpoint condition raised an exception (the program stops there)",
  input: "The program's standard input is not connected to qdb, or is closed",
  eval: "Code cannot be evaluated here (for example: no frame after the program ended)",
  protocol:
    "The command needs protocol 2, and the client or the tracer started with an older version",
  thread: "No such thread, or it is not stopped (its frames can be read only at a stop)",
  reference:
    "No such frame id or variable reference: it was never handed out, or the program resumed since",
  source: "The path is not a file the program has loaded as code, or it cannot be read",
  jump:
    "The line cannot be jumped to (into a block, out of a finally, past the frame's code), or not in this frame or stop",
  snapshot: "The session keeps no snapshot with that id (never taken, or dropped past its bounds)",
  group:
    "The command cannot go to a group (attach to a member to send it), or the group is not valid",
  internal: "A bug in qdb: the command failed unexpectedly (the session lives on)",
} as const;

/** A stable error type name. */
export type ErrorType = keyof typeof ERROR_TYPES;

/** Payload of the `error` event. */
export interface ErrorPayload {
  /** A stable type from {@linkcode ERROR_TYPES}. */
  type: ErrorType;
  /** A human-readable message, or structured data (the `condition` error sends an object). */
  data: unknown;
  /** The command that caused the error, when there was one. */
  command?: string;
}

/** Options of {@linkcode ProtocolError}. */
export interface ProtocolErrorOptions {
  /** The command whose handling failed. */
  command?: string | undefined;
  /** The id of the message whose handling failed, echoed on the error event. */
  id?: MessageId | undefined;
  /** Structured data to send instead of the message text. */
  data?: unknown;
}

/**
 * An error that becomes an `error` event for the peer. Handlers throw it; one place catches
 * and sends it, so every error reply has the same shape.
 */
export class ProtocolError extends Error {
  /** The stable error type. */
  readonly type: ErrorType;
  /** The command whose handling failed. */
  readonly command: string | undefined;
  /** The id of the failing message. */
  readonly id: MessageId | undefined;
  /** Structured data to send instead of the message text. */
  readonly data: unknown;

  constructor(type: ErrorType, message: string, options: ProtocolErrorOptions = {}) {
    super(message);
    this.name = "ProtocolError";
    this.type = type;
    this.command = options.command;
    this.id = options.id;
    this.data = options.data;
  }
}

/** Turns a {@linkcode ProtocolError} into the `error` event sent to the peer. */
export function errorEvent(error: ProtocolError): Message<"error", ErrorPayload> {
  const p: ErrorPayload = { type: error.type, data: error.data ?? error.message };
  if (error.command !== undefined) p.command = error.command;
  const msg: Message<"error", ErrorPayload> = { e: "error", p };
  if (error.id !== undefined) msg.id = error.id;
  return msg;
}
