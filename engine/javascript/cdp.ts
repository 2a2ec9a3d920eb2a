/**
 * A Chrome DevTools Protocol client over the inspector's WebSocket: numbered commands answered
 * once each, and events in order. Only the JavaScript engine uses it, to the runtime it started
 * (the inspector listens on 127.0.0.1 and its address is known only to qdb: see
 * javascript_engine.ts).
 *
 * @module
 */

import { isPlainObject } from "../../protocol/mod.ts";

/** A CDP event: its method and parameters. */
export interface CdpEvent {
  /** Such as `Debugger.paused`. */
  method: string;
  /** Its parameters. */
  params: Record<string, unknown>;
}

/** A command the runtime refused: its CDP error message. */
export class CdpError extends Error {
  /** The CDP method and the runtime's message. */
  constructor(method: string, message: string) {
    super(`${method}: ${message}`);
    this.name = "CdpError";
  }
}

/** Most bytes of one message from the runtime (a large script's source is one message). */
const MAX_MESSAGE = 64 * 1024 * 1024;

/** One inspector connection. */
export class CdpClient {
  readonly #ws: WebSocket;
  #next = 1;
  readonly #pending = new Map<
    number,
    { method: string; resolve: (r: Record<string, unknown>) => void; reject: (e: Error) => void }
  >();
  readonly #onEvent: (event: CdpEvent) => void;
  /** Resolves once the connection is closed. */
  readonly closed: Promise<void>;

  private constructor(ws: WebSocket, onEvent: (event: CdpEvent) => void) {
    this.#ws = ws;
    this.#onEvent = onEvent;
    this.closed = new Promise((resolve) => {
      ws.addEventListener("close", () => {
        for (const { method, reject } of this.#pending.values()) {
          reject(new CdpError(method, "the inspector connection closed"));
        }
        this.#pending.clear();
        resolve();
      });
    });
    ws.addEventListener("message", (event) => this.#receive(event.data));
  }

  /** Connects to an inspector's WebSocket address; `onEvent` hears every event, in order. */
  static connect(url: string, onEvent: (event: CdpEvent) => void): Promise<CdpClient> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url);
      const client = new CdpClient(ws, onEvent);
      ws.addEventListener("open", () => resolve(client), { once: true });
      ws.addEventListener("error", () => reject(new Error(`Cannot reach the inspector`)), {
        once: true,
      });
    });
  }

  /** Sends a command; resolves with its result. @throws {CdpError} when it fails. */
  send(method: string, params: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
    if (this.#ws.readyState !== WebSocket.OPEN) {
      return Promise.reject(new CdpError(method, "the inspector connection is closed"));
    }
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { method, resolve, reject });
      this.#ws.send(JSON.stringify({ id, method, params }));
    });
  }

  /** Closes the connection. Idempotent. */
  close(): void {
    try {
      this.#ws.close();
    } catch {
      // Closed already.
    }
  }

  #receive(data: unknown): void {
    if (typeof data !== "string" || data.length > MAX_MESSAGE) return;
    let msg: unknown;
    try {
      msg = JSON.parse(data);
    } catch {
      return;
    }
    if (!isPlainObject(msg)) return;
    if (typeof msg.id === "number") {
      const pending = this.#pending.get(msg.id);
      if (!pending) return;
      this.#pending.delete(msg.id);
      const error = msg.error;
      if (isPlainObject(error)) {
        pending.reject(new CdpError(pending.method, String(error.message ?? "failed")));
      } else pending.resolve(isPlainObject(msg.result) ? msg.result : {});
      return;
    }
    if (typeof msg.method === "string") {
      this.#onEvent({ method: msg.method, params: isPlainObject(msg.params) ? msg.params : {} });
    }
  }
}
