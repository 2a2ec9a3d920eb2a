/**
 * The qdb protocol: message envelope, client commands, tracer and server events, their
 * payload schemas and validation, error types, and the framing of the tracer link.
 * Pure: no I/O, so any client (a browser, an editor) can reuse it.
 *
 * The specification for people is `protocol/README.md`.
 *
 * @example
 * ```ts
 * import { parseClientMessage, ProtocolError } from "./mod.ts";
 * try {
 *   parseClientMessage('{"e": "set_break", "p": {"line": 0}}');
 * } catch (error) {
 *   (error as ProtocolError).type; // "payload"
 * }
 * ```
 * @module
 */

export * from "./commands.ts";
export * from "./envelope.ts";
export * from "./errors.ts";
export * from "./events.ts";
export * from "./framing.ts";
export * from "./requests.ts";
export * from "./json.ts";
export * from "./schema.ts";
export * from "./validate.ts";
