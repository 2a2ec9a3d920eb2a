/**
 * Who may drive a debug adapter: the order DAP prescribes (`initialize` first) for every
 * connection, and on a TCP port (`qdb dap --port`, which any local user or web page can reach) a
 * token, given with `launch` or `attach`, before anything that runs or reads code.
 *
 * @example
 * ```ts
 * import { DapGate } from "./gate.ts";
 * const gate = new DapGate({ token: "s3cret" });
 * await gate.check({ seq: 1, type: "request", command: "initialize" }); // undefined: let it in
 * await gate.check({ seq: 2, type: "request", command: "launch", arguments: { program: "x" } });
 * // -> 'The adapter needs its token: give "adapterToken" ...'
 * ```
 * @module
 */

import { constantTimeEqual } from "../server/auth.ts";
import type { DapMessage } from "./wire.ts";

/** Options of {@linkcode DapGate}. */
export interface DapGateOptions {
  /**
   * The secret `launch` or `attach` must carry (as `adapterToken`, or as `token`); undefined
   * asks for none (standard input and output: only the editor that started the adapter speaks).
   */
  token?: string | undefined;
}

/** Requests that start a session; one of them carries the token. */
const STARTS = new Set(["launch", "attach"]);

/**
 * Checks each message before the adapter sees it. The first request must be `initialize`;
 * with a token, nothing but `initialize` and `disconnect` passes until a `launch` or `attach`
 * carries it. A refusal is final: the connection is closed after it.
 */
export class DapGate {
  readonly #token: string | undefined;
  #initialized = false;
  #authenticated: boolean;

  /** A gate for one connection. */
  constructor(options: DapGateOptions = {}) {
    this.#token = options.token;
    this.#authenticated = options.token === undefined;
  }

  /** Whether a `launch` or `attach` has shown the token (or none is needed). */
  get authenticated(): boolean {
    return this.#authenticated;
  }

  /** Undefined when the message may reach the adapter; else why not (then close). */
  async check(message: DapMessage): Promise<string | undefined> {
    if (message.type !== "request") {
      return `Only requests are read from an editor, got a message of type ${
        JSON.stringify(String(message.type).slice(0, 40))
      }`;
    }
    const command = String(message.command);
    if (!this.#initialized) {
      if (command !== "initialize") {
        return `The first request must be "initialize", got ${
          JSON.stringify(command.slice(0, 40))
        }`;
      }
      this.#initialized = true;
      return undefined;
    }
    if (this.#authenticated || command === "disconnect" || command === "initialize") {
      return undefined;
    }
    if (!STARTS.has(command)) {
      return `${
        JSON.stringify(command.slice(0, 40))
      } needs a session: send "launch" or "attach" first`;
    }
    const args =
      (typeof message.arguments === "object" && message.arguments !== null
        ? message.arguments
        : {}) as Record<string, unknown>;
    const given = [args.adapterToken, args.token].filter((t) => typeof t === "string");
    for (const token of given as string[]) {
      if (await constantTimeEqual(token, this.#token!)) {
        this.#authenticated = true;
        return undefined;
      }
    }
    return given.length === 0
      ? 'The adapter needs its token: give "adapterToken" in the launch or attach configuration ' +
        "(qdb dap --port printed it, or set it with --token or QDB_TOKEN)"
      : "The adapter's token is wrong";
  }
}
