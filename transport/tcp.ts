/**
 * The tracer link's transport: length-prefixed JSON frames (see `protocol/framing.ts`) over a
 * TCP connection (or any `Deno.Conn`, such as a Unix socket).
 *
 * @example
 * ```ts ignore
 * import { connectTcp } from "./tcp.ts";
 * const link = await connectTcp("tcp://127.0.0.1:8001", { retries: 5 });
 * link.send({ e: "start", p: { session: "demo" } });
 * link.close();
 * ```
 * @module
 */

import {
  DEFAULT_MAX_FRAME_SIZE,
  encodeFrame,
  FrameDecoder,
  type Message,
} from "../protocol/mod.ts";
import { explainTlsFailure, type TlsClientOptions } from "./tls.ts";
import { AsyncQueue } from "./async_queue.ts";
import { DrainWaiters } from "./drain.ts";
import type { Incoming, MessageTransport } from "./transport.ts";
import { ReadBuffer } from "./read_buffer.ts";

/** Options of {@linkcode TcpTransport}. */
export interface TcpTransportOptions {
  /** Largest frame accepted or sent, in bytes. Default 16 MiB. */
  maxFrameSize?: number;
}

/**
 * What frames read ahead of the consumer may weigh before the transport stops reading (then the
 * peer's writes wait): in bytes, not messages, since one frame may be 16 MiB; each frame also
 * weighs {@linkcode ITEM_WEIGHT} more, as a parsed message costs more than its bytes (so at most
 * 256 small ones wait). The kernel's socket buffers hold the rest.
 */
export const INCOMING_HIGH_WATER_BYTES = 256 * 1024;
/** What a parsed message costs beyond its bytes, for the read-ahead's weight. */
const ITEM_WEIGHT = 1024;
/** How long `close()` lets queued frames drain before it closes anyway. */
const CLOSE_DRAIN_MS = 2000;

/** A {@linkcode MessageTransport} over a `Deno.Conn`. */
export class TcpTransport implements MessageTransport {
  readonly #conn: Deno.Conn;
  readonly #maxFrameSize: number;
  readonly #decoder: FrameDecoder;
  /** Frames read and not yet taken, weighed in bytes; past the mark, reading waits. */
  readonly #incoming = new AsyncQueue<Incoming>({ highWater: INCOMING_HIGH_WATER_BYTES });
  #queued = 0;
  #written = 0;
  /** Who waits for the write queue to shrink (`drained`). */
  readonly #drainWaiters = new DrainWaiters(() => this.#queued);
  #writing: Promise<void> = Promise.resolve();
  #closing = false;
  #closed = false;
  #resolveClosed!: () => void;
  /** Resolves once the connection is closed. */
  readonly closed: Promise<void> = new Promise((resolve) => this.#resolveClosed = resolve);
  /** The peer's address. */
  readonly remote: string;

  constructor(conn: Deno.Conn, options: TcpTransportOptions = {}) {
    this.#conn = conn;
    this.#maxFrameSize = options.maxFrameSize ?? DEFAULT_MAX_FRAME_SIZE;
    this.remote = describeAddress(conn.remoteAddr);
    this.#decoder = new FrameDecoder({ maxFrameSize: this.#maxFrameSize });
    this.#readLoop();
  }

  /** Received messages, in order. */
  get incoming(): AsyncIterable<Incoming> {
    return this.#incoming;
  }

  /** True once closed. */
  get isClosed(): boolean {
    return this.#closing || this.#closed;
  }

  /** Bytes of frames queued but not yet written. */
  get queuedBytes(): number {
    return this.#queued;
  }

  /** Changes the largest frame accepted from now on (at most the transport's own limit). */
  setMaxMessageSize(size: number): void {
    this.#decoder.maxFrameSize = Math.min(size, this.#maxFrameSize);
  }

  /**
   * Queues a message. Returns false once the link is closing.
   *
   * @throws {RangeError} when the message is larger than the frame limit.
   */
  send(msg: Message): boolean {
    if (this.isClosed) return false;
    const frame = encodeFrame(msg, this.#maxFrameSize);
    this.#queued += frame.length;
    this.#writing = this.#writing.then(() => this.#writeAll(frame)).catch(() => this.#finish())
      .finally(() => {
        this.#queued -= frame.length;
        this.#drainWaiters.wake();
      });
    return true;
  }

  /**
   * Resolves once at most `limit` bytes wait to be written (at once if so already), or the
   * link has closed: a producer that awaits it keeps pace with the peer.
   */
  drained(limit: number, signal?: AbortSignal): Promise<void> {
    return this.#drainWaiters.wait(limit, signal);
  }

  /** Closes after queued frames are written (or after a short grace period). Idempotent. */
  close(): void {
    if (this.#closing) return;
    this.#closing = true;
    const drained = this.#writing;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const grace = new Promise<void>((resolve) => timer = setTimeout(resolve, CLOSE_DRAIN_MS));
    Promise.race([drained, grace]).finally(() => {
      clearTimeout(timer);
      this.#finish();
    });
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
    await this.closed;
  }

  async #writeAll(frame: Uint8Array): Promise<void> {
    let written = 0;
    while (written < frame.length) {
      const n = await this.#conn.write(frame.subarray(written));
      written += n;
      this.#written += n;
    }
  }

  /** Bytes written to the network so far. */
  get writtenBytes(): number {
    return this.#written;
  }

  async #readLoop(): Promise<void> {
    const decoder = this.#decoder;
    const buffer = new ReadBuffer();
    let unweighed = 0;
    try {
      while (true) {
        const n = await this.#conn.read(buffer.bytes);
        if (n === null) break;
        // Bytes read are weighed on the frame they complete: the queue's weight is the bytes
        // of the frames it holds.
        unweighed += n;
        for (const item of decoder.push(buffer.filled(n))) {
          this.#incoming.push(item, unweighed + ITEM_WEIGHT);
          unweighed = 0;
        }
        await this.#incoming.room();
      }
    } catch {
      // A reset or a local close ends the link like an orderly end of stream.
    }
    this.#incoming.end();
    this.#finish();
  }

  #finish(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#closing = true;
    this.#drainWaiters.close();
    try {
      this.#conn.close();
    } catch {
      // Already closed.
    }
    this.#incoming.end();
    this.#resolveClosed();
  }
}

/** A host and port. */
export interface TcpAddress {
  /** Host name or IP address. */
  hostname: string;
  /** Port number. */
  port: number;
  /** Whether the link is TLS (`tls://`). Default false. */
  tls?: boolean;
}

/**
 * Parses `tcp://host:port`, `tls://host:port`, `host:port`, `host` or `:port` (the missing
 * parts default).
 *
 * @throws {TypeError} naming what is wrong.
 */
export function parseTcpAddress(text: string, defaults: TcpAddress): TcpAddress {
  const tls = /^tls:\/\//i.test(text);
  const bare = text.replace(/^(tcp|tls):\/\//i, "").replace(/\/$/, "");
  if (/^wss?:\/\//i.test(bare) || /^https?:\/\//i.test(bare)) {
    throw new TypeError(
      `Cannot use "${text}" as a tracer address: that is the client (WebSocket) address; ` +
        "tracers connect to tcp://HOST:PORT (tls:// with TLS), the server's tracer port",
    );
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(bare)) {
    throw new TypeError(
      `Cannot use "${text}" as a tracer address: it must be tcp://HOST:PORT or tls://HOST:PORT`,
    );
  }
  const match = /^(\[[^\]]+\]|[^:]*)(?::(\d+))?$/.exec(bare);
  if (!match) {
    throw new TypeError(
      `Cannot use "${text}" as a tracer address: it must be tcp://HOST:PORT or tls://HOST:PORT`,
    );
  }
  const hostname = (match[1] || defaults.hostname).replace(/^\[|\]$/g, "");
  const port = match[2] === undefined ? defaults.port : Number(match[2]);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new TypeError(`Cannot use "${text}" as a tracer address: port must be 0 to 65535`);
  }
  return tls ? { hostname, port, tls } : { hostname, port };
}

/** Options of {@linkcode connectTcp}. */
export interface ConnectTcpOptions extends TcpTransportOptions, TlsClientOptions {
  /** Connection attempts after the first failure. Default 0. */
  retries?: number;
  /** First delay between attempts, in ms; it doubles each time. Default 200. */
  retryDelay?: number;
  /** Longest delay between attempts, in ms. Default 5000. */
  maxRetryDelay?: number;
  /** Called before each retry, with the attempt number and the error of the last one. */
  onRetry?: (attempt: number, error: Error) => void;
  /** Aborting stops retrying (and fails the connection). */
  signal?: AbortSignal;
}

/**
 * Connects to `tcp://host:port` (or `tls://host:port`, checking the server's certificate),
 * retrying with exponential backoff. A refused certificate is not retried.
 *
 * @throws {Error} `Cannot connect to tcp://...` with the last failure's reason.
 */
export async function connectTcp(
  address: string | TcpAddress,
  options: ConnectTcpOptions = {},
): Promise<TcpTransport> {
  const target = typeof address === "string"
    ? parseTcpAddress(address, { hostname: "127.0.0.1", port: 8001 })
    : address;
  const retries = options.retries ?? 0;
  let delay = options.retryDelay ?? 200;
  for (let attempt = 0;; attempt++) {
    options.signal?.throwIfAborted();
    try {
      return new TcpTransport(await open(target, options), options);
    } catch (error) {
      const reason = error instanceof Error ? error : new Error(String(error));
      const tlsProblem = explainTlsFailure(reason.message);
      if (attempt >= retries || tlsProblem) {
        const scheme = target.tls ? "tls" : "tcp";
        throw new Error(
          `Cannot connect to ${scheme}://${formatHost(target.hostname)}:${target.port}: ${
            tlsProblem ?? reason.message
          }`,
          { cause: error },
        );
      }
      options.onRetry?.(attempt + 1, reason);
      await abortableDelay(delay, options.signal);
      delay = Math.min(delay * 2, options.maxRetryDelay ?? 5000);
    }
  }
}

async function open(target: TcpAddress, options: TlsClientOptions): Promise<Deno.Conn> {
  const conn = await Deno.connect({ hostname: target.hostname, port: target.port });
  conn.setNoDelay(true);
  if (!target.tls) return conn;
  const tls = await Deno.startTls(conn, {
    hostname: target.hostname,
    ...(options.caCerts ? { caCerts: options.caCerts } : {}),
  });
  try {
    // Now, so that a refused certificate fails the connection instead of its first read.
    await tls.handshake();
  } catch (error) {
    tls.close();
    throw error;
  }
  return tls;
}

/** `host:port` of an address, bracketing IPv6 hosts. */
export function describeAddress(addr: Deno.Addr): string {
  if (addr.transport === "tcp" || addr.transport === "udp") {
    return `${formatHost(addr.hostname)}:${addr.port}`;
  }
  return "path" in addr ? `unix:${addr.path}` : String(addr.transport);
}

/** A host as it appears in a URL: IPv6 addresses in brackets. */
export function formatHost(hostname: string): string {
  return hostname.includes(":") ? `[${hostname}]` : hostname;
}

function abortableDelay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
