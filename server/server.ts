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

import type { SessionList } from "../protocol/mod.ts";
import { TcpTransport } from "../transport/tcp.ts";
import type { MessageTransport } from "../transport/transport.ts";
import { sanitizeLine } from "../protocol/sanitize.ts";
import { acceptEach } from "./accept.ts";
import { Admission } from "./admission.ts";
import { RemoteClientTransport } from "./bus.ts";
import { moveClients, serveClient } from "./client_link.ts";
import { serveGroup } from "./group_link.ts";
import type { Upgrade } from "./http.ts";
import { ServerContext } from "./context.ts";
import { HttpFront } from "./http.ts";
import { type ServerOptions, settingsOf } from "./options.ts";
import { MemoryRegistry, type RegistryChange, sessionInfo } from "./registry.ts";
import { QueueSweeper } from "./sweep.ts";
import { serveTracer } from "./tracer_link.ts";

export { type DisableMode, type ServerOptions, SESSION_ID_PATTERN } from "./options.ts";
export type { Upgrade } from "./http.ts";
export {
  type ClaimRefused,
  MemoryRegistry,
  type Registry,
  type RegistryChange,
  type SessionFacts,
  type SessionRecord,
} from "./registry.ts";

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
  ): Response | Upgrade;
  /**
   * Serves one client over any transport; resolves when it leaves. With `group`, the client
   * attaches to every member of that group (`BASE?group=NAME`), and `session` is ignored.
   */
  acceptClient(transport: MessageTransport, session: string, group?: string): Promise<void>;
  /** Serves one tracer over any transport; resolves when it leaves. */
  acceptTracer(transport: MessageTransport): Promise<void>;
  /** Sets where clients attach, once known (told to tracers in `started`). */
  setClientUrl(url: string): void;
  /** Accepts tracers on a listener until it closes (or the server does). */
  serveTracers(listener: Deno.Listener): Promise<void>;
  /** Every session of the registry (of every server sharing it), or of one group. */
  sessions(group?: string): Promise<SessionList>;
  /** Ends every session and stops accepting connections. Idempotent. */
  close(): Promise<void>;
  /**
   * Hands every session this server holds to the other servers of its registry, then closes (a
   * server of a cluster that restarts). Tracers and clients are let go without `disable`, so
   * they connect again to another server of their list; the registry keeps each session for its
   * tracer, which takes it over there with its key. Idempotent (and nothing after `close`).
   */
  handOver(): Promise<void>;
}

/** Creates a server. It listens on nothing by itself: mount {@linkcode QdbServer.handler}. */
export function createServer(options: ServerOptions = {}): QdbServer {
  return new Server(options);
}

/** How long `close()` waits for peers to finish their close handshakes. */
const CLOSE_GRACE_MS = 2000;

/** The server: its parts, wired. */
class Server implements QdbServer {
  readonly #ctx: ServerContext;
  readonly #admission: Admission;
  readonly #http: HttpFront;
  readonly #sweeper: QueueSweeper;
  /** Whether the registry is the server's own (closed with it). */
  readonly #ownRegistry: boolean;
  readonly #listeners = new Set<Deno.Listener>();
  /** Stops watching the registry (on close). */
  readonly #unwatch = new AbortController();

  constructor(options: ServerOptions) {
    const log = options.log ?? (() => {});
    // Peers choose much of what is logged (argv, names, session ids): one line, no controls.
    const safeLog = (line: string) => log(sanitizeLine(line));
    this.#ownRegistry = options.registry === undefined;
    const registry = options.registry ?? new MemoryRegistry();
    this.#ctx = new ServerContext(settingsOf(options), safeLog, registry, options.clientUrl);
    this.#admission = new Admission(this.#ctx);
    this.#sweeper = new QueueSweeper(this.#ctx);
    this.#ctx.onFirstSession = () => this.#sweeper.start();
    this.#http = new HttpFront(this.#ctx, this.#admission, {
      sessions: () => this.sessions(),
      acceptClient: (transport, session, group) =>
        void this.acceptClient(transport, session, group),
    }, options);
    registry.watch((change) => this.#watched(change), this.#unwatch.signal);
    this.handler = this.handler.bind(this);
  }

  /**
   * A session changed in the registry. When it has a new owner, this server's relayed clients
   * join it there. When its tracer came to (or moved to) another server, the clients here move
   * there: those that waited for it, and those of a session this server held until its tracer
   * went to another with its key (its link here is stale, and is let go).
   */
  #watched(change: RegistryChange): void {
    const ctx = this.#ctx;
    const owner = change.record?.owner;
    if (!owner || ctx.closed) return;
    for (const relay of ctx.relays.get(change.id) ?? []) relay.rejoin(owner);
    if (owner === ctx.registry.server) return;
    const session = ctx.sessions.get(change.id);
    if (!session || session.ended) return;
    const stale = session.tracer;
    if (stale) {
      ctx.log(`session ${session.id}: its tracer went to server ${owner}`);
      session.setTracer(undefined);
      stale.transport.close();
    }
    void moveClients(ctx, session, owner);
  }

  handler(request: Request, info?: Deno.ServeHandlerInfo): Response | Promise<Response> {
    return this.#http.handler(request, info);
  }

  checkUpgrade(
    request: Request,
    info?: Deno.ServeHandlerInfo,
  ): Response | Upgrade {
    return this.#http.checkUpgrade(request, info);
  }

  acceptClient(transport: MessageTransport, session: string, group?: string): Promise<void> {
    return this.#admission.serve(
      "client",
      transport,
      () =>
        group !== undefined
          ? serveGroup(this.#ctx, this.#admission, transport, group)
          : serveClient(this.#ctx, this.#admission, transport, session),
    );
  }

  acceptTracer(transport: MessageTransport): Promise<void> {
    return this.#admission.serve(
      "tracer",
      transport,
      () => serveTracer(this.#ctx, this.#admission, transport),
    );
  }

  async sessions(group?: string): Promise<SessionList> {
    let records = await this.#ctx.registry.list();
    if (group !== undefined) {
      records = records.filter((r) => (r.tracer?.groups ?? []).includes(group));
    }
    return { now: new Date().toISOString(), sessions: records.map(sessionInfo) };
  }

  setClientUrl(url: string): void {
    this.#ctx.clientUrl = url;
  }

  async serveTracers(listener: Deno.Listener): Promise<void> {
    const ctx = this.#ctx;
    this.#listeners.add(listener);
    let logged = false;
    try {
      await acceptEach(listener, (conn) => {
        logged = false;
        if (ctx.pending.size >= ctx.settings.limits.maxConnections) {
          // Refused before any buffer is made for it.
          try {
            conn.close();
          } catch {
            // Already gone.
          }
          return;
        }
        // A TLS connection has no setNoDelay of its own.
        if ("setNoDelay" in conn) (conn as Deno.TcpConn).setNoDelay(true);
        this.acceptTracer(new TcpTransport(conn));
      }, (error) => {
        if (!logged) ctx.log(`accepting a tracer failed (${error}); retrying`);
        logged = true;
      }, () => ctx.closed);
    } finally {
      this.#listeners.delete(listener);
    }
  }

  async handOver(): Promise<void> {
    const ctx = this.#ctx;
    if (ctx.closed) return;
    ctx.closed = true;
    for (const session of [...ctx.sessions.values()]) {
      const tracer = session.tracer;
      if (tracer) {
        try {
          await ctx.registry.handOver(session.id);
        } catch (error) {
          ctx.registryFailed(`handing session ${session.id} over`, error);
        }
      }
      // Ended here without a word to anyone: no `disable`, so the tracer and the clients
      // connect again, to another server of their list (and the session's clients on other
      // servers join it wherever it goes).
      session.end();
      ctx.let(session);
      tracer?.transport.close();
      for (const client of session.clients.values()) {
        if (client.transport instanceof RemoteClientTransport) client.transport.detach();
        else client.transport.close();
      }
      ctx.log(`session ${session.id}: handed over`);
    }
    for (const relays of ctx.relays.values()) {
      for (const relay of relays) relay.transport.close();
    }
    await this.#shutDown();
  }

  async close(): Promise<void> {
    const ctx = this.#ctx;
    if (ctx.closed) return;
    ctx.closed = true;
    await this.#shutDown();
  }

  /** Stops listening, ends what sessions are left, and waits a little for the links to close. */
  async #shutDown(): Promise<void> {
    const ctx = this.#ctx;
    this.#unwatch.abort();
    ctx.reclaimer.close();
    this.#sweeper.stop();
    for (const listener of this.#listeners) {
      try {
        listener.close();
      } catch {
        // Already closed.
      }
    }
    const links: Promise<void>[] = [];
    for (const session of [...ctx.sessions.values()]) {
      if (session.tracer) links.push(session.tracer.transport.closed);
      for (const c of session.clients.values()) links.push(c.transport.closed);
      // The programs run on without qdb.
      ctx.end(session, "The server is shutting down", "soft");
    }
    for (const transport of ctx.pending) {
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
    if (this.#ownRegistry) await ctx.registry.close();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
