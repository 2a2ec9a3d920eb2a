/**
 * The client link's transport on `qdb serve`'s own listener: one JSON envelope per WebSocket
 * text frame, over a socket of the `ws` package (on `node:http`). Unlike a WebSocket from
 * `Deno.upgradeWebSocket`, it refuses a frame larger than the limit as its header arrives
 * (nothing of it is buffered), stops reading while what it read waits unconsumed, and knows how
 * many bytes wait to be written to a peer that does not read.
 *
 * @module
 */

// @ts-types="npm:@types/ws@8.18.1"
import type { WebSocket as NodeWebSocket } from "ws";
import { type Message, parseEnvelope, ProtocolError } from "../protocol/mod.ts";
import { AsyncQueue } from "./async_queue.ts";
import { DrainWaiters } from "./drain.ts";
import type { Incoming, MessageTransport } from "./transport.ts";

/** Options of {@linkcode NodeWebSocketTransport}. */
export interface NodeWebSocketTransportOptions {
  /** The peer's address, for logs. */
  remote: string;
  /** Bytes of messages read ahead of the consumer before reading pauses. Default 1 MiB. */
  readAheadBytes?: number;
  /**
   * The stream the socket writes to, whose `drain` says when what was queued has been written
   * (for {@linkcode NodeWebSocketTransport.drained}). Without it, `drained` looks every 5 ms.
   */
  stream?: {
    on(event: "drain" | "close", listener: () => void): unknown;
    /** Bytes written to the network so far. */
    readonly written?: number;
  };
  /** Called once when the server raises the message limit (the link authenticated). */
  onAuthenticated?: () => void;
  /** The pre-authentication limit `maxPayload` was set to: a larger limit means authenticated. */
  preAuthLimit?: number;
  /**
   * Called when a frame is refused (over the limit, or not valid WebSocket): the connection's
   * rest is not worth reading. Default: nothing more than the `ws` package's own close.
   */
  onRefusedFrame?: () => void;
}

/** How long `close()` waits for the peer's close frame before it drops the connection. */
const CLOSE_TIMEOUT_MS = 2000;

/** A {@linkcode MessageTransport} over a socket of the `ws` package. */
export class NodeWebSocketTransport implements MessageTransport {
  readonly #socket: NodeWebSocket;
  readonly #incoming: AsyncQueue<Incoming>;
  readonly #readAhead: number;
  readonly #onAuthenticated: (() => void) | undefined;
  readonly #preAuthLimit: number;
  readonly #stream: NodeWebSocketTransportOptions["stream"];
  /** Who waits for the write queue to shrink (`drained`). */
  readonly #drainWaiters = new DrainWaiters(() => this.queuedBytes);
  #paused = false;
  #closed = false;
  #resolveClosed!: () => void;
  /** Resolves once the socket is closed. */
  readonly closed: Promise<void> = new Promise((resolve) => this.#resolveClosed = resolve);
  /** The peer's address. */
  readonly remote: string;
  /** Close code and reason, once closed. */
  closeInfo: { code: number; reason: string } | undefined;

  /** Wraps an open socket. */
  constructor(socket: NodeWebSocket, options: NodeWebSocketTransportOptions) {
    this.#socket = socket;
    this.remote = options.remote;
    this.#readAhead = options.readAheadBytes ?? 1024 * 1024;
    this.#incoming = new AsyncQueue<Incoming>({ highWater: this.#readAhead });
    this.#onAuthenticated = options.onAuthenticated;
    this.#preAuthLimit = options.preAuthLimit ?? Infinity;
    this.#stream = options.stream;
    socket.on("message", (data, isBinary) => this.#received(data, isBinary));
    options.stream?.on("drain", () => this.#drainWaiters.wake());
    socket.on("close", (code, reason) => {
      this.closeInfo ??= { code, reason: String(reason) };
      this.#finish();
    });
    // A frame over `maxPayload` (refused at its header: close code 1009), a protocol error or
    // a reset: `close` follows, which ends the link.
    socket.on("error", (error) => {
      this.closeInfo ??= { code: 1009, reason: error.message };
      options.onRefusedFrame?.();
      this.#incoming.push({
        error: new ProtocolError("message", `Refused a frame from the peer: ${error.message}`),
      });
    });
    if (socket.readyState >= socket.CLOSING) this.#finish();
  }

  #received(data: unknown, isBinary: boolean): void {
    if (isBinary) {
      this.#push({
        error: new ProtocolError(
          "message",
          "Binary WebSocket frames are not accepted: send JSON text",
        ),
      }, 1);
      return;
    }
    const text = String(data);
    try {
      this.#push({ message: parseEnvelope(text) }, text.length);
    } catch (error) {
      if (!(error instanceof ProtocolError)) throw error;
      this.#push({ error }, 1);
    }
  }

  /** Queues what was read; past the read-ahead, the socket is paused until the consumer takes. */
  #push(item: Incoming, weight: number): void {
    this.#incoming.push(item, weight);
    if (this.#paused || this.#incoming.weight < this.#readAhead) return;
    this.#paused = true;
    this.#socket.pause();
    this.#incoming.room().then(() => {
      this.#paused = false;
      if (!this.#closed) this.#socket.resume();
    });
  }

  /** Received messages, in order. */
  get incoming(): AsyncIterable<Incoming> {
    return this.#incoming;
  }

  /** Bytes sent but not yet written to the network. */
  get queuedBytes(): number {
    return this.#socket.bufferedAmount;
  }

  /** Bytes written to the network so far (undefined without the stream to tell). */
  get writtenBytes(): number | undefined {
    return this.#stream?.written;
  }

  /**
   * Resolves once at most `limit` bytes wait to be written (at once if so already), or the link
   * has closed: a producer that awaits it keeps pace with the peer, woken by the stream's
   * `drain` rather than by polling.
   */
  drained(limit: number): Promise<void> {
    return this.#drainWaiters.wait(limit);
  }

  /**
   * Changes the longest message accepted from now on. The `ws` package has no public setter:
   * its receiver reads `_maxPayload` at each frame header (pinned `ws` version; a test checks a
   * message over the old limit passes after the change).
   */
  setMaxMessageSize(size: number): void {
    const receiver = (this.#socket as unknown as { _receiver?: { _maxPayload: number } })
      ._receiver;
    if (receiver) receiver._maxPayload = size;
    if (size > this.#preAuthLimit) this.#onAuthenticated?.();
  }

  /** True once closing or closed. */
  get isClosed(): boolean {
    return this.#closed || this.#socket.readyState >= this.#socket.CLOSING;
  }

  /** Sends a message. False once closing. */
  send(msg: Message): boolean {
    if (this.isClosed) return false;
    this.#socket.send(JSON.stringify(msg));
    return true;
  }

  /**
   * Closes (queued frames first); a peer that does not answer the close within 2 s, or does not
   * read, is dropped. Idempotent.
   */
  close(code = 1000, reason = ""): void {
    if (this.isClosed) return;
    this.closeInfo ??= { code, reason };
    try {
      this.#socket.close(code, reason);
    } catch {
      this.#socket.terminate();
    }
    const timer = setTimeout(() => this.#socket.terminate(), CLOSE_TIMEOUT_MS);
    this.closed.then(() => clearTimeout(timer));
  }

  /** Closes, and waits until closed. */
  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
    await this.closed;
  }

  #finish(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#drainWaiters.close();
    this.#incoming.end();
    this.#resolveClosed();
  }
}
