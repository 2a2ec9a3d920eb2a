/**
 * Framing of the tracer link (TCP): each message is a 4-byte big-endian unsigned length,
 * then that many bytes of UTF-8 JSON (one envelope). The decoder copes with frames split
 * across reads and many frames in one read, and skips a frame larger than the limit (after
 * reporting it) so that the link survives it.
 *
 * @example
 * ```ts
 * import { encodeFrame, FrameDecoder } from "./framing.ts";
 * const decoder = new FrameDecoder();
 * const [item] = decoder.push(encodeFrame({ e: "step" }));
 * item; // { message: { e: "step" } }
 * ```
 * @module
 */

import { checkEnvelope, type Message } from "./envelope.ts";
import { ProtocolError } from "./errors.ts";
import { parseJson } from "./json.ts";

/** Default largest frame, in bytes of its body. */
export const DEFAULT_MAX_FRAME_SIZE = 16 * 1024 * 1024;

/** Bytes of the length header. */
export const FRAME_HEADER_SIZE = 4;

const encoder = new TextEncoder();

/**
 * Encodes a message (or its JSON text) as one frame.
 *
 * @throws {RangeError} when the body exceeds `maxFrameSize`.
 */
export function encodeFrame(
  msg: Message | string,
  maxFrameSize: number = DEFAULT_MAX_FRAME_SIZE,
): Uint8Array {
  const body = encoder.encode(typeof msg === "string" ? msg : JSON.stringify(msg));
  if (body.length > maxFrameSize) {
    throw new RangeError(
      `Cannot send a frame of ${body.length} bytes: the limit is ${maxFrameSize}`,
    );
  }
  const frame = new Uint8Array(FRAME_HEADER_SIZE + body.length);
  new DataView(frame.buffer).setUint32(0, body.length);
  frame.set(body, FRAME_HEADER_SIZE);
  return frame;
}

/** One decoded frame: a message, or the error that made it unusable. */
export type DecodedFrame = { message: Message } | { error: ProtocolError };

/** Options of {@linkcode FrameDecoder}. */
export interface FrameDecoderOptions {
  /** Largest accepted frame body in bytes. Default {@linkcode DEFAULT_MAX_FRAME_SIZE}. */
  maxFrameSize?: number;
}

/** Frames at least this large are put together in a buffer of their own size as they arrive. */
const DIRECT_BODY_BYTES = 256 * 1024;

/** Incremental decoder: push bytes as they arrive, get whole frames back. */
export class FrameDecoder {
  #max: number;
  readonly #decoder = new TextDecoder("utf-8", { fatal: true });
  #chunks: Uint8Array[] = [];
  #buffered = 0;
  /** Bytes of an oversized frame still to discard. */
  #skipping = 0;
  /** A large frame being received: its body, filled as bytes arrive (never a second copy). */
  #body: Uint8Array | undefined;
  #filled = 0;

  /** A decoder of frames of at most `options.maxFrameSize` bytes (default 16 MiB). */
  constructor(options: FrameDecoderOptions = {}) {
    this.#max = options.maxFrameSize ?? DEFAULT_MAX_FRAME_SIZE;
  }

  /** Largest accepted frame body in bytes; may be changed between pushes. */
  get maxFrameSize(): number {
    return this.#max;
  }
  set maxFrameSize(size: number) {
    this.#max = size;
  }

  /** Bytes received but not yet part of a whole frame. */
  get buffered(): number {
    return this.#buffered + this.#filled;
  }

  /**
   * Adds received bytes; returns every frame they complete, in order. What it keeps of `chunk`
   * is copied: the caller may reuse its buffer.
   */
  push(chunk: Uint8Array): DecodedFrame[] {
    const out: DecodedFrame[] = [];
    if (this.#skipping > 0) {
      const dropped = Math.min(this.#skipping, chunk.length);
      this.#skipping -= dropped;
      chunk = chunk.subarray(dropped);
    }
    const body = this.#body;
    if (body) {
      const n = Math.min(chunk.length, body.length - this.#filled);
      body.set(chunk.subarray(0, n), this.#filled);
      this.#filled += n;
      chunk = chunk.subarray(n);
      if (this.#filled < body.length) return out;
      this.#body = undefined;
      this.#filled = 0;
      out.push(this.#decode(body));
    }
    if (chunk.length > 0) {
      // Kept for later: a copy, so that the caller may read into the same buffer again.
      this.#chunks.push(chunk.slice());
      this.#buffered += chunk.length;
    }
    while (this.#skipping === 0 && this.#buffered >= FRAME_HEADER_SIZE) {
      const header = this.#peek(FRAME_HEADER_SIZE);
      const size = new DataView(header.buffer, header.byteOffset, 4).getUint32(0);
      if (size > this.#max) {
        this.#take(FRAME_HEADER_SIZE);
        out.push({
          error: new ProtocolError(
            "message",
            `Frame of ${size} bytes exceeds the limit of ${this.#max}; it was skipped`,
          ),
        });
        const dropped = Math.min(size, this.#buffered);
        this.#take(dropped);
        this.#skipping = size - dropped;
        continue;
      }
      if (this.#buffered < FRAME_HEADER_SIZE + size) {
        if (size >= DIRECT_BODY_BYTES) {
          // A large frame: its body is put together in one buffer of its size as it arrives,
          // rather than kept as chunks and copied once whole.
          this.#take(FRAME_HEADER_SIZE);
          this.#body = new Uint8Array(size);
          this.#filled = this.#buffered;
          this.#body.set(this.#take(this.#buffered));
        }
        break;
      }
      this.#take(FRAME_HEADER_SIZE);
      out.push(this.#decode(this.#take(size)));
    }
    return out;
  }

  #decode(body: Uint8Array): DecodedFrame {
    let text: string;
    try {
      text = this.#decoder.decode(body);
    } catch {
      return { error: new ProtocolError("message", "Frame is not valid UTF-8") };
    }
    try {
      return { message: checkEnvelope(parseJson(text, { what: "Frame" })) };
    } catch (error) {
      if (error instanceof ProtocolError) return { error };
      throw error;
    }
  }

  /** The first `n` buffered bytes, without consuming them. */
  #peek(n: number): Uint8Array {
    const first = this.#chunks[0]!;
    if (first.length >= n) return first.subarray(0, n);
    this.#coalesce();
    return this.#chunks[0]!.subarray(0, n);
  }

  /** Removes and returns the first `n` buffered bytes. */
  #take(n: number): Uint8Array {
    if (n === 0) return new Uint8Array(0);
    let first = this.#chunks[0]!;
    if (first.length < n) {
      this.#coalesce();
      first = this.#chunks[0]!;
    }
    const taken = first.subarray(0, n);
    const rest = first.subarray(n);
    if (rest.length > 0) this.#chunks[0] = rest;
    else this.#chunks.shift();
    this.#buffered -= n;
    return taken;
  }

  #coalesce(): void {
    const all = new Uint8Array(this.#buffered);
    let at = 0;
    for (const chunk of this.#chunks) {
      all.set(chunk, at);
      at += chunk.length;
    }
    this.#chunks = [all];
  }
}
