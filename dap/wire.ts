/**
 * The Debug Adapter Protocol's wire format: each message is a `Content-Length: N` header, an
 * empty line, and N bytes of UTF-8 JSON. Editors speak it on the adapter's standard input and
 * output.
 *
 * @module
 */

/** Largest message accepted from an editor, in bytes. */
export const MAX_DAP_MESSAGE = 16 * 1024 * 1024;

const HEADER_END = new TextEncoder().encode("\r\n\r\n");

/** A DAP message: a request, a response or an event. */
export interface DapMessage {
  /** Sequence number of the sender. */
  seq: number;
  /** `request`, `response` or `event`. */
  type: string;
  /** The rest (command, arguments, body, ...). */
  [key: string]: unknown;
}

/** The bytes of one message on the wire. */
export function encodeDap(message: object): Uint8Array {
  const body = new TextEncoder().encode(JSON.stringify(message));
  const header = new TextEncoder().encode(`Content-Length: ${body.length}\r\n\r\n`);
  const out = new Uint8Array(header.length + body.length);
  out.set(header);
  out.set(body, header.length);
  return out;
}

/** Why a stream could not be read as DAP messages. */
export class DapWireError extends Error {
  /** Says what was wrong with the stream. */
  constructor(message: string) {
    super(message);
    this.name = "DapWireError";
  }
}

/**
 * The messages on a byte stream, in order. A header without a valid `Content-Length`, a message
 * over `maxBytes` or a body that is not a JSON object throws a {@linkcode DapWireError} (the
 * stream cannot be followed after it).
 */
export async function* readDap(
  stream: ReadableStream<Uint8Array>,
  maxBytes: number = MAX_DAP_MESSAGE,
): AsyncGenerator<DapMessage> {
  let buf = new Uint8Array(0);
  const decoder = new TextDecoder();
  for await (const chunk of stream) {
    const joined = new Uint8Array(buf.length + chunk.length);
    joined.set(buf);
    joined.set(chunk, buf.length);
    buf = joined;
    while (true) {
      const end = indexOf(buf, HEADER_END);
      if (end < 0) {
        if (buf.length > 4096) throw new DapWireError("A DAP header longer than 4096 bytes");
        break;
      }
      const header = decoder.decode(buf.subarray(0, end));
      const m = /^content-length:\s*(\d+)\s*$/im.exec(header);
      if (!m) throw new DapWireError(`A DAP header without Content-Length: ${header.slice(0, 80)}`);
      const length = Number(m[1]);
      if (length > maxBytes) {
        throw new DapWireError(`A DAP message of ${length} bytes (at most ${maxBytes})`);
      }
      const start = end + HEADER_END.length;
      if (buf.length < start + length) break;
      const text = decoder.decode(buf.subarray(start, start + length));
      buf = buf.slice(start + length);
      let message: unknown;
      try {
        message = JSON.parse(text);
      } catch {
        throw new DapWireError("A DAP message that is not JSON");
      }
      if (typeof message !== "object" || message === null || Array.isArray(message)) {
        throw new DapWireError("A DAP message that is not a JSON object");
      }
      yield message as DapMessage;
    }
  }
}

function indexOf(haystack: Uint8Array, needle: Uint8Array): number {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) {
      if (haystack[i + j] !== needle[j]) continue outer;
    }
    return i;
  }
  return -1;
}
