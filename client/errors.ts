/**
 * What a client's connection fails with: the server refused to attach it, or refused one of its
 * commands.
 *
 * @module
 */

import type { ErrorPayload } from "../protocol/mod.ts";

/** The server refused to attach the client (auth, version, session id...). */
export class AttachError extends Error {
  /** The protocol error type the server sent. */
  readonly type: string;
  /** An attach refused with this protocol error type and message. */
  constructor(type: string, message: string) {
    super(message);
    this.name = "AttachError";
    this.type = type;
  }
}

/** A command failed: the `error` event its request caused. */
export class CommandError extends Error {
  /** The error payload. */
  readonly error: ErrorPayload;
  /** The command that failed. */
  readonly command: string;
  /** `command` failed with this `error` payload. */
  constructor(command: string, error: ErrorPayload) {
    super(
      `${command}: ${typeof error.data === "string" ? error.data : JSON.stringify(error.data)}`,
    );
    this.name = "CommandError";
    this.error = error;
    this.command = command;
  }
}
