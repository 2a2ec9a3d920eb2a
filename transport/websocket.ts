/**
 * The client link's transport: one JSON envelope per WebSocket text frame. Wraps a WebSocket
 * from either side (a server's `Deno.upgradeWebSocket` or a client's `new WebSocket`).
 *
 * @example
 * ```ts ignore
 * import { connectWebSocket } from "./websocket.ts";
 * const link = await connectWebSocket("ws://127.0.0.1:8002/demo");
 * link.send({ e: "start", p: "" });
 * ```
 * @module
 */

import {
  MAX_CLIENT_MESSAGE_LENGTH,
  type Message,
  parseEnvelope,
  ProtocolError,
} from "../protocol/mod.ts";
import { AsyncQueue } from "./async_queue.ts";
import { httpClientFor, openWebSocket } from "./runtime.ts";
import { explainTlsFailure, type TlsClientOptions } from "./tls.ts";
import type { Incoming, MessageTransport } from "./transport.ts";

/** Options of {@linkcode WebSocketTransport}. */
export interface WebSocketTransportOptions {
  /** The peer's address, for logs. Default: the socket's URL. */
  remote?: string;
  /** Longest text frame accepted, in characters. Default 4 MiB. */
  maxMessageLength?: number;
}

/** A {@linkcode MessageTransport} over a WebSocket. */
export class WebSocketTransport implements MessageTransport {
  readonly #socket: WebSocket;
  readonly #incoming = new AsyncQueue<Incoming>();
  readonly #pending: string[] = [];
  #pendingBytes = 0;
  /** A close asked for while the socket was still connecting: done once it opens. */
  #closeWhenOpen: { code: number; reason: string } | undefined;
  #max: number;
  #closed = false;
  #resolveClosed!: () => void;
  /** Resolves once the socket is closed. */
  readonly closed: Promise<void> = new Promise((resolve) => this.#resolveClosed = resolve);
  /** The peer's address. */
  readonly remote: string;
  /** Close code and reason sent by the peer (or by us), once closed. */
  closeInfo: { code: number; reason: string } | undefined;

  constructor(socket: WebSocket, options: WebSocketTransportOptions = {}) {
    this.#socket = socket;
    this.remote = options.remote ?? socket.url;
    this.#max = options.maxMessageLength ?? MAX_CLIENT_MESSAGE_LENGTH;
    socket.addEventListener("open", () => {
      this.#pendingBytes = 0;
      for (const text of this.#pending.splice(0)) socket.send(text);
      const close = this.#closeWhenOpen;
      if (close) socket.close(close.code, close.reason);
    });
    socket.addEventListener("message", (event) => {
      if (typeof event.data !== "string") {
        this.#incoming.push({
          error: new ProtocolError(
            "message",
            "Binary WebSocket frames are not accepted: send JSON text",
          ),
        });
        return;
      }
      const max = this.#max;
      if (event.data.length > max) {
        this.#incoming.push({
          error: new ProtocolError(
            "message",
            `Message of ${event.data.length} characters exceeds the limit of ${max}`,
          ),
        });
        return;
      }
      try {
        this.#incoming.push({ message: parseEnvelope(event.data) });
      } catch (error) {
        if (!(error instanceof ProtocolError)) throw error;
        this.#incoming.push({ error });
      }
    });
    socket.addEventListener("close", (event) => {
      this.closeInfo ??= { code: event.code, reason: event.reason };
      this.#finish();
    });
    // An error is always followed by close; nothing to do here but keep it from being thrown.
    socket.addEventListener("error", () => {});
    if (socket.readyState === WebSocket.CLOSED) this.#finish();
  }

  /** Received messages, in order. */
  get incoming(): AsyncIterable<Incoming> {
    return this.#incoming;
  }

  /** Text frames sent but not yet written to the network (the socket's `bufferedAmount`). */
  get queuedBytes(): number {
    return this.#pendingBytes + (this.#socket.bufferedAmount ?? 0);
  }

  /** Changes the longest text frame accepted from now on, in characters. */
  setMaxMessageSize(size: number): void {
    this.#max = size;
  }

  /** True once closing or closed. */
  get isClosed(): boolean {
    return this.#closed || this.#socket.readyState >= WebSocket.CLOSING;
  }

  /** Sends a message (queued until the socket opens). False once closing. */
  send(msg: Message): boolean {
    return this.sendText(JSON.stringify(msg));
  }

  /** Sends a message already serialised (`JSON.stringify` of a message). False once closing. */
  sendText(text: string): boolean {
    if (this.isClosed || this.#closeWhenOpen) return false;
    if (this.#socket.readyState === WebSocket.CONNECTING) {
      this.#pending.push(text);
      this.#pendingBytes += text.length;
    } else this.#socket.send(text);
    return true;
  }

  /** Closes the socket (queued frames are sent first). Idempotent. */
  close(code = 1000, reason = ""): void {
    if (this.#socket.readyState >= WebSocket.CLOSING || this.#closeWhenOpen) return;
    this.closeInfo ??= { code, reason };
    if (this.#socket.readyState === WebSocket.CONNECTING) {
      // Closing a socket that is not open yet would drop what was queued for the peer (an
      // error saying why it is refused): close right after it opens instead.
      this.#closeWhenOpen = { code, reason };
      return;
    }
    try {
      this.#socket.close(code, reason);
    } catch {
      this.#finish();
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
    await this.closed;
  }

  #finish(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#incoming.end();
    this.#resolveClosed();
  }
}

/** Options of {@linkcode connectWebSocket}. */
export interface ConnectWebSocketOptions extends WebSocketTransportOptions, TlsClientOptions {
  /** Aborting fails the connection attempt, or closes the socket once open. */
  signal?: AbortSignal;
}

/**
 * Opens a WebSocket (`ws://`, or `wss://` checking the server's certificate against the
 * system's roots or `caCerts`) and resolves once it is open.
 *
 * @throws {Error} `Cannot connect to ws://...` when it fails to open.
 */
export function connectWebSocket(
  url: string | URL,
  options: ConnectWebSocketOptions = {},
): Promise<WebSocketTransport> {
  options.signal?.throwIfAborted();
  // A custom CA needs an HTTP client of its own; it lives as long as the socket.
  const client = httpClientFor(options.caCerts);
  const socket = openWebSocket(url, client);
  const transport = new WebSocketTransport(socket, options);
  if (client) transport.closed.then(() => client.close());
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      transport.close();
      reject(options.signal!.reason);
    };
    options.signal?.addEventListener("abort", onAbort, { once: true });
    socket.addEventListener("open", () => resolve(transport), { once: true });
    let failure = "";
    socket.addEventListener("error", (event) => {
      failure = (event as ErrorEvent).message ?? "";
    }, { once: true });
    socket.addEventListener("close", (event) => {
      options.signal?.removeEventListener("abort", onAbort);
      let why = explainTlsFailure(failure) ?? (failure || event.reason ||
        `connection closed (code ${event.code})`);
      // A TLS server answers a plain handshake with TLS bytes, not HTTP.
      if (/^ws:/i.test(String(url)) && /invalid HTTP version/i.test(failure)) {
        why += " (if the server uses TLS, connect to wss:// instead)";
      }
      reject(new Error(`Cannot connect to ${url}: ${why}`));
    }, { once: true });
  });
}
