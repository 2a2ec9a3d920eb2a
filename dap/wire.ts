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

/** The only header a DAP message may begin with, lower-cased. */
const CONTENT_LENGTH = "content-length:";
/** Header fields of the base protocol: `Content-Length`, and `Content-Type` (allowed, unused). */
const DAP_HEADER = /^(content-length|content-type):[ \t]*(.*?)[ \t]*$/i;

/**
 * Checks the start of a header block as its bytes arrive: it must begin with `Content-Length:`,
 * so anything else (an HTTP request line a browser sends, `POST / HTTP/1.1`) is refused by its
 * first bytes, before the rest of it is read.
 */
function checkHeaderStart(buf: Uint8Array): void {
  const n = Math.min(buf.length, CONTENT_LENGTH.length);
  let head = "";
  for (let i = 0; i < n; i++) head += String.fromCharCode(buf[i]!);
  if (CONTENT_LENGTH.startsWith(head.toLowerCase())) return;
  const http = /^[A-Z]{3,7}( |$)/.test(head)
    ? " (it looks like HTTP: this port speaks only DAP)"
    : "";
  throw new DapWireError(
    `A DAP header must begin with "Content-Length:", got ${JSON.stringify(head)}${http}`,
  );
}

/**
 * The length a header block gives, or a {@linkcode DapWireError}: its first field must be
 * `Content-Length: N`, and it may hold no field but DAP's own.
 */
function contentLength(header: string): number {
  let length: number | undefined;
  for (const [i, line] of header.split("\r\n").entries()) {
    const m = DAP_HEADER.exec(line);
    if (!m || (i === 0) !== (m[1]!.toLowerCase() === "content-length")) {
      throw new DapWireError(
        `A DAP header field that is not DAP's: ${JSON.stringify(line.slice(0, 80))}`,
      );
    }
    if (i === 0) {
      if (!/^\d{1,10}$/.test(m[2]!)) {
        throw new DapWireError(`A DAP header without a valid Content-Length: ${line.slice(0, 80)}`);
      }
      length = Number(m[2]);
    }
  }
  return length!;
}

/**
 * The messages on a byte stream, in order. A header block that does not begin with
 * `Content-Length:` (refused by its first bytes), holds another field than DAP's
 * (`Content-Length`, `Content-Type`), announces a message over `maxBytes`, or a body that is not
 * a JSON object throws a {@linkcode DapWireError}: the stream cannot be followed after it.
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
    while (buf.length > 0) {
      checkHeaderStart(buf);
      const end = indexOf(buf, HEADER_END);
      if (end < 0) {
        if (buf.length > 4096) throw new DapWireError("A DAP header longer than 4096 bytes");
        break;
      }
      const length = contentLength(decoder.decode(buf.subarray(0, end)));
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
