/**
 * The qdb server: checks every client message, routes commands to the session's tracer,
 * broadcasts tracer events to every client of the session, authenticates each `start`, and
 * ends sessions on timeouts. Runtime-neutral at its core (it works on
 * {@linkcode MessageTransport}s); {@linkcode QdbServer.handler} is the WebSocket adapter, a plain
 * `(Request) => Response` function that can be one route of a larger app.
 *
 * @example
 * ```ts ignore
 * import { createServer } from "./server.ts";
 * const qdb = createServer({ token: "s3cret" });
 * Deno.serve((req) =>
 *   new URL(req.url).pathname.startsWith("/debug/") ? qdb.handler(req) : new Response("app")
 * );
 * ```
 * @module
 */

import {
  checkClientMessage,
  checkTracerMessage,
  type ChildInfo,
  type ClientMessage,
  DEFAULT_MAX_FRAME_SIZE,
  errorEvent,
  isPlainObject,
  isRequestCommand,
  MAX_CLIENT_MESSAGE_LENGTH,
  type Message,
  message,
  PROTOCOL_VERSION,
  ProtocolError,
  SchemaError,
  type SessionList,
  type TracerMessage,
  type TracerStart,
  tracerStartPayload,
} from "../protocol/mod.ts";
import { WebSocketTransport } from "../transport/websocket.ts";
import { formatHost, TcpTransport } from "../transport/tcp.ts";
import type { Incoming, MessageTransport } from "../transport/transport.ts";
import { VERSION } from "../version.ts";
import { sanitizeLine } from "../protocol/sanitize.ts";
import { webResponse } from "./web.ts";
import {
  type Access,
  accessOf,
  allowAll,
  type AuthFunction,
  type AuthRequest,
  constantTimeEqual,
  tokenAuth,
} from "./auth.ts";
import { AddressBook, addressHost, DEFAULT_LIMITS, type ServerLimits } from "./limits.ts";
import {
  clientInfo,
  type ClientPeer,
  MAX_EARLY_BYTES,
  PACE_BYTES,
  type QueuePressure,
  Session,
} from "./session.ts";
import { Reclaimer } from "./memory.ts";

/** How a timeout disables a session: let the program run on, or end it. */
export type DisableMode = "soft" | "hard";

/** Options of {@linkcode createServer}. Durations are in milliseconds. */
export interface ServerOptions {
  /** A shared secret both links must send in `start` (compared in constant time). */
  token?: string | undefined;
  /** Auth for both links (overrides `token`); `clientAuth`/`tracerAuth` override it per link. */
  auth?: AuthFunction;
  /**
   * Serve the web client: `BASE` lists the sessions, `BASE/s/SESSION` debugs one. Default true;
   * false leaves only the WebSocket and `GET BASE/sessions`.
   */
  web?: boolean;
  /** Auth for clients (and `GET /sessions`). */
  clientAuth?: AuthFunction;
  /** Auth for tracers. */
  tracerAuth?: AuthFunction;
  /** How long a new connection has to send `start`. Default 10 000. */
  authTimeout?: number;
  /**
   * How long a session whose tracer lost its link waits for it to come back (with the
   * session's `resume` key) before it ends; 0 ends it at once. Default 30 000.
   */
  tracerGrace?: number;
  /** How long one side waits for the other; 0 (the default) waits forever. */
  attachTimeout?: number;
  /** A session whose clients sent nothing for this long is disabled; 0 never. Default 600 000. */
  inactivityTimeout?: number;
  /** How timeouts disable a session. Default `soft`. */
  timeoutDisableMode?: DisableMode;
  /** Path prefix the handler serves under, such as `/debug/`. Default `/`. */
  basePath?: string;
  /** Receives one line per notable event (sessions, attaches, refusals). Default: nothing. */
  log?: (line: string) => void;
  /**
   * Host names accepted in a request's `Host` header besides IP addresses, `localhost` and
   * the address the server listens on (the defence against DNS rebinding). `"*"`: any.
   */
  allowedHosts?: string[];
  /**
   * Origins (`https://ide.example:8443`) whose pages may open a client WebSocket, besides
   * requests without an `Origin` (programs) and pages the server itself serves. `"*"`: any.
   */
  allowedOrigins?: string[];
  /** Where clients attach (`ws://HOST:PORT`), told to tracers so that they can print it. */
  clientUrl?: string;
  /** The address the server listens on, as given to `Deno.serve` (accepted as a Host). */
  listenHost?: string;
  /** Resource limits; each has a sensible default (see {@linkcode ServerLimits}). */
  limits?: ServerLimits;
  /**
   * A client with enough unread to hold its session back, to which nothing has been written for
   * this long, is dropped (`error` type `limit`, and a log line), so that a dead or sleeping
   * client never holds the program; its output waits in the session's replay buffer for
   * whoever attaches next. 0: never. Default 10 000.
   */
  clientStall?: number;
}

/** A qdb server: see {@linkcode createServer}. */
export interface QdbServer extends AsyncDisposable {
  /**
   * The HTTP handler: WebSocket upgrades at `BASE/SESSION_ID` attach a client;
   * `GET BASE/sessions` lists sessions as JSON.
   */
  handler(request: Request, info?: Deno.ServeHandlerInfo): Response | Promise<Response>;
  /**
   * Checks a WebSocket upgrade request as {@linkcode QdbServer.handler} does (Host, Origin, the
   * path, shutdown, the connection limit): a response that refuses it, or the session it
   * attaches to and the peer's address. For a listener that upgrades by other means (`qdb
   * serve`'s own, on `node:http`), which then calls {@linkcode QdbServer.acceptClient}.
   */
  checkUpgrade(
    request: Request,
    info?: Deno.ServeHandlerInfo,
  ): Response | { session: string; remote: string };
  /** Serves one client over any transport; resolves when it leaves. */
  acceptClient(transport: MessageTransport, session: string): Promise<void>;
  /** Serves one tracer over any transport; resolves when it leaves. */
  acceptTracer(transport: MessageTransport): Promise<void>;
  /** Sets where clients attach, once known (told to tracers in `started`). */
  setClientUrl(url: string): void;
  /** Accepts tracers on a listener until it closes (or the server does). */
  serveTracers(listener: Deno.Listener): Promise<void>;
  /** The live sessions. */
  sessions(): SessionList;
  /** Ends every session and stops accepting connections. Idempotent. */
  close(): Promise<void>;
}

/**
 * Session ids: 1 to 128 characters that are safe in a URL path; a child's adds `/PID` to its
 * parent's (segments of dots only, which URLs resolve away, are refused after a `/`).
 */
export const SESSION_ID_PATTERN =
  /^(?=.{1,128}$)[A-Za-z0-9._:@~-]+(?:\/(?!\.+(?:\/|$))[A-Za-z0-9._:@~-]+)*$/;

/** Creates a server. It listens on nothing by itself: mount {@linkcode QdbServer.handler}. */
export function createServer(options: ServerOptions = {}): QdbServer {
  return new Server(options);
}

const SECOND = 1000;
/** How long a tracer that said `disabled` may keep its link open before the session ends. */
const DISABLED_GRACE_MS = 5 * SECOND;
/** How long `close()` waits for peers to finish their close handshakes. */
const CLOSE_GRACE_MS = 2 * SECOND;
/** How often the unread bytes of all clients are summed (`maxQueuedTotal`). */
const SWEEP_MS = 100;
/**
 * Seconds without a pong before the WebSocket layer drops a client: this also frees a peer
 * that never reads (it cannot answer the close handshake either).
 */
const WEBSOCKET_IDLE_SECONDS = 20;

function seconds(ms: number): string {
  return `${Math.round(ms / 100) / 10} s`;
}

/** First message of a link, or undefined when the link closed or time ran out. */
async function firstMessage(
  incoming: AsyncIterator<Incoming>,
  ms: number,
): Promise<Incoming | undefined | "timeout"> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<"timeout">((resolve) => timer = setTimeout(resolve, ms, "timeout"));
  try {
    const result = await Promise.race([incoming.next(), timeout]);
    if (result === "timeout") return result;
    return result.done ? undefined : result.value;
  } finally {
    clearTimeout(timer);
  }
}

class Server implements QdbServer {
  readonly #sessions = new Map<string, Session>();
  readonly #clientAuth: AuthFunction;
  readonly #tracerAuth: AuthFunction;
  readonly #authTimeout: number;
  readonly #tracerGrace: number;
  #clientUrl: string | undefined;
  readonly #attachTimeout: number;
  readonly #inactivityTimeout: number;
  readonly #disableMode: DisableMode;
  readonly #basePath: string;
  readonly #web: boolean;
  readonly #log: (line: string) => void;
  readonly #clientStall: number;
  readonly #listeners = new Set<Deno.Listener>();
  readonly #pending = new Set<MessageTransport>();
  /** The sweep of unread bytes (`maxQueuedTotal`), running while sessions exist. */
  #sweeper: ReturnType<typeof setInterval> | undefined;
  readonly #limits: Required<ServerLimits>;
  readonly #book: AddressBook;
  /** Links not yet authenticated, with the address whose pending slot each holds. */
  readonly #unauthenticated = new Map<MessageTransport, string>();
  readonly #allowedHosts: Set<string>;
  readonly #allowedOrigins: Set<string>;
  readonly #listenHost: string | undefined;
  #acceptErrorLogged = false;
  /** Sessions whose tracer said `disabled`: they end when it closes the link. */
  readonly #disabled = new WeakSet<Session>();
  /** A tracer's attach timeout, per session, while it waits for its first client. */
  readonly #tracerWaits = new WeakMap<Session, ReturnType<typeof setTimeout>>();
  #nextClient = 1;
  #closed = false;
  /** Asks for a collection after bursts of big messages (see `memory.ts`). */
  readonly #reclaimer = new Reclaimer();
  /** When the sweep last ran (ms), to tell how late the next one is. */
  #lastSweep = 0;
  /** What all sessions' replay buffers hold together. */
  readonly #replay = { used: 0, max: REPLAY_BUDGET_BYTES };
  /** Set by the sweep while all clients together hold more than `maxQueuedTotal`. */
  readonly #pressure: QueuePressure = { over: false };
  /** When the pressure's last change was logged (at most one a second). */
  #pressureLogged = 0;

  constructor(options: ServerOptions) {
    const shared = options.auth ?? (options.token ? tokenAuth(options.token) : allowAll);
    this.#clientAuth = options.clientAuth ?? shared;
    this.#tracerAuth = options.tracerAuth ?? shared;
    this.#authTimeout = options.authTimeout ?? 10 * SECOND;
    this.#tracerGrace = options.tracerGrace ?? 30 * SECOND;
    this.#clientUrl = options.clientUrl;
    this.#attachTimeout = options.attachTimeout ?? 0;
    this.#inactivityTimeout = options.inactivityTimeout ?? 600 * SECOND;
    this.#disableMode = options.timeoutDisableMode ?? "soft";
    const base = options.basePath ?? "/";
    this.#basePath = base.endsWith("/") ? base : `${base}/`;
    this.#web = options.web ?? true;
    const log = options.log ?? (() => {});
    // Peers choose much of what is logged (argv, names, session ids): one line, no controls.
    this.#log = (line) => log(sanitizeLine(line));
    this.#clientStall = options.clientStall ?? 10 * SECOND;
    this.#limits = { ...DEFAULT_LIMITS, ...definedOnly(options.limits ?? {}) };
    this.#book = new AddressBook(this.#limits);
    this.#allowedHosts = new Set((options.allowedHosts ?? []).map(normalizeHost));
    this.#allowedOrigins = new Set((options.allowedOrigins ?? []).map((o) => o.toLowerCase()));
    this.#listenHost = options.listenHost === undefined
      ? undefined
      : normalizeHost(options.listenHost);
    this.handler = this.handler.bind(this);
  }

  /**
   * Whether a request's `Host` names this server: an IP address (DNS rebinding needs a name),
   * a loopback name, the address it listens on (or this machine's name when that is a
   * wildcard), or one allowed by `allowedHosts`.
   */
  #hostAllowed(host: string): boolean {
    if (this.#allowedHosts.has("*")) return true;
    const name = normalizeHost(addressHost(host));
    if (name === "") return false;
    if (isIpAddress(name) || name === "localhost" || name.endsWith(".localhost")) return true;
    if (name === this.#listenHost || this.#allowedHosts.has(name)) return true;
    if (this.#listenHost === "0.0.0.0" || this.#listenHost === "::") {
      try {
        return name === normalizeHost(Deno.hostname());
      } catch {
        return false;
      }
    }
    return false;
  }

  /** Whether a page of `origin` may talk to this server (reached as `host`). */
  #originAllowed(origin: string, host: string): boolean {
    if (this.#allowedOrigins.has("*") || this.#allowedOrigins.has(origin.toLowerCase())) {
      return true;
    }
    try {
      const url = new URL(origin);
      return (url.protocol === "http:" || url.protocol === "https:") &&
        url.host === new URL(`http://${host}`).host;
    } catch {
      return false;
    }
  }

  handler(request: Request, info?: Deno.ServeHandlerInfo): Response | Promise<Response> {
    const checked = this.#check(request, info);
    if (checked instanceof Response) return checked;
    const { rest, remote } = checked;
    const upgrade = request.headers.get("upgrade")?.toLowerCase() === "websocket";
    if (!upgrade) {
      if (request.method !== "GET" && request.method !== "HEAD") {
        return new Response("Method not allowed\n", { status: 405, headers: { allow: "GET" } });
      }
      if (rest === "sessions") return this.#listResponse(request, remote);
      if (this.#web) {
        const page = webResponse(this.#basePath, rest, (id) => SESSION_ID_PATTERN.test(id));
        if (page) return page;
      }
      if (rest === "") {
        return new Response(
          `qdb ${VERSION} server. Clients: open a WebSocket at ${this.#basePath}SESSION_ID; ` +
            `GET ${this.#basePath}sessions lists sessions.\n`,
          { headers: { "content-type": "text/plain; charset=utf-8" } },
        );
      }
      return new Response(`Connect a WebSocket client here to attach to session "${rest}"\n`, {
        status: 426,
        headers: { upgrade: "websocket" },
      });
    }
    const admitted = this.checkUpgrade(request, info);
    if (admitted instanceof Response) return admitted;
    const { socket, response } = Deno.upgradeWebSocket(request, {
      idleTimeout: WEBSOCKET_IDLE_SECONDS,
    });
    const transport = new WebSocketTransport(socket, { remote });
    this.acceptClient(transport, admitted.session);
    return response;
  }

  checkUpgrade(
    request: Request,
    info?: Deno.ServeHandlerInfo,
  ): Response | { session: string; remote: string } {
    const checked = this.#check(request, info);
    if (checked instanceof Response) return checked;
    if (this.#closed) return new Response("Server is shutting down\n", { status: 503 });
    if (this.#pending.size >= this.#limits.maxConnections) {
      return new Response(
        `Too many connections (${this.#limits.maxConnections}); try again later\n`,
        { status: 503, headers: { connection: "close", "retry-after": "5" } },
      );
    }
    return { session: checked.rest, remote: checked.remote };
  }

  /**
   * The checks every request passes: under the base path, a Host that names this server, an
   * Origin allowed, a path that decodes. A refusal, or the path after the base and the peer.
   */
  #check(
    request: Request,
    info: Deno.ServeHandlerInfo | undefined,
  ): Response | { rest: string; remote: string } {
    const url = new URL(request.url);
    if (!url.pathname.startsWith(this.#basePath)) return notFound();
    const host = request.headers.get("host") ?? url.host;
    if (!this.#hostAllowed(host)) {
      this.#log(`refused a request for Host ${JSON.stringify(host.slice(0, 100))}`);
      return forbidden(
        `Host ${JSON.stringify(host.slice(0, 100))} is not this server's name: ` +
          "use its IP address or localhost, or start it with --allow-host NAME",
      );
    }
    const origin = request.headers.get("origin");
    if (origin !== null && !this.#originAllowed(origin, host)) {
      this.#log(`refused a request from the page at ${JSON.stringify(origin.slice(0, 100))}`);
      return forbidden(
        `Pages of origin ${JSON.stringify(origin.slice(0, 100))} may not connect: ` +
          "start the server with --allow-origin ORIGIN to let them",
      );
    }
    let rest: string;
    try {
      rest = decodeURIComponent(url.pathname.slice(this.#basePath.length));
    } catch {
      return new Response("Bad request: the path is not valid percent-encoding\n", {
        status: 400,
      });
    }
    const remote = info && "hostname" in info.remoteAddr
      ? `${formatHost(info.remoteAddr.hostname)}:${info.remoteAddr.port}`
      : "unknown";
    return { rest, remote };
  }

  async #listResponse(request: Request, remote: string): Promise<Response> {
    const bearer = /^Bearer (.*)$/i.exec(request.headers.get("authorization") ?? "")?.[1] ?? "";
    const allowed = await this.#authorize({ role: "list", auth: bearer, session: "", remote });
    if (!allowed) {
      return Response.json({ error: "Authentication failed: send Authorization: Bearer TOKEN" }, {
        status: 401,
        headers: { "www-authenticate": "Bearer", ...JSON_HEADERS },
      });
    }
    return Response.json(this.sessions(), { headers: JSON_HEADERS });
  }

  sessions(): SessionList {
    return {
      now: new Date().toISOString(),
      sessions: [...this.#sessions.values()].map((s) => s.info()),
    };
  }

  /** The access an auth function grants, or undefined when it refuses (or fails). */
  async #authorize(request: AuthRequest): Promise<Access | undefined> {
    const fn = request.role === "tracer" ? this.#tracerAuth : this.#clientAuth;
    try {
      return accessOf(await fn(request));
    } catch (error) {
      this.#log(`auth function failed (refusing): ${error}`);
      return undefined;
    }
  }

  /**
   * The first message of a new link, waited for up to the auth timeout. Undefined when there is
   * none (the link was closed, or refused when time ran out).
   */
  async #first(
    transport: MessageTransport,
    incoming: AsyncIterator<Incoming>,
  ): Promise<Incoming | undefined> {
    if (this.#closed) {
      this.#refuse(transport, new ProtocolError("tracer", "The server is shutting down"));
      return undefined;
    }
    const first = await firstMessage(incoming, this.#authTimeout);
    if (first === "timeout") {
      this.#refuse(
        transport,
        new ProtocolError("auth", `No start message within ${seconds(this.#authTimeout)}`),
      );
      return undefined;
    }
    if (first === undefined) transport.close();
    return first;
  }

  /** Whether `id` may name a session; refuses the link when not. */
  #validSessionId(transport: MessageTransport, id: string): boolean {
    if (SESSION_ID_PATTERN.test(id)) return true;
    this.#refuse(
      transport,
      new ProtocolError(
        "session",
        `Session id ${JSON.stringify(id)} is not valid: use 1 to 128 letters, digits or ._:@~- ` +
          "(a child's id adds /PID to its parent's)",
      ),
    );
    return false;
  }

  /** Marks a link authenticated: its pending slot is freed and full-size messages allowed. */
  #authenticated(transport: MessageTransport, role: "client" | "tracer"): void {
    const host = this.#unauthenticated.get(transport);
    if (host !== undefined) {
      this.#unauthenticated.delete(transport);
      this.#book.release(host);
    }
    transport.setMaxMessageSize?.(
      role === "client" ? MAX_CLIENT_MESSAGE_LENGTH : DEFAULT_MAX_FRAME_SIZE,
    );
  }

  /**
   * Refuses a link that failed to authenticate. The log says so, but not a thousand times a
   * second; past the address's allowance the answer comes late, which slows a guesser (and
   * only a guesser: a right token is never waited on).
   */
  async #authFailed(transport: MessageTransport, what: string): Promise<void> {
    const { log, suppressed, delay } = this.#book.fail(addressHost(transport.remote));
    if (log) {
      const more = suppressed > 0 ? ` (and ${suppressed} more from that address)` : "";
      this.#log(`${what} ${transport.remote} failed to authenticate${more}`);
    }
    if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay));
    const why = delay > 0
      ? `Authentication failed (answered ${
        seconds(delay)
      } late: too many failures from this address)`
      : "Authentication failed";
    this.#refuse(transport, new ProtocolError("auth", why));
  }

  /** Refuses a connection: `error`, then `disable`, then close. */
  #refuse(transport: MessageTransport, error: ProtocolError): void {
    transport.send(errorEvent(error));
    transport.send({ e: "disable", p: { reason: error.message } });
    transport.close();
  }

  acceptClient(transport: MessageTransport, sessionId: string): Promise<void> {
    return this.#guarded("client", transport, () => this.#serveClient(transport, sessionId));
  }

  /**
   * Serves one link, tracked until it ends. A bug must not take the server down: the peer is
   * told (`error` type `internal`) and dropped.
   */
  async #guarded(
    role: "client" | "tracer",
    transport: MessageTransport,
    serve: () => Promise<void>,
  ): Promise<void> {
    if (this.#pending.size >= this.#limits.maxConnections) {
      return this.#refuse(
        transport,
        new ProtocolError("limit", `Too many connections (${this.#limits.maxConnections})`),
      );
    }
    const host = addressHost(transport.remote);
    const refusal = this.#book.admit(host);
    if (refusal !== undefined) {
      return this.#refuse(transport, new ProtocolError("limit", refusal));
    }
    this.#unauthenticated.set(transport, host);
    transport.setMaxMessageSize?.(this.#limits.maxPreAuthMessage);
    this.#pending.add(transport);
    try {
      await serve();
    } catch (error) {
      this.#log(`${role} ${transport.remote}: internal error: ${error}`);
      transport.send(errorEvent(new ProtocolError("internal", String(error).slice(0, 500))));
      transport.close();
    } finally {
      this.#pending.delete(transport);
      if (this.#unauthenticated.delete(transport)) this.#book.release(host);
    }
  }

  async #serveClient(transport: MessageTransport, sessionId: string): Promise<void> {
    const incoming = transport.incoming[Symbol.asyncIterator]();
    const first = await this.#first(transport, incoming);
    if (!first) return;
    let start: ClientMessage;
    try {
      if ("error" in first) throw first.error;
      start = checkClientMessage(first.message);
      if (start.e !== "start") {
        throw new ProtocolError("auth", `First message must be "start", got "${start.e}"`);
      }
    } catch (error) {
      if (!(error instanceof ProtocolError)) throw error;
      return this.#refuse(
        transport,
        new ProtocolError("auth", `First message must be a valid "start": ${error.message}`),
      );
    }
    if (!this.#validSessionId(transport, sessionId)) return;
    const p = typeof start.p === "object" ? start.p : { auth: start.p ?? "" };
    const access = await this.#authorize({
      role: "client",
      auth: p.auth ?? "",
      session: sessionId,
      remote: transport.remote,
      start: start.p,
    });
    if (!access) return await this.#authFailed(transport, `session ${sessionId}: client`);
    this.#authenticated(transport, "client");
    if (p.protocol !== undefined && p.protocol > PROTOCOL_VERSION) {
      return this.#refuse(
        transport,
        new ProtocolError(
          "version",
          `This server speaks protocol ${PROTOCOL_VERSION}; the client asked for ${p.protocol}`,
        ),
      );
    }
    if (this.#closed || transport.isClosed) return transport.close();

    const session = this.#sessions.get(sessionId) ?? this.#newSession(transport, sessionId);
    if (!session) return;
    if (session.clients.size >= this.#limits.maxClientsPerSession) {
      return this.#refuse(
        transport,
        new ProtocolError(
          "limit",
          `Session "${session.id}" has the most clients it takes (${this.#limits.maxClientsPerSession})`,
        ),
      );
    }
    const id = `c${this.#nextClient++}`;
    const client: ClientPeer = {
      id,
      name: p.name || id,
      transport,
      startId: start.id,
      access,
      // Clients that do not say are the original qdb's: protocol 1.
      protocol: Math.min(p.protocol ?? 1, PROTOCOL_VERSION),
    };
    session.clients.set(id, client);
    if (access !== "read-only") session.lastActivity = Date.now();
    this.#log(
      `session ${session.id}: client ${id} (${client.name}) attached from ${transport.remote}` +
        (access === "read-only" ? " (read-only)" : ""),
    );
    this.#sendAttached(session, client);
    // The client that comes sees what the program printed while nobody was there to see it
    // (before the first client, or after the last one left or was dropped).
    const early = session.takeEarly();
    if (early.dropped > 0) {
      transport.send(errorEvent(
        new ProtocolError(
          "limit",
          `${early.dropped} messages of the program's output from while nobody was attached were dropped (the server keeps ${
            MAX_EARLY_BYTES / 1024 / 1024
          } MiB)`,
        ),
      ));
    }
    for (const json of early.texts) {
      if (transport.sendText) transport.sendText(json);
      else transport.send(JSON.parse(json));
    }
    // Deltas only: a crowd costs each member one line per change, not the whole list.
    session.sendClients({ e: "clients", p: { joined: clientInfo(client) } }, id);
    if (session.tracer) {
      this.#cancelTracerWait(session);
      session.tracer.transport.send({
        e: "start",
        p: { client: id },
        id: session.route(id, start.id),
      });
    } else if (this.#attachTimeout > 0) {
      client.waitTimer = session.setTimer(this.#attachTimeout, () => {
        if (session.tracer || transport.isClosed) return;
        this.#refuse(
          transport,
          new ProtocolError(
            "tracer",
            `No tracer attached to session "${session.id}" within ${seconds(this.#attachTimeout)}`,
          ),
        );
      });
    }

    while (true) {
      const next = await incoming.next();
      if (next.done) break;
      // A read-only client cannot keep a session alive: it attends nothing.
      if (access !== "read-only") session.lastActivity = Date.now();
      this.#handleClientMessage(session, client, next.value);
    }

    session.clearTimer(client.waitTimer);
    // A client dropped as too slow has left already.
    if (session.clients.get(id) !== client) return;
    session.clients.delete(id);
    this.#log(`session ${session.id}: client ${id} left`);
    if (session.ended) return;
    session.sendClients({ e: "clients", p: { left: clientInfo(client) } });
    if (!session.tracer && session.clients.size === 0) this.#forget(session);
  }

  #handleClientMessage(session: Session, client: ClientPeer, item: Incoming): void {
    let msg: ClientMessage;
    try {
      if ("error" in item) throw item.error;
      // A read-only client may ask for the state again (`start`), and nothing else.
      if (client.access === "read-only" && item.message.e !== "start") {
        const e = item.message.e.slice(0, 64);
        throw new ProtocolError(
          "permission",
          `This client is read-only: it sees the session but may not send "${e}"`,
          { command: e, id: item.message.id },
        );
      }
      msg = checkClientMessage(item.message);
      const tracer = session.tracer;
      if (!tracer) {
        throw new ProtocolError(
          "tracer",
          `Session "${session.id}" has no tracer yet; "${msg.e}" was not sent`,
          { command: msg.e, id: msg.id },
        );
      }
      if ((tracer.transport.queuedBytes ?? 0) > this.#limits.maxQueuedBytes) {
        throw new ProtocolError(
          "limit",
          `The tracer has not read the commands sent before; "${msg.e}" was not sent`,
          { command: msg.e, id: msg.id },
        );
      }
      if (isRequestCommand(msg.e)) {
        const version = Math.min(client.protocol, tracer.info.protocol);
        if (version < 2) {
          const who = client.protocol < 2
            ? `this client started with protocol ${client.protocol}`
            : `the tracer speaks protocol ${tracer.info.protocol}`;
          throw new ProtocolError("protocol", `"${msg.e}" needs protocol 2, and ${who}`, {
            command: msg.e,
            id: msg.id,
          });
        }
      }
      // A repeated `start` asks for the state again; its auth stays on the server.
      const p = msg.e === "start" ? { client: client.id } : msg.p;
      tracer.transport.send(message(msg.e, p, session.route(client.id, msg.id, msg.e)));
    } catch (error) {
      if (!(error instanceof ProtocolError)) throw error;
      client.transport.send(errorEvent(error));
      return;
    }
    // Reads a client makes for itself (completions, source, the stack or breakpoints again,
    // protocol 2's inspection, an evaluation for a hover or a watch) are noise to others, and
    // what one types into the program (a password?) is theirs alone.
    const peek = msg.e === "evaluate" && msg.p.context !== undefined &&
      msg.p.context !== "repl";
    if (!UNECHOED_COMMANDS.has(msg.e) && !peek) {
      const echo: Message = { e: "command", p: { client: clientInfo(client), e: msg.e } };
      if (msg.p !== undefined) (echo.p as Record<string, unknown>).p = msg.p;
      session.sendClients(echo, client.id);
    }
  }

  #sendAttached(session: Session, client: ClientPeer): void {
    const children = this.#childrenOf(session);
    client.transport.send({
      e: "attached",
      p: {
        session: session.id,
        protocol: client.protocol,
        server: `qdb ${VERSION}`,
        tracer: session.tracer?.info ?? null,
        clients: session.clientInfos(),
        you: client.id,
        ...(session.ancestors.length > 0 ? { parent: session.ancestors[0]! } : {}),
        ...(children.length > 0 ? { children } : {}),
      },
    });
  }

  acceptTracer(transport: MessageTransport): Promise<void> {
    return this.#guarded("tracer", transport, () => this.#serveTracer(transport));
  }

  async #serveTracer(transport: MessageTransport): Promise<void> {
    const incoming = transport.incoming[Symbol.asyncIterator]();
    const first = await this.#first(transport, incoming);
    if (!first) return;
    let start: TracerStart;
    try {
      if ("error" in first) throw first.error;
      if (first.message.e !== "start") {
        throw new ProtocolError("auth", `got "${first.message.e.slice(0, 64)}"`);
      }
      start = tracerStartPayload.check(withSessionFromUuid(first.message.p), "payload");
    } catch (error) {
      if (!(error instanceof ProtocolError || error instanceof SchemaError)) throw error;
      return this.#refuse(
        transport,
        new ProtocolError("auth", `First message must be a valid "start": ${error.message}`),
      );
    }
    if (!this.#validSessionId(transport, start.session)) return;
    const ok = await this.#authorize({
      role: "tracer",
      auth: start.auth ?? "",
      session: start.session,
      remote: transport.remote,
      start,
    });
    if (!ok) return await this.#authFailed(transport, `session ${start.session}: tracer`);
    this.#authenticated(transport, "tracer");
    if (start.protocol > PROTOCOL_VERSION) {
      return this.#refuse(
        transport,
        new ProtocolError(
          "version",
          `This server speaks protocol ${PROTOCOL_VERSION}; the tracer speaks ${start.protocol}`,
        ),
      );
    }
    if (this.#closed || transport.isClosed) return transport.close();
    const existing = this.#sessions.get(start.session);
    // The session's own tracer, back after losing its link (the old link may not look dead
    // yet on this side).
    const returning = existing?.resumeKey !== undefined && start.resume !== undefined &&
      await constantTimeEqual(start.resume, existing.resumeKey);
    if (existing && !returning && existing.resumeKey !== undefined && !existing.tracer) {
      this.#log(`session ${start.session}: refused a tracer without its resume key`);
      return this.#refuse(
        transport,
        new ProtocolError(
          "session",
          `Session "${start.session}" is waiting for its own tracer to reconnect; choose another session id`,
        ),
      );
    }
    if (existing?.tracer && returning) {
      const old = existing.tracer.transport;
      existing.tracer = undefined;
      old.close();
    }
    if (existing?.tracer) {
      const other = existing.tracer.info;
      this.#log(`session ${start.session}: refused a second tracer from ${transport.remote}`);
      return this.#refuse(
        transport,
        new ProtocolError(
          "session",
          `Session "${start.session}" already has a live tracer (pid ${other.pid} on ${other.host}); choose another session id`,
        ),
      );
    }

    const parentId = start.parent;
    // A child proves it belongs to its tree (a session's own tracer, back with its resume key,
    // proved it when it first came).
    let tree: Session | undefined;
    if (parentId !== undefined && !returning) {
      const checked = await this.#childCheck(parentId, start.session, start.tree, existing);
      if (checked instanceof ProtocolError) {
        this.#log(`session ${start.session}: refused a child tracer: ${checked.message}`);
        return this.#refuse(transport, checked);
      }
      tree = checked;
    }
    const session = existing ?? this.#newSession(transport, start.session);
    if (!session) return;
    const {
      auth: _auth,
      session: _id,
      uuid: _uuid,
      resume: _resume,
      parent: _p,
      tree: _tree,
      ...info
    } = start;
    session.tracer = { transport, info };
    if (parentId !== undefined && tree && session.ancestors.length === 0) {
      const parent = this.#sessions.get(parentId);
      session.ancestors = [parentId, ...(parent?.ancestors ?? tree.ancestorsBelow(parentId))];
      session.treeKey = tree.treeKey;
    }
    session.treeKey ??= randomKey();
    session.lastActivity = Date.now();
    session.clearTimer(session.orphanTimer);
    session.orphanTimer = undefined;
    session.resumeKey ??= randomKey();
    this.#log(
      `session ${session.id}: tracer ${
        returning ? "came back" : "attached"
      } from ${transport.remote} (${info.argv.join(" ")}, pid ${info.pid} on ${info.host})`,
    );
    transport.send({
      e: "started",
      p: {
        session: session.id,
        protocol: PROTOCOL_VERSION,
        server: `qdb ${VERSION}`,
        resume: session.resumeKey,
        tree: session.treeKey,
        ...(this.#clientUrl ? { clients: this.#clientUrl } : {}),
      },
    });
    for (const client of session.clients.values()) {
      session.clearTimer(client.waitTimer);
      client.waitTimer = undefined;
      this.#sendAttached(session, client);
      transport.send({
        e: "start",
        p: { client: client.id },
        id: session.route(client.id, client.startId),
      });
    }
    if (session.clients.size === 0 && this.#attachTimeout > 0 && session.ancestors.length === 0) {
      // A child waits for no client of its own: its ancestors' clients are told of it.
      this.#waitForClient(session);
    }
    if (session.ancestors.length > 0 && !session.childState) {
      this.#childChanged(session, { state: "running" });
    }

    while (true) {
      // Taken at the pace of the clients: the tracer's link fills and its program waits.
      const pace = session.paced();
      if (pace) await pace;
      const next = await incoming.next();
      if (next.done) break;
      const item = next.value;
      let msg: TracerMessage;
      try {
        // Clients trust what reaches them: only documented tracer events, of the right
        // shape, ever do (never a forged `command`, `attached` or `clients`).
        if ("error" in item) throw item.error;
        msg = checkTracerMessage(item.message);
      } catch (error) {
        if (!(error instanceof ProtocolError)) throw error;
        transport.send(errorEvent(error));
        continue;
      }
      // Large texts are what V8 leaves lying about (small ones its young generation frees at
      // once; counting those would force full collections all through a flood).
      // Past a bound of them, the tracer waits for the collection (its link fills, as when
      // clients are slow): a burst of big prints costs a bounded heap, not one V8 lets grow.
      if (msg.e === "print" && msg.p.output.length >= LARGE_MESSAGE) {
        const debt = this.#reclaimer.note(msg.p.output.length);
        if (debt) await debt;
      }
      if (msg.e === "exited") {
        const p = msg.p;
        session.exit = { code: p.code, ...(p.signal ? { signal: p.signal } : {}) };
      }
      session.broadcast(msg);
      if (session.ancestors.length > 0) this.#watchChild(session, msg);
      if (msg.e === "disabled" && !session.ended) {
        // The tracer closes the link once it has said everything (after a hard disable, the
        // program's exit code comes next); it gets a little time, then the session ends.
        session.setTimer(DISABLED_GRACE_MS, () => {
          this.#end(session, this.#exitReason(session) ?? "The tracer stopped debugging");
        });
        this.#disabled.add(session);
      }
    }
    if (!session.ended && session.tracer?.transport === transport) {
      if (this.#disabled.has(session)) {
        this.#end(session, this.#exitReason(session) ?? "The tracer stopped debugging");
      } else if (session.exit || this.#tracerGrace <= 0 || this.#closed) {
        session.sendClients(errorEvent(new ProtocolError("tracer", "The tracer disconnected")));
        this.#end(session, this.#exitReason(session) ?? "The tracer disconnected");
      } else {
        this.#orphan(session);
      }
    }
  }

  /**
   * The tracer's link was lost without a goodbye: the clients are told at once, and the
   * session waits a while for its tracer to come back before it ends.
   */
  #orphan(session: Session): void {
    session.tracer = undefined;
    this.#log(`session ${session.id}: lost its tracer; waiting ${seconds(this.#tracerGrace)}`);
    session.sendClients(errorEvent(
      new ProtocolError(
        "tracer",
        `The tracer's link was lost; waiting ${seconds(this.#tracerGrace)} for it to reconnect`,
      ),
    ));
    session.orphanTimer = session.setTimer(this.#tracerGrace, () => {
      if (session.ended || session.tracer) return;
      session.sendClients(errorEvent(
        new ProtocolError("tracer", "The tracer did not reconnect in time"),
      ));
      this.#end(session, "The tracer disconnected and did not come back");
    });
  }

  #exitReason(session: Session): string | undefined {
    const exit = session.exit;
    if (!exit) return undefined;
    return exit.code === null
      ? `The program was ended by ${exit.signal ?? "a signal"}`
      : `The program exited with code ${exit.code}`;
  }

  #waitForClient(session: Session): void {
    const timer = session.setTimer(this.#attachTimeout, () => {
      if (session.ended || session.clients.size > 0) return;
      const tracer = session.tracer;
      tracer?.transport.send(errorEvent(
        new ProtocolError(
          "client",
          `No client attached to session "${session.id}" within ${seconds(this.#attachTimeout)}`,
        ),
      ));
      this.#end(session, "No client attached in time", this.#disableMode);
    });
    this.#tracerWaits.set(session, timer);
  }

  #cancelTracerWait(session: Session): void {
    session.clearTimer(this.#tracerWaits.get(session));
    this.#tracerWaits.delete(session);
  }

  /** A new session (with its inactivity watch), or undefined when the link was refused. */
  #newSession(transport: MessageTransport, id: string): Session | undefined {
    if (this.#sessions.size >= this.#limits.maxSessions) {
      this.#refuse(
        transport,
        new ProtocolError(
          "limit",
          `The server has the most sessions it takes (${this.#limits.maxSessions})`,
        ),
      );
      return undefined;
    }
    const session = new Session(id, {
      replayBudget: this.#replay,
      pressure: this.#pressure,
      maxQueuedBytes: this.#limits.maxQueuedBytes,
      onSlowClient: (client) => this.#dropSlowClient(session, client),
    });
    this.#sessions.set(id, session);
    this.#sweeper ??= setInterval(() => this.#sweepQueues(), SWEEP_MS);
    this.#log(`session ${id}: created`);
    if (this.#inactivityTimeout > 0) this.#watchInactivity(session, this.#inactivityTimeout);
    return session;
  }

  /** A client whose unread messages passed the limit is dropped; the others never wait. */
  #dropSlowClient(session: Session, client: ClientPeer, limit = "per client"): void {
    const queued = client.transport.queuedBytes ?? 0;
    const bytes = limit === "per client"
      ? this.#limits.maxQueuedBytes
      : this.#limits.maxQueuedTotal;
    this.#dropClient(session, client, `${queued} bytes unread (limit ${bytes}, ${limit})`);
  }

  /**
   * Takes a client out of its session and closes its link, saying why in the log (and to the
   * client, when `tell` is given and it can still hear it); the others are told it left.
   */
  #dropClient(session: Session, client: ClientPeer, why: string, tell?: string): void {
    if (session.clients.get(client.id) !== client) return;
    session.clients.delete(client.id);
    this.#log(`session ${session.id}: dropped client ${client.id}: ${why}`);
    if (tell !== undefined) client.transport.send(errorEvent(new ProtocolError("limit", tell)));
    client.transport.close();
    session.sendClients({ e: "clients", p: { left: clientInfo(client) } });
    this.#reclaimer.soon();
  }

  /**
   * Every {@linkcode SWEEP_MS} while sessions exist: drops stalled clients, and holds all clients
   * together to `maxQueuedTotal`. Past it, sessions wait for their full-access clients (the
   * shared pressure flag, see `Session.paced`), so what is queued only shrinks and no client that
   * reads is lost; read-only clients, which never hold a session back, are dropped furthest
   * behind first. Only past twice the bound (large messages taken just before the pressure was
   * seen) are full-access clients dropped, furthest behind first, never a session's least
   * behind.
   */
  #sweepQueues(): void {
    if (this.#sessions.size === 0 || this.#closed) {
      clearInterval(this.#sweeper);
      this.#sweeper = undefined;
      this.#lastSweep = 0;
      this.#pressure.over = false;
      return;
    }
    let total = 0;
    const behind: { session: Session; client: ClientPeer; queued: number }[] = [];
    const now = Date.now();
    // Time the server itself could not run (a flood, a long collection) is nobody's stall: the
    // stall clocks move on by it.
    const lag = this.#lastSweep === 0 ? 0 : Math.max(0, now - this.#lastSweep - 2 * SWEEP_MS);
    this.#lastSweep = now;
    for (const session of this.#sessions.values()) {
      const paced = session.leastBehind();
      for (const client of [...session.clients.values()]) {
        const queued = client.transport.queuedBytes ?? 0;
        if (lag > 0 && client.progress) client.progress.since += lag;
        if (this.#stalled(client, queued, now)) {
          this.#dropStalledClient(session, client, queued);
          continue;
        }
        total += queued;
        if (client !== paced && queued > 0) behind.push({ session, client, queued });
      }
    }
    const max = this.#limits.maxQueuedTotal;
    // Some room below the bound before sessions go on, so they do not flap at its edge.
    const over = total > (this.#pressure.over ? max * 0.9 : max);
    if (over !== this.#pressure.over && now - this.#pressureLogged >= SECOND) {
      this.#pressureLogged = now;
      this.#log(
        over
          ? `clients have ${total} bytes unread together (limit ${max}): sessions wait for them`
          : `clients have ${total} bytes unread together: sessions go on`,
      );
    }
    this.#pressure.over = over;
    if (total <= max) return;
    behind.sort((a, b) => b.queued - a.queued);
    for (const { session, client, queued } of behind) {
      if (total <= max) break;
      if (client.access !== "read-only" && total <= 2 * max) continue;
      this.#dropSlowClient(session, client, "all clients together");
      total -= queued;
    }
  }

  /**
   * Whether a client has made no progress for `clientStall`: it has enough unread to hold its
   * session back ({@linkcode PACE_BYTES}), and nothing more has been written to it (where its transport can tell; else its unread bytes
   * have not gone down). A peer that went to sleep, lost its link without a reset, or never
   * reads; never one that reads while the server queues faster than it writes.
   */
  #stalled(client: ClientPeer, queued: number, now: number): boolean {
    const written = client.transport.writtenBytes;
    const progress = client.progress;
    // Only a client that holds the program back is judged: one with less unread than a
    // session waits for costs nobody anything (the heartbeat and TCP see to a dead one).
    if (queued < PACE_BYTES || !progress) {
      client.progress = { queued, written, kernel: undefined, since: now };
      return false;
    }
    // Read only when the rest says nothing moved (the kernel's table is read at most twice a
    // second, and only while some client looks stalled).
    const moved = written !== undefined ? written !== progress.written : queued < progress.queued;
    const kernel = moved ? undefined : client.transport.kernelQueuedBytes;
    if (
      moved ||
      (kernel !== undefined && progress.kernel !== undefined && kernel < progress.kernel)
    ) {
      // A slow reader: the kernel's queue for it goes down while the server's writes wait.
      client.progress = { queued, written, kernel, since: now };
      return false;
    }
    progress.kernel ??= kernel;
    progress.queued = queued;
    return this.#clientStall > 0 && now - progress.since >= this.#clientStall;
  }

  /** Drops a stalled client; the program goes on, its output kept for the next to attach. */
  #dropStalledClient(session: Session, client: ClientPeer, queued: number): void {
    const stall = seconds(this.#clientStall);
    this.#dropClient(
      session,
      client,
      `it read nothing for ${stall} (${queued} bytes unread)`,
      `This client read nothing for ${stall}: it was dropped so that the program goes on`,
    );
  }

  /** The last client activity in the session's tree (its root, and every descendant). */
  #treeActivity(session: Session): number {
    let last = session.lastActivity;
    const root = session.root;
    for (const other of this.#sessions.values()) {
      if (other.root === root) last = Math.max(last, other.lastActivity);
    }
    return last;
  }

  #watchInactivity(session: Session, ms: number): void {
    session.setTimer(ms, () => {
      if (session.ended) return;
      // Clients of any session of the tree keep it all alive: a child nobody attached to is
      // attended by its ancestors' clients.
      const idle = Date.now() - this.#treeActivity(session);
      if (idle < this.#inactivityTimeout) {
        // Activity since the timer was set: wait for the rest of the period.
        return this.#watchInactivity(session, this.#inactivityTimeout - idle);
      }
      this.#log(`session ${session.id}: inactive for ${seconds(idle)}, disabling`);
      this.#end(
        session,
        `No client activity for ${seconds(this.#inactivityTimeout)}`,
        this.#disableMode,
      );
    });
  }

  /**
   * Ends a session: the tracer is told to disable (when `tracerMode` is given), clients get
   * `disable` and are closed.
   */
  #end(session: Session, reason: string, tracerMode?: DisableMode): void {
    if (session.ended) return;
    session.ended = true;
    session.clearTimers();
    const tracer = session.tracer;
    if (tracer) {
      if (tracerMode) tracer.transport.send({ e: "disable", p: tracerMode });
      tracer.transport.close();
    }
    for (const client of session.clients.values()) {
      client.transport.send({ e: "disable", p: { reason } });
      client.transport.close();
    }
    this.#forget(session);
    if (session.ancestors.length > 0) this.#childChanged(session, { state: "ended", reason });
    this.#log(`session ${session.id}: ended (${reason})`);
    this.#reclaimer.soon();
  }

  /**
   * Whether a tracer may start `id` as a child of `parentId`: the parent must be a live session
   * of a tree (or an ancestor of one that is), `key` must be that tree's key (which only its
   * tracers were given), the id must extend the parent's or the tree's (so that whoever may
   * attach to a tree by its ids sees only its own children), a session that exists already may
   * not change tree, and the tree may hold no more. A session of the tree (to take the key and
   * the ancestors from), or why not.
   */
  async #childCheck(
    parentId: string,
    id: string,
    key: string | undefined,
    existing: Session | undefined,
  ): Promise<Session | ProtocolError> {
    const refused = (why: string) => new ProtocolError("session", why);
    const member = this.#sessions.get(parentId) ??
      [...this.#sessions.values()].find((s) => s.ancestors.includes(parentId));
    if (!member?.treeKey || parentId === id) {
      return refused(`Session ${JSON.stringify(parentId)} is not a live session a child can join`);
    }
    if (key === undefined || !(await constantTimeEqual(key, member.treeKey))) {
      return refused(
        `A child of ${JSON.stringify(parentId)} must carry its tree's key ("tree", which the ` +
          "tree's tracer got in started)",
      );
    }
    if (existing && (existing.ancestors.length > 0 || existing.treeKey !== undefined)) {
      return refused(`Session ${JSON.stringify(id)} exists already in a tree of its own`);
    }
    const root = member.root;
    if (!id.startsWith(`${parentId}/`) && !id.startsWith(`${root}/`)) {
      return refused(
        `A child session's id must begin with its parent's id and "/" (${
          JSON.stringify(`${parentId}/`)
        }), got ${JSON.stringify(id)}`,
      );
    }
    let live = 0;
    for (const other of this.#sessions.values()) {
      if (other.ancestors.length > 0 && other.root === root) live++;
    }
    if (live < this.#limits.maxChildrenPerTree) return member;
    return new ProtocolError(
      "limit",
      `Session "${root}" has the most child sessions it takes (${this.#limits.maxChildrenPerTree})`,
    );
  }

  /** A child's stops and resumes, as its ancestors' clients are told (`child`). */
  #watchChild(session: Session, msg: TracerMessage): void {
    if (msg.e === "stack") {
      const p = msg.p;
      if (p.reason === "select") return;
      const frame = p.stack[p.index] ?? p.stack.at(-1);
      const where = frame
        ? {
          file: frame.file,
          line: frame.line,
          func: frame.func,
          ...(p.reason ? { reason: p.reason } : {}),
          ...(p.thread ? { thread: p.thread.name } : {}),
        }
        : undefined;
      const known = session.childState;
      // The state sent again (a client attached, or the same stop's frames) is no news.
      if (known?.state === "stopped" && (!p.reason || sameWhere(known.where, where))) return;
      this.#childChanged(session, { state: "stopped", ...(where ? { where } : {}) });
    } else if (msg.e === "running" && session.childState?.state === "stopped") {
      this.#childChanged(session, { state: "running" });
    }
  }

  /** Tells the clients of every live ancestor of a child session what became of it. */
  #childChanged(
    session: Session,
    change: Partial<Pick<ChildInfo, "where" | "reason">> & Pick<ChildInfo, "state">,
  ): void {
    const tracer = session.tracer?.info;
    const info: ChildInfo = {
      session: session.id,
      parent: session.ancestors[0]!,
      pid: tracer?.pid ?? session.childState?.pid ?? 0,
      argv: tracer?.argv ?? session.childState?.argv ?? [],
      ...change,
    };
    session.childState = info;
    for (const id of session.ancestors) {
      const ancestor = this.#sessions.get(id);
      if (ancestor && !ancestor.ended) ancestor.sendClients({ e: "child", p: info });
    }
  }

  /** The live descendants of a session, as `attached` lists them. */
  #childrenOf(session: Session): ChildInfo[] {
    const out: ChildInfo[] = [];
    for (const other of this.#sessions.values()) {
      if (other.childState && other.ancestors.includes(session.id)) out.push(other.childState);
    }
    return out;
  }

  #forget(session: Session): void {
    session.clearTimers();
    session.dropReplay();
    if (this.#sessions.get(session.id) === session) this.#sessions.delete(session.id);
  }

  setClientUrl(url: string): void {
    this.#clientUrl = url;
  }

  async serveTracers(listener: Deno.Listener): Promise<void> {
    this.#listeners.add(listener);
    let backoff = 10;
    try {
      while (!this.#closed) {
        let conn: Deno.Conn;
        try {
          conn = await listener.accept();
        } catch (error) {
          if (this.#closed || error instanceof Deno.errors.BadResource) break;
          // Out of file descriptors, or a connection reset before it was accepted: the
          // server lives on, and tries again a little later.
          if (!this.#acceptErrorLogged) {
            this.#log(`accepting a tracer failed (${error}); retrying`);
            this.#acceptErrorLogged = true;
          }
          await new Promise((resolve) => setTimeout(resolve, backoff));
          backoff = Math.min(backoff * 2, 1000);
          continue;
        }
        backoff = 10;
        this.#acceptErrorLogged = false;
        if (this.#pending.size >= this.#limits.maxConnections) {
          // Refused before any buffer is made for it.
          try {
            conn.close();
          } catch {
            // Already gone.
          }
          continue;
        }
        // A TLS connection has no setNoDelay of its own.
        if ("setNoDelay" in conn) (conn as Deno.TcpConn).setNoDelay(true);
        this.acceptTracer(new TcpTransport(conn));
      }
    } finally {
      this.#listeners.delete(listener);
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#reclaimer.close();
    clearInterval(this.#sweeper);
    this.#sweeper = undefined;
    for (const listener of this.#listeners) {
      try {
        listener.close();
      } catch {
        // Already closed.
      }
    }
    const links: Promise<void>[] = [];
    for (const session of [...this.#sessions.values()]) {
      if (session.tracer) links.push(session.tracer.transport.closed);
      for (const c of session.clients.values()) links.push(c.transport.closed);
      // The programs run on without qdb.
      this.#end(session, "The server is shutting down", "soft");
    }
    for (const transport of this.#pending) {
      transport.close();
      links.push(transport.closed);
    }
    // A peer that never answers the close handshake does not keep the server up.
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      Promise.all(links),
      new Promise((resolve) => timer = setTimeout(resolve, CLOSE_GRACE_MS)),
    ]);
    clearTimeout(timer);
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

function sameWhere(a: ChildInfo["where"], b: ChildInfo["where"]): boolean {
  return a?.file === b?.file && a?.line === b?.line && a?.reason === b?.reason &&
    a?.thread === b?.thread;
}

function notFound(): Response {
  return new Response("Not found\n", { status: 404 });
}

function forbidden(why: string): Response {
  return new Response(`Forbidden: ${why}\n`, { status: 403 });
}

/** The original qdb's tracers name their session `uuid`: accept it as `session`. */
function withSessionFromUuid(p: unknown): unknown {
  if (!isPlainObject(p) || p.session !== undefined || typeof p.uuid !== "string") return p;
  const { uuid, ...rest } = p;
  return { ...rest, session: uuid };
}

function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}

function normalizeHost(host: string): string {
  return host.trim().toLowerCase().replace(/^\[|\]$/g, "").replace(/\.$/, "");
}

function isIpAddress(name: string): boolean {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(name) || (name.includes(":") && /^[0-9a-f:.]+$/.test(name));
}

/**
 * The most all sessions' replay buffers (output kept while nobody is attached) hold together: a
 * thousand sessions whose clients all left do not keep a gigabyte.
 */
const REPLAY_BUDGET_BYTES = 64 * 1024 * 1024;

/** A print at least this long is a large message for the reclaimer (see `memory.ts`). */
const LARGE_MESSAGE = 64 * 1024;

/** Headers of every JSON answer: never sniffed as another type, never cached. */
const JSON_HEADERS = { "x-content-type-options": "nosniff", "cache-control": "no-store" };

/** Commands other clients are not told about (see `command`). */
const UNECHOED_COMMANDS: ReadonlySet<string> = new Set([
  "start",
  "complete",
  "input",
  "list",
  "stack",
  "breakpoints",
  "threads",
  "stack_trace",
  "scopes",
  "variables",
  "source",
]);

/** A random key of 128 bits, as hex. */
function randomKey(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}
