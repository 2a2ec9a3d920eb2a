/**
 * The client link's transport on `qdb serve`'s own listener: one JSON envelope per WebSocket
 * text frame, over a socket of the `ws` package (on `node:http`). Unlike a WebSocket from
 * `Deno.upgradeWebSocket`, it refuses a frame larger than the limit as its header arrives
 * (nothing of it is buffered), stops reading while what it read waits unconsumed, and knows how
 * many bytes wait to be written to a peer that does not read.
 *
 * What waits for a slow peer waits as compact JSON strings in the transport's own outbox, not as
 * `ws` frames: a frame queued in a Node stream costs two buffers and a write request, four to
 * six times the bytes of a small event, and a flood across a thousand sessions is made of small
 * events. Frames are handed to `ws` only while less than {@linkcode WRITE_AHEAD_BYTES} wait in
 * the stream, in batches written together (one `writev`).
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
   * The stream the socket writes to, whose `written` event says when a write reached the network
   * (for {@linkcode NodeWebSocketTransport.drained}). Without it, `drained` looks every 5 ms.
   */
  stream?: {
    on(event: "written" | "close", listener: () => void): unknown;
    /** Bytes written to the network so far. */
    readonly written?: number;
    /** Bytes the kernel holds for the peer, unacknowledged (undefined where unknown). */
    readonly kernelQueued?: number | undefined;
    /** Holds writes back until `uncork`, to write them together. */
    cork?(): void;
    /** Writes what was held since `cork`. */
    uncork?(): void;
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
/** Bytes of frames handed to the stream ahead of the network; the rest waits in the outbox. */
export const WRITE_AHEAD_BYTES = 64 * 1024;
/**
 * What one message waiting in the outbox costs besides its characters (a string's header and
 * its slot in the array), counted in {@linkcode NodeWebSocketTransport.queuedBytes} so that the
 * server's limits bound memory, not only characters.
 */
export const MESSAGE_OVERHEAD_BYTES = 32;

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
  /** Messages (JSON text) waiting for the stream to take them, from `#outboxHead` on. */
  #outbox: string[] = [];
  #outboxHead = 0;
  /** Their cost: characters plus {@linkcode MESSAGE_OVERHEAD_BYTES} each. */
  #outboxBytes = 0;
  #paused = false;
  /** Set by `close()`: the close frame to send once the outbox is empty. */
  #closing: { code: number; reason: string } | undefined;
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
    options.stream?.on("written", () => {
      this.#flush();
      this.#drainWaiters.wake();
    });
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

  /**
   * Bytes sent but not yet written to the network: what the stream holds, and what waits in the
   * outbox (its characters, and {@linkcode MESSAGE_OVERHEAD_BYTES} a message).
   */
  get queuedBytes(): number {
    return this.#outboxBytes + this.#socket.bufferedAmount;
  }

  /** Bytes the kernel holds for the peer, unacknowledged (undefined where unknown). */
  get kernelQueuedBytes(): number | undefined {
    return this.#stream?.kernelQueued;
  }

  /** Bytes written to the network so far (undefined without the stream to tell). */
  get writtenBytes(): number | undefined {
    return this.#stream?.written;
  }

  /**
   * Resolves once at most `limit` bytes wait to be written (at once if so already), or the link
   * has closed: a producer that awaits it keeps pace with the peer, woken by the stream's
   * `written` events rather than by polling.
   */
  drained(limit: number, signal?: AbortSignal): Promise<void> {
    return this.#drainWaiters.wait(limit, signal);
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
    return this.#closed || this.#closing !== undefined ||
      this.#socket.readyState >= this.#socket.CLOSING;
  }

  /** Sends a message. False once closing. */
  send(msg: Message): boolean {
    return this.sendText(JSON.stringify(msg));
  }

  /**
   * Sends a message already serialised (`JSON.stringify` of a message): an event for many
   * clients is serialised once, and each outbox holds the same string. False once closing.
   */
  sendText(json: string): boolean {
    if (this.isClosed) return false;
    // Without a stream to say when it drained, nothing could move the outbox: all goes to `ws`
    // (the listener always gives a stream).
    if (
      !this.#stream ||
      (this.#outboxBytes === 0 && this.#socket.bufferedAmount < WRITE_AHEAD_BYTES)
    ) {
      this.#socket.send(json);
    } else {
      this.#outbox.push(json);
      this.#outboxBytes += json.length + MESSAGE_OVERHEAD_BYTES;
    }
    return true;
  }

  /**
   * Hands waiting messages to `ws` until the stream holds {@linkcode WRITE_AHEAD_BYTES}, corked:
   * they reach the network in one write. Once closing, the last one sends the close frame.
   */
  #flush(): void {
    if (this.#outboxBytes === 0 || this.#socket.readyState !== this.#socket.OPEN) return;
    const raw = this.#stream;
    raw?.cork?.();
    try {
      while (
        this.#outboxHead < this.#outbox.length &&
        this.#socket.bufferedAmount < WRITE_AHEAD_BYTES
      ) {
        const json = this.#outbox[this.#outboxHead]!;
        this.#outbox[this.#outboxHead++] = "";
        this.#outboxBytes -= json.length + MESSAGE_OVERHEAD_BYTES;
        this.#socket.send(json);
      }
    } finally {
      raw?.uncork?.();
    }
    if (this.#outboxHead === this.#outbox.length) {
      this.#outbox = [];
      this.#outboxHead = 0;
      this.#outboxBytes = 0;
      if (this.#closing) this.#sendClose();
    } else if (this.#outboxHead > 1024 && this.#outboxHead * 2 > this.#outbox.length) {
      this.#outbox = this.#outbox.slice(this.#outboxHead);
      this.#outboxHead = 0;
    }
  }

  /**
   * Closes: what waits in the outbox goes first, at the peer's pace, then the close frame; a
   * peer that has not taken it all and answered the close within 2 s is dropped. Idempotent.
   */
  close(code = 1000, reason = ""): void {
    if (this.isClosed) return;
    this.closeInfo ??= { code, reason };
    this.#closing = { code, reason };
    const timer = setTimeout(() => this.#socket.terminate(), CLOSE_TIMEOUT_MS);
    this.closed.then(() => clearTimeout(timer));
    if (this.#outboxBytes === 0) this.#sendClose();
    // Else the outbox's last flush sends it.
  }

  #sendClose(): void {
    const { code, reason } = this.#closing!;
    try {
      this.#socket.close(code, reason);
    } catch {
      this.#socket.terminate();
    }
  }

  /** Closes, and waits until closed. */
  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
    await this.closed;
  }

  #finish(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#outbox = [];
    this.#outboxHead = 0;
    this.#outboxBytes = 0;
    this.#drainWaiters.close();
    this.#incoming.end();
    this.#resolveClosed();
  }
}
