/**
 * One bridge's channel to the engine: a Unix socket carrying frames (protocol/framing.ts),
 * commands in and tracer events out. The program's bridge and each of its followed children
 * have one.
 *
 * @module
 */

import { encodeFrame, FrameDecoder } from "../../protocol/framing.ts";
import type { Message, MessageId } from "../../protocol/envelope.ts";

/** What the bridge said first, and what came with it. */
export interface Hello {
  /** The `hello` payload. */
  p: Record<string, unknown>;
  /** Frames that arrived with it, in order. */
  pending: Message[];
  /** The socket's reader, positioned after them. */
  reader: ReadableStreamDefaultReader<Uint8Array>;
  /** The decoder holding any partial frame. */
  decoder: FrameDecoder;
}

/**
 * Reads the bridge's `hello`, which must carry `token`.
 *
 * @throws {Error} when the channel closes first, or the hello is not the expected one.
 */
export async function readHello(conn: Deno.UnixConn, token: string): Promise<Hello> {
  const reader = conn.readable.getReader();
  const decoder = new FrameDecoder();
  const pending: Message[] = [];
  let hello: Message | undefined;
  while (hello === undefined) {
    // No race with the program's exit here: a quick program may be gone already, but what
    // the bridge sent is still in the socket, then end of file.
    const read = await reader.read();
    if (read.done) throw new Error("The qdb bridge closed its connection before hello");
    for (const item of decoder.push(read.value)) {
      if (!("message" in item)) continue;
      if (hello === undefined) hello = item.message;
      else pending.push(item.message);
    }
  }
  const p = (hello.p ?? {}) as Record<string, unknown>;
  if (hello.e !== "hello" || p.token !== token) {
    reader.releaseLock();
    throw new Error("The qdb bridge's hello did not carry the expected token");
  }
  return { p, pending, reader, decoder };
}

/** Options of {@linkcode BridgeChannel}. */
export interface BridgeChannelOptions {
  /** Receives each message from the bridge, in order. */
  onMessage: (msg: Message) => void;
  /** Awaited before each read (flow control); may change over time. */
  flow?: () => (() => Promise<void>) | undefined;
}

/** Sends frames to a bridge and reads its frames until the channel closes. */
export class BridgeChannel {
  #conn: Deno.UnixConn | undefined;
  #writes: Promise<void> = Promise.resolve();
  /** Resolves once the channel has closed (read to its end, or broken). */
  readonly closed: Promise<void>;

  /** Starts reading from `hello.reader` (its pending messages are the caller's). */
  constructor(conn: Deno.UnixConn, hello: Hello, options: BridgeChannelOptions) {
    this.#conn = conn;
    this.closed = this.#read(hello.reader, hello.decoder, options);
  }

  /** Whether the channel is still open. */
  get open(): boolean {
    return this.#conn !== undefined;
  }

  async #read(
    reader: ReadableStreamDefaultReader<Uint8Array>,
    decoder: FrameDecoder,
    options: BridgeChannelOptions,
  ): Promise<void> {
    try {
      while (true) {
        const flow = options.flow?.();
        if (flow) await flow();
        const { value, done } = await reader.read();
        if (done) break;
        for (const item of decoder.push(value)) {
          if ("message" in item) options.onMessage(item.message);
          else {
            options.onMessage({
              e: "error",
              p: { type: "internal", data: `Bad frame from the qdb bridge: ${item.error.message}` },
            });
          }
        }
      }
    } catch {
      // The connection broke: the program's exit (or a soft disable) tells the rest.
    } finally {
      this.close();
    }
  }

  /**
   * Sends a message; `failed` hears why when it cannot (type and sentence, as an `error`
   * would say).
   */
  send(msg: Message, failed: (type: string, data: string) => void): void {
    const conn = this.#conn;
    if (!conn) {
      failed("tracer", "qdb is no longer attached to the program");
      return;
    }
    let frame: Uint8Array;
    try {
      frame = encodeFrame(msg);
    } catch (error) {
      failed("message", error instanceof Error ? error.message : String(error));
      return;
    }
    this.#writes = this.#writes.then(async () => {
      try {
        let written = 0;
        while (written < frame.length) written += await conn.write(frame.subarray(written));
      } catch {
        failed("tracer", "The qdb bridge's connection is closed");
      }
    });
  }

  /** Closes the channel. Idempotent. */
  close(): void {
    try {
      this.#conn?.close();
    } catch { /* already closed */ }
    this.#conn = undefined;
  }
}

/** The `error` that answers `command` (with its id, if it had one). */
export function errorReply(command: Message, type: string, data: string): Message {
  const msg: Message = { e: "error", p: { type, data, command: command.e } };
  if (command.id !== undefined) msg.id = command.id as MessageId;
  return msg;
}
