/**
 * A `Deno.Conn` as a `node:stream` Duplex with the few socket methods `node:http` and the `ws`
 * package call, so that a connection accepted by Deno's own listener (whose accept errors the
 * caller sees and survives) can be served by them. Reading follows the consumer: while it does
 * not read (`ws` pauses a client whose messages wait), nothing more is read from the network.
 *
 * @module
 */

import { Duplex } from "node:stream";
import { Buffer } from "node:buffer";
import { ReadBuffer } from "./read_buffer.ts";
import { kernelSendQueues } from "./kernel_queue.ts";

/** Most bytes read and let go after a refusal, while the close frame is on its way. */
const MAX_DISCARD = 1024 * 1024;

/** A Duplex over a `Deno.Conn`. */
export class ConnStream extends Duplex {
  /** The peer's address, as `net.Socket` has it. */
  readonly remoteAddress: string;
  /** The peer's port. */
  readonly remotePort: number;
  /** The local port of the connection. */
  readonly localPort: number;
  readonly #conn: Deno.Conn;
  #wantRead: (() => void) | undefined;
  #dropped = false;
  #discarded = 0;
  /**
   * Bytes the kernel holds for the peer, sent and not yet acknowledged (Linux; undefined where
   * unknown): it goes down as a slow peer reads, while writes wait for a third of the kernel's
   * buffer to be free.
   */
  get kernelQueued(): number | undefined {
    return kernelSendQueues.get(this.localPort, this.remotePort);
  }

  /** Bytes written to the connection so far (a `written` event follows each write). */
  written = 0;

  /** Wraps an accepted connection; it is read from at once. */
  constructor(conn: Deno.Conn) {
    super({ allowHalfOpen: false });
    this.#conn = conn;
    const addr = conn.remoteAddr as Deno.NetAddr;
    this.remoteAddress = addr.hostname ?? "unknown";
    this.remotePort = addr.port ?? 0;
    this.localPort = (conn.localAddr as Deno.NetAddr).port ?? 0;
    this.#pump();
  }

  async #pump(): Promise<void> {
    const buffer = new ReadBuffer();
    try {
      while (!this.destroyed) {
        const n = await this.#conn.read(buffer.bytes);
        if (n === null) break;
        const read = buffer.filled(n);
        if (this.#dropped) {
          // Refused: what still comes is let go, so that the close frame is not lost to a
          // reset, up to a bound.
          this.#discarded += n;
          if (this.#discarded > MAX_DISCARD) break;
          continue;
        }
        if (!this.push(Buffer.from(read))) {
          await new Promise<void>((resolve) => this.#wantRead = resolve);
        }
      }
    } catch {
      // Reset by the peer, or closed here.
    }
    if (this.#dropped) this.destroy();
    else this.push(null);
  }

  /** The consumer wants more: reading goes on. */
  override _read(): void {
    const resume = this.#wantRead;
    this.#wantRead = undefined;
    resume?.();
  }

  /** Writes a chunk, all of it, then calls back. */
  override _write(
    chunk: Buffer,
    _encoding: string,
    callback: (error?: Error | null) => void,
  ): void {
    (async () => {
      let written = 0;
      while (written < chunk.length) {
        const n = await this.#conn.write(chunk.subarray(written));
        written += n;
        this.written += n;
      }
    })().then(() => {
      callback();
      // After each write, not only when the buffer ran dry past its high-water mark (`drain`):
      // whoever waits for the queue to go below some size hears of every step.
      this.emit("written");
    }, (error) => callback(error));
  }

  /**
   * Writes every chunk queued while the last write was under way as one: a busy link costs one
   * write per round, not one per message.
   */
  override _writev(
    chunks: { chunk: Buffer; encoding: string }[],
    callback: (error?: Error | null) => void,
  ): void {
    const joined = chunks.length === 1
      ? chunks[0]!.chunk
      : Buffer.concat(chunks.map((c) => c.chunk));
    this._write(joined, "buffer", callback);
  }

  /** Closes the write side once everything queued is written. */
  override _final(callback: () => void): void {
    // A TLS connection's closeWrite is asynchronous, and fails when the handshake did (a peer
    // that refused the certificate): neither may escape, or the process would end.
    try {
      Promise.resolve((this.#conn as Deno.TcpConn).closeWrite()).catch(() => {});
    } catch {
      // Already closed.
    }
    callback();
  }

  /** Closes the connection. */
  override _destroy(error: Error | null, callback: (error: Error | null) => void): void {
    try {
      this.#conn.close();
    } catch {
      // Already closed.
    }
    this._read();
    callback(error);
  }

  /**
   * Keeps nothing more that the peer sends, writes what is queued (a close frame that says why),
   * then closes: for a peer refused mid-message, whose rest is not worth keeping. At most 1 MiB
   * more is read (and let go at once) so that the close is not lost to a reset; a peer that
   * sends more, or does not close, is dropped then, or after `graceMs`. Idempotent.
   */
  refuse(graceMs = 2000): void {
    if (this.#dropped || this.destroyed) return;
    this.#dropped = true;
    const timer = setTimeout(() => this.destroy(), graceMs);
    this.once("close", () => clearTimeout(timer));
    // What is queued is written, then the write side closes; the rest of the peer's data is
    // let go until it closes too (or past the bound, or the grace).
    this.end();
    this._read();
  }

  /** `net.Socket`'s timeout: deadlines are the listener's own, so nothing to do. */
  setTimeout(): this {
    return this;
  }

  /** Turns Nagle's algorithm off (a TLS connection has no such switch of its own). */
  setNoDelay(noDelay = true): this {
    const tcp = this.#conn as Partial<Deno.TcpConn>;
    try {
      tcp.setNoDelay?.(noDelay);
    } catch {
      // Closed.
    }
    return this;
  }

  /** TCP keep-alive, as `net.Socket` has it. */
  setKeepAlive(keepAlive = false): this {
    const tcp = this.#conn as Partial<Deno.TcpConn>;
    try {
      tcp.setKeepAlive?.(keepAlive);
    } catch {
      // Closed.
    }
    return this;
  }
}
