/**
 * A peer that speaks HTTP and WebSocket by hand over a bare TCP connection, so that tests can
 * send what a browser, a DNS-rebinding page or a hostile peer sends (any `Host`, any `Origin`,
 * frames of any size) and can stop reading whenever they like.
 *
 * @module
 */

const encoder = new TextEncoder();

/** A raw connection to a server's HTTP port. */
export class RawPeer implements AsyncDisposable {
  readonly conn: Deno.TcpConn;
  #closed = false;

  private constructor(conn: Deno.TcpConn) {
    this.conn = conn;
  }

  /** Connects to `ws://host:port` or `http://host:port` (the path is ignored). */
  static async connect(url: string): Promise<RawPeer> {
    const u = new URL(url);
    const conn = await Deno.connect({ hostname: u.hostname, port: Number(u.port) });
    return new RawPeer(conn);
  }

  /** Sends a request head with these headers (a WebSocket upgrade when `upgrade` is set). */
  async request(
    path: string,
    headers: Record<string, string>,
    options: { upgrade?: boolean } = {},
  ): Promise<void> {
    const lines = [`GET ${path} HTTP/1.1`];
    for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`);
    if (options.upgrade) {
      lines.push(
        "Upgrade: websocket",
        "Connection: Upgrade",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Version: 13",
      );
    }
    await this.write(encoder.encode(lines.join("\r\n") + "\r\n\r\n"));
  }

  /**
   * Reads until the end of the response head; returns the status code and the head. Status 0:
   * the server closed the connection without answering.
   */
  async responseHead(): Promise<{ status: number; head: string }> {
    let text = "";
    const buffer = new Uint8Array(4096);
    while (!text.includes("\r\n\r\n")) {
      const n = await this.conn.read(buffer).catch(() => null);
      if (n === null) break;
      text += new TextDecoder().decode(buffer.subarray(0, n));
    }
    const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
    return { status, head: text };
  }

  /** Sends one masked WebSocket text frame. */
  async sendText(text: string): Promise<void> {
    await this.write(maskedFrame(encoder.encode(text)));
  }

  /** Writes all of `bytes`; false when the server closed the connection. */
  async write(bytes: Uint8Array): Promise<boolean> {
    try {
      let done = 0;
      while (done < bytes.length) done += await this.conn.write(bytes.subarray(done));
      return true;
    } catch {
      return false;
    }
  }

  /** Reads until the server closes the connection; returns how many bytes came. */
  async readToEnd(): Promise<number> {
    const buffer = new Uint8Array(65536);
    let total = 0;
    try {
      while (true) {
        const n = await this.conn.read(buffer);
        if (n === null) return total;
        total += n;
      }
    } catch {
      return total;
    }
  }

  /** Closes the connection. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.conn.close();
    } catch {
      // Closed by the server.
    }
  }

  [Symbol.asyncDispose](): Promise<void> {
    this.close();
    return Promise.resolve();
  }
}

/** A client-to-server WebSocket text frame (clients must mask). */
export function maskedFrame(payload: Uint8Array): Uint8Array {
  const mask = crypto.getRandomValues(new Uint8Array(4));
  const n = payload.length;
  const header = n < 126 ? 2 : n < 65536 ? 4 : 10;
  const frame = new Uint8Array(header + 4 + n);
  frame[0] = 0x81;
  if (n < 126) frame[1] = 0x80 | n;
  else if (n < 65536) {
    frame[1] = 0x80 | 126;
    new DataView(frame.buffer).setUint16(2, n);
  } else {
    frame[1] = 0x80 | 127;
    new DataView(frame.buffer).setBigUint64(2, BigInt(n));
  }
  frame.set(mask, header);
  for (let i = 0; i < n; i++) frame[header + 4 + i] = payload[i]! ^ mask[i % 4]!;
  return frame;
}
