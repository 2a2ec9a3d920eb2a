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
import { acceptEach } from "./accept.ts";
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
  return new ClientPort(server, options);
}

/** The client port: accepted sockets, their limits, `node:http` and `ws` behind them. */
class ClientPort implements ClientListener {
  readonly addr: { hostname: string; port: number };
  readonly finished: Promise<void>;
  readonly #server: QdbServer;
  readonly #options: ClientListenerOptions;
  readonly #limits: Required<ServerLimits>;
  readonly #requestTimeout: number;
  readonly #log: (line: string) => void;
  readonly #held = new Set<Held>();
  /** The stream `node:http` sees to what is held of it. */
  readonly #bySocket = new WeakMap<object, Held>();
  readonly #pendingPerHost = new Map<string, number>();
  #pendingTotal = 0;
  readonly #web = http.createServer();
  readonly #wss: WebSocketServer;
  readonly #alive = new WeakSet<NodeWebSocket>();
  readonly #pinger: ReturnType<typeof setInterval>;
  readonly #listener: Deno.Listener;
  readonly #accepting: Promise<void>;
  #closed = false;
  #closing: Promise<void> | undefined;
  #finish!: () => void;

  constructor(server: QdbServer, options: ClientListenerOptions) {
    this.#server = server;
    this.#options = options;
    this.#limits = { ...DEFAULT_LIMITS, ...definedOnly(options.limits ?? {}) };
    this.#requestTimeout = options.requestTimeout ?? 5000;
    this.#log = rateLimited(options.log ?? (() => {}));
    this.#wss = new WebSocketServer({ noServer: true, maxPayload: this.#limits.maxPreAuthMessage });
    this.#web.on("request", (req, res) => void this.#request(req, res));
    this.#web.on("upgrade", (req, socket, head) => this.#upgrade(req, socket as net.Socket, head));
    this.#web.on("clientError", (_error: Error, socket: net.Socket) => socket.destroy());
    this.#pinger = setInterval(() => this.#ping(), options.heartbeat ?? 20_000);
    this.#listener = options.tls
      ? Deno.listenTls({
        hostname: options.hostname,
        port: options.port,
        cert: options.tls.cert,
        key: options.tls.key,
      })
      : Deno.listen({ hostname: options.hostname, port: options.port });
    const address = this.#listener.addr as Deno.NetAddr;
    this.addr = { hostname: address.hostname, port: address.port };
    this.finished = new Promise<void>((resolve) => this.#finish = resolve);
    this.#accepting = acceptEach(
      this.#listener,
      (conn) => this.#admit(conn),
      (error) => this.#log(`accepting a client failed (${error}); retrying`),
      () => this.#closed,
    );
  }

  get connections(): number {
    return this.#held.size;
  }

  /** A socket no longer counts against the pending limits (its client authenticated). */
  #release(h: Held): void {
    if (!h.pending) return;
    h.pending = false;
    this.#pendingTotal--;
    const n = (this.#pendingPerHost.get(h.host) ?? 1) - 1;
    if (n <= 0) this.#pendingPerHost.delete(h.host);
    else this.#pendingPerHost.set(h.host, n);
  }

  /** The socket must finish a request within the request timeout. */
  #deadline(h: Held): void {
    clearTimeout(h.timer);
    h.timer = setTimeout(() => h.stream.destroy(), this.#requestTimeout);
  }

  /** Why a socket from `host` is refused as it is accepted, or undefined. */
  #refusal(host: string): string | undefined {
    const limits = this.#limits;
    if (this.#held.size >= limits.maxConnections) {
      return `the most connections it takes (${limits.maxConnections})`;
    }
    if (this.#pendingTotal >= limits.maxPending) {
      return `the most connections waiting to authenticate (${limits.maxPending})`;
    }
    if ((this.#pendingPerHost.get(host) ?? 0) >= limits.maxPendingPerAddress) {
      return `the most connections from ${host} waiting to authenticate ` +
        `(${limits.maxPendingPerAddress})`;
    }
    return undefined;
  }

  /** A connection, once past the limits, handed to `node:http`; or closed at once. */
  #admit(conn: Deno.Conn): void {
    const host = addressHost((conn.remoteAddr as Deno.NetAddr).hostname ?? "unknown");
    const refusal = this.#refusal(host);
    if (refusal !== undefined) {
      this.#log(`refused a connection from ${host}: the server has ${refusal}`);
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
    this.#pendingTotal++;
    this.#pendingPerHost.set(host, (this.#pendingPerHost.get(host) ?? 0) + 1);
    this.#held.add(h);
    this.#bySocket.set(stream, h);
    this.#deadline(h);
    stream.on("close", () => {
      clearTimeout(h.timer);
      this.#release(h);
      this.#held.delete(h);
    });
    this.#web.emit("connection", stream);
  }

  /** A plain HTTP request, answered by the server's handler. */
  async #request(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const h = this.#bySocket.get(req.socket);
    if (h) {
      clearTimeout(h.timer);
      // An idle keep-alive connection gets the request deadline again once this answer is out.
      res.on("finish", () => this.#deadline(h));
    }
    try {
      const request = toRequest(req, this.#options.tls);
      const response = await this.#server.handler(request, infoOf(req));
      const body = req.method === "HEAD" ? undefined : Buffer.from(await response.arrayBuffer());
      res.writeHead(response.status, Object.fromEntries(response.headers));
      res.end(body);
    } catch (error) {
      this.#log(`a request failed: ${error}`);
      if (!res.headersSent) res.writeHead(500);
      res.end();
    }
  }

  /** A WebSocket upgrade: checked by the server, then served as one of its clients. */
  #upgrade(req: http.IncomingMessage, socket: net.Socket, head: Buffer): void {
    const h = this.#bySocket.get(socket);
    if (h) clearTimeout(h.timer);
    const request = toRequest(req, this.#options.tls);
    const admitted = this.#server.checkUpgrade(request, infoOf(req));
    if (admitted instanceof Response) {
      refuseUpgrade(socket, admitted);
      return;
    }
    this.#wss.handleUpgrade(req, socket, head, (ws) => {
      this.#alive.add(ws);
      ws.on("pong", () => this.#alive.add(ws));
      const transport = new NodeWebSocketTransport(ws, {
        remote: admitted.remote,
        ...(h ? { stream: h.stream } : {}),
        preAuthLimit: this.#limits.maxPreAuthMessage,
        onAuthenticated: () => h && this.#release(h),
        // What follows a refused frame is not read: it would cost the server for nothing.
        onRefusedFrame: () => h?.stream.refuse(),
      });
      this.#server.acceptClient(transport, admitted.session, admitted.group);
    });
  }

  /** The heartbeat: a WebSocket that missed the last pong is dropped. */
  #ping(): void {
    for (const ws of this.#wss.clients) {
      // A ping would wait behind what is queued: such a socket is judged by the server's stall
      // rule (is anything being written to it?) instead.
      if (ws.bufferedAmount > 0) {
        this.#alive.add(ws);
        continue;
      }
      if (!this.#alive.has(ws)) {
        ws.terminate();
        continue;
      }
      this.#alive.delete(ws);
      ws.ping();
    }
  }

  close(): Promise<void> {
    return this.#closing ??= (async () => {
      this.#closed = true;
      clearInterval(this.#pinger);
      try {
        this.#listener.close();
      } catch {
        // Closed already.
      }
      await this.#accepting;
      for (const h of this.#held) h.stream.destroy();
      this.#web.close();
      this.#finish();
    })();
  }
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
