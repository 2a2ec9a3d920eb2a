/**
 * `qdb serve`'s client port: a listener that bounds what a peer can cost before it has said
 * anything. `Deno.serve` accepts every socket, buffers whole WebSocket frames and ends the
 * process when accept fails with `EMFILE`, and none of that can be changed from outside. Nor
 * can `node:net`'s server be used to accept: in Deno 2.9 its accept loop stops for good after
 * `EMFILE`. So the port is accepted by `Deno.listen` (or `Deno.listenTls`) in a loop of qdb's
 * own, each connection passes qdb's limits, and only then is it handed (as a
 * {@linkcode ConnStream}) to `node:http`, with WebSockets from the `ws` package, whose
 * `maxPayload` refuses a frame as its header arrives.
 *
 * - Sockets past `maxConnections`, or past the pending limits (`maxPending` in all,
 *   `maxPendingPerAddress` per address), are closed as they are accepted, before anything is
 *   read. A socket counts as pending until its client authenticates.
 * - A socket must finish its HTTP request within `requestTimeout`; an idle keep-alive socket is
 *   closed after it too. A WebSocket then has the server's `authTimeout` to send `start`.
 * - A WebSocket that does not answer a ping within `heartbeat` is dropped.
 * - An accept that fails (out of file descriptors, a connection reset before it was accepted)
 *   is tried again with a growing delay (at most 1 s): connections wait in the kernel's backlog
 *   and are served once descriptors free up. The log says so at most once a second.
 *
 * @module
 */

import http from "node:http";
import type net from "node:net";
import { Buffer } from "node:buffer";
// @ts-types="npm:@types/ws@8.18.1"
import { type WebSocket as NodeWebSocket, WebSocketServer } from "ws";
import { ConnStream } from "../transport/conn_stream.ts";
import { NodeWebSocketTransport } from "../transport/node_websocket.ts";
import type { TlsServerOptions } from "../transport/tls.ts";
import { addressHost, DEFAULT_LIMITS, type ServerLimits } from "./limits.ts";
import type { QdbServer } from "./server.ts";

/** Options of {@linkcode listenClients}. Durations are in milliseconds. */
export interface ClientListenerOptions {
  /** The address to listen on. */
  hostname: string;
  /** The port; 0 picks a free one. */
  port: number;
  /** A certificate and key: the port then serves `https:` and `wss:`. */
  tls?: TlsServerOptions | undefined;
  /** The limits (`maxConnections`, `maxPending`, `maxPendingPerAddress`, `maxPreAuthMessage`). */
  limits?: ServerLimits;
  /** How long a socket has to send a whole HTTP request, and may idle between two. Default 5 000. */
  requestTimeout?: number;
  /** How often WebSockets are pinged; one that missed the last pong is dropped. Default 20 000. */
  heartbeat?: number;
  /** Receives the listener's log lines. */
  log?: (line: string) => void;
}

/** A listening client port: see {@linkcode listenClients}. */
export interface ClientListener {
  /** The address it listens on. */
  readonly addr: { hostname: string; port: number };
  /** Sockets open now (for tests and benchmarks). */
  readonly connections: number;
  /** Stops listening and closes every socket. Idempotent. */
  close(): Promise<void>;
  /** Resolves once closed. */
  readonly finished: Promise<void>;
}

/** What the listener knows of one accepted socket. */
interface Held {
  host: string;
  /** Counted against the pending limits (until its client authenticates). */
  pending: boolean;
  timer: ReturnType<typeof setTimeout> | undefined;
  /** The connection as `node:http` sees it. */
  stream: ConnStream;
}

/**
 * Listens for clients of `server` (WebSocket upgrades, `GET /sessions`, the web client) with
 * every limit applied before any work is done for a socket.
 *
 * @throws {Deno.errors.AddrInUse} when the port is taken.
 */
export function listenClients(
  server: QdbServer,
  options: ClientListenerOptions,
): ClientListener {
  const limits = { ...DEFAULT_LIMITS, ...definedOnly(options.limits ?? {}) };
  const requestTimeout = options.requestTimeout ?? 5000;
  const heartbeat = options.heartbeat ?? 20_000;
  const log = rateLimited(options.log ?? (() => {}));
  const held = new Set<Held>();
  /** The stream `node:http` sees to what is held of it. */
  const bySocket = new WeakMap<object, Held>();
  const pendingPerHost = new Map<string, number>();
  let pendingTotal = 0;

  const release = (h: Held) => {
    if (!h.pending) return;
    h.pending = false;
    pendingTotal--;
    const n = (pendingPerHost.get(h.host) ?? 1) - 1;
    if (n <= 0) pendingPerHost.delete(h.host);
    else pendingPerHost.set(h.host, n);
  };
  const deadline = (h: Held) => {
    clearTimeout(h.timer);
    h.timer = setTimeout(() => h.stream.destroy(), requestTimeout);
  };

  /** A connection, once past the limits, handed to `node:http`; or closed at once. */
  const admit = (conn: Deno.Conn): void => {
    const host = addressHost((conn.remoteAddr as Deno.NetAddr).hostname ?? "unknown");
    let refusal: string | undefined;
    if (held.size >= limits.maxConnections) {
      refusal = `the most connections it takes (${limits.maxConnections})`;
    } else if (pendingTotal >= limits.maxPending) {
      refusal = `the most connections waiting to authenticate (${limits.maxPending})`;
    } else if ((pendingPerHost.get(host) ?? 0) >= limits.maxPendingPerAddress) {
      refusal = `the most connections from ${host} waiting to authenticate ` +
        `(${limits.maxPendingPerAddress})`;
    }
    if (refusal !== undefined) {
      log(`refused a connection from ${host}: the server has ${refusal}`);
      try {
        conn.close();
      } catch {
        // Gone already.
      }
      return;
    }
    const stream = new ConnStream(conn);
    stream.on("error", () => {});
    const h: Held = { host, pending: true, timer: undefined, stream };
    pendingTotal++;
    pendingPerHost.set(host, (pendingPerHost.get(host) ?? 0) + 1);
    held.add(h);
    bySocket.set(stream, h);
    deadline(h);
    stream.on("close", () => {
      clearTimeout(h.timer);
      release(h);
      held.delete(h);
    });
    web.emit("connection", stream);
  };

  const web = http.createServer();
  const wss = new WebSocketServer({ noServer: true, maxPayload: limits.maxPreAuthMessage });
  const alive = new WeakSet<NodeWebSocket>();

  web.on("request", async (req: http.IncomingMessage, res: http.ServerResponse) => {
    const h = bySocket.get(req.socket);
    if (h) {
      clearTimeout(h.timer);
      // An idle keep-alive connection gets the request deadline again once this answer is out.
      res.on("finish", () => deadline(h));
    }
    try {
      const response = await server.handler(toRequest(req, options.tls), infoOf(req));
      const body = req.method === "HEAD" ? undefined : Buffer.from(await response.arrayBuffer());
      res.writeHead(response.status, Object.fromEntries(response.headers));
      res.end(body);
    } catch (error) {
      log(`a request failed: ${error}`);
      if (!res.headersSent) res.writeHead(500);
      res.end();
    }
  });

  web.on("upgrade", (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
    const h = bySocket.get(socket);
    if (h) clearTimeout(h.timer);
    const request = toRequest(req, options.tls);
    const admitted = server.checkUpgrade(request, infoOf(req));
    if (admitted instanceof Response) {
      refuseUpgrade(socket, admitted);
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      alive.add(ws);
      ws.on("pong", () => alive.add(ws));
      const transport = new NodeWebSocketTransport(ws, {
        remote: admitted.remote,
        ...(h ? { stream: h.stream } : {}),
        preAuthLimit: limits.maxPreAuthMessage,
        onAuthenticated: () => h && release(h),
        // What follows a refused frame is not read: it would cost the server for nothing.
        onRefusedFrame: () => h?.stream.refuse(),
      });
      server.acceptClient(transport, admitted.session);
    });
  });
  web.on("clientError", (_error: Error, socket: net.Socket) => socket.destroy());

  const pinger = setInterval(() => {
    for (const ws of wss.clients) {
      // A ping would wait behind what is queued: such a socket is judged by the server's stall
      // rule (is anything being written to it?) instead.
      if (ws.bufferedAmount > 0) {
        alive.add(ws);
        continue;
      }
      if (!alive.has(ws)) {
        ws.terminate();
        continue;
      }
      alive.delete(ws);
      ws.ping();
    }
  }, heartbeat);

  const listener = options.tls
    ? Deno.listenTls({
      hostname: options.hostname,
      port: options.port,
      cert: options.tls.cert,
      key: options.tls.key,
    })
    : Deno.listen({ hostname: options.hostname, port: options.port });
  let closed = false;
  const accepting = (async () => {
    let backoff = 10;
    while (!closed) {
      let conn: Deno.Conn;
      try {
        conn = await listener.accept();
      } catch (error) {
        if (closed || error instanceof Deno.errors.BadResource) break;
        // Out of file descriptors, or a connection reset before it was accepted: the server
        // lives on, and tries again a little later (the kernel keeps the others waiting).
        log(`accepting a client failed (${error}); retrying`);
        await new Promise((resolve) => setTimeout(resolve, backoff));
        backoff = Math.min(backoff * 2, 1000);
        continue;
      }
      backoff = 10;
      admit(conn);
    }
  })();
  const address = listener.addr as Deno.NetAddr;

  let resolveFinished!: () => void;
  const finished = new Promise<void>((resolve) => resolveFinished = resolve);
  let closing: Promise<void> | undefined;
  return {
    addr: { hostname: address.hostname, port: address.port },
    get connections() {
      return held.size;
    },
    finished,
    close() {
      return closing ??= (async () => {
        closed = true;
        clearInterval(pinger);
        try {
          listener.close();
        } catch {
          // Closed already.
        }
        await accepting;
        for (const h of held) h.stream.destroy();
        web.close();
        resolveFinished();
      })();
    },
  };
}

/** The `Request` a `node:http` request stands for (its body is not read: GET and upgrades). */
function toRequest(req: http.IncomingMessage, secure: unknown): Request {
  const headers = new Headers();
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined) continue;
    for (const v of Array.isArray(value) ? value : [value]) {
      try {
        headers.append(name, v);
      } catch {
        // A header value no Request can hold: left out.
      }
    }
  }
  const host = req.headers.host ?? "localhost";
  let url: URL;
  try {
    url = new URL(req.url ?? "/", `${secure ? "https" : "http"}://${host}`);
  } catch {
    url = new URL(req.url ?? "/", `${secure ? "https" : "http"}://localhost`);
  }
  return new Request(url, { method: req.method ?? "GET", headers });
}

/** The peer's address, as `Deno.serve` gives it. */
function infoOf(req: http.IncomingMessage): Deno.ServeHandlerInfo<Deno.NetAddr> {
  const remoteAddr: Deno.NetAddr = {
    transport: "tcp",
    hostname: req.socket.remoteAddress ?? "unknown",
    port: req.socket.remotePort ?? 0,
  };
  return { remoteAddr, completed: Promise.resolve() };
}

/** Answers an upgrade the server refused with its response, then closes. */
function refuseUpgrade(socket: net.Socket, response: Response): void {
  response.text().then((body) => {
    const lines = [`HTTP/1.1 ${response.status} ${http.STATUS_CODES[response.status] ?? ""}`];
    for (const [name, value] of response.headers) lines.push(`${name}: ${value}`);
    lines.push(`content-length: ${Buffer.byteLength(body)}`, "connection: close", "", body);
    socket.end(lines.join("\r\n"));
  }, () => socket.destroy());
}

/** A log that writes at most one line a second, then says how many it left out. */
function rateLimited(log: (line: string) => void): (line: string) => void {
  let last = 0;
  let left = 0;
  return (line) => {
    const now = Date.now();
    if (now - last < 1000) {
      left++;
      return;
    }
    last = now;
    log(left > 0 ? `${line} (and ${left} more lines like it)` : line);
    left = 0;
  };
}

function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}
