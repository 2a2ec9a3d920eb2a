/**
 * The server's HTTP face: the checks every request passes (under the base path, a `Host` that
 * names this server, an allowed `Origin`), its routes (`GET BASE/sessions`, the web client, the
 * WebSocket of a session), and the headers of its answers.
 *
 * @module
 */

import type { SessionList } from "../protocol/mod.ts";
import { formatHost } from "../transport/tcp.ts";
import { WebSocketTransport } from "../transport/websocket.ts";
import { VERSION } from "../version.ts";
import type { Admission } from "./admission.ts";
import type { ServerContext } from "./context.ts";
import { addressHost } from "./limits.ts";
import { SESSION_ID_PATTERN } from "./options.ts";
import { webResponse } from "./web.ts";

/**
 * Seconds without a pong before the WebSocket layer drops a client: this also frees a peer
 * that never reads (it cannot answer the close handshake either).
 */
const WEBSOCKET_IDLE_SECONDS = 20;

/** Headers of every JSON answer: never sniffed as another type, never cached. */
const JSON_HEADERS = { "x-content-type-options": "nosniff", "cache-control": "no-store" };

/** Where the HTTP face hands on what passed its checks. */
export interface HttpRoutes {
  /** Every session (or every member of `group`), as `GET BASE/sessions` lists them. */
  sessions(group?: string): Promise<SessionList>;
  /** Serves a client that upgraded to a WebSocket (of a session, or of a group). */
  acceptClient(transport: WebSocketTransport, session: string, group?: string): void;
}

/** A WebSocket upgrade that passed the checks: what it attaches to, and the peer. */
export interface Upgrade {
  /** The session (the path after the base); empty for a group. */
  session: string;
  /** The peer's address. */
  remote: string;
  /** The group, for `BASE?group=NAME`. */
  group?: string;
}

/** Options of {@linkcode HttpFront}. */
export interface HttpOptions {
  /** Host names accepted besides IP addresses, loopback and the listening address. */
  allowedHosts?: string[] | undefined;
  /** Origins whose pages may connect besides the server's own. */
  allowedOrigins?: string[] | undefined;
  /** The address the server listens on. */
  listenHost?: string | undefined;
}

/** The HTTP face of one server. */
export class HttpFront {
  readonly #ctx: ServerContext;
  readonly #admission: Admission;
  readonly #routes: HttpRoutes;
  readonly #allowedHosts: Set<string>;
  readonly #allowedOrigins: Set<string>;
  readonly #listenHost: string | undefined;

  /** The HTTP face of the server of `ctx`. */
  constructor(ctx: ServerContext, admission: Admission, routes: HttpRoutes, options: HttpOptions) {
    this.#ctx = ctx;
    this.#admission = admission;
    this.#routes = routes;
    this.#allowedHosts = new Set((options.allowedHosts ?? []).map(normalizeHost));
    this.#allowedOrigins = new Set((options.allowedOrigins ?? []).map((o) => o.toLowerCase()));
    this.#listenHost = options.listenHost === undefined
      ? undefined
      : normalizeHost(options.listenHost);
  }

  /** The HTTP handler (see `QdbServer.handler`). */
  handler(request: Request, info?: Deno.ServeHandlerInfo): Response | Promise<Response> {
    const checked = this.#check(request, info);
    if (checked instanceof Response) return checked;
    const { rest, remote } = checked;
    const upgrade = request.headers.get("upgrade")?.toLowerCase() === "websocket";
    if (!upgrade) return this.#page(request, rest, remote);
    const admitted = this.checkUpgrade(request, info);
    if (admitted instanceof Response) return admitted;
    const { socket, response } = Deno.upgradeWebSocket(request, {
      idleTimeout: WEBSOCKET_IDLE_SECONDS,
    });
    this.#routes.acceptClient(
      new WebSocketTransport(socket, { remote }),
      admitted.session,
      admitted.group,
    );
    return response;
  }

  /** A plain request: the session list, the web client, or a word on what is served here. */
  async #page(request: Request, rest: string, remote: string): Promise<Response> {
    if (request.method !== "GET" && request.method !== "HEAD") {
      return new Response("Method not allowed\n", { status: 405, headers: { allow: "GET" } });
    }
    const base = this.#ctx.settings.basePath;
    if (rest === "sessions") {
      const group = new URL(request.url).searchParams.get("group") ?? undefined;
      return this.#listResponse(request, remote, group);
    }
    if (this.#ctx.settings.web) {
      // Whether the list page must ask for a token before it asks for the list.
      const tokenNeeded = rest === "" &&
        !await this.#admission.authorize({ role: "list", auth: "", session: "", remote });
      const page = webResponse(base, rest, (id) => SESSION_ID_PATTERN.test(id), tokenNeeded);
      if (page) return page;
    }
    if (rest === "") {
      return new Response(
        `qdb ${VERSION} server. Clients: open a WebSocket at ${base}SESSION_ID; ` +
          `GET ${base}sessions lists sessions.\n`,
        { headers: { "content-type": "text/plain; charset=utf-8" } },
      );
    }
    return new Response(`Connect a WebSocket client here to attach to session "${rest}"\n`, {
      status: 426,
      headers: { upgrade: "websocket" },
    });
  }

  /** See `QdbServer.checkUpgrade`. */
  checkUpgrade(
    request: Request,
    info?: Deno.ServeHandlerInfo,
  ): Response | Upgrade {
    const checked = this.#check(request, info);
    if (checked instanceof Response) return checked;
    if (this.#ctx.closed) return new Response("Server is shutting down\n", { status: 503 });
    const max = this.#ctx.settings.limits.maxConnections;
    if (this.#ctx.pending.size >= max) {
      return new Response(
        `Too many connections (${max}); try again later\n`,
        { status: 503, headers: { connection: "close", "retry-after": "5" } },
      );
    }
    const group = new URL(request.url).searchParams.get("group");
    if (group !== null && checked.rest === "") {
      return { session: "", remote: checked.remote, group };
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
    const base = this.#ctx.settings.basePath;
    if (!url.pathname.startsWith(base)) return new Response("Not found\n", { status: 404 });
    const host = request.headers.get("host") ?? url.host;
    const shown = JSON.stringify(host.slice(0, 100));
    if (!this.#hostAllowed(host)) {
      this.#ctx.log(`refused a request for Host ${shown}`);
      return forbidden(
        `Host ${shown} is not this server's name: ` +
          "use its IP address or localhost, or start it with --allow-host NAME",
      );
    }
    const origin = request.headers.get("origin");
    if (origin !== null && !this.#originAllowed(origin, host)) {
      const page = JSON.stringify(origin.slice(0, 100));
      this.#ctx.log(`refused a request from the page at ${page}`);
      return forbidden(
        `Pages of origin ${page} may not connect: ` +
          "start the server with --allow-origin ORIGIN to let them",
      );
    }
    let rest: string;
    try {
      rest = decodeURIComponent(url.pathname.slice(base.length));
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

  async #listResponse(request: Request, remote: string, group?: string): Promise<Response> {
    const bearer = /^Bearer (.*)$/i.exec(request.headers.get("authorization") ?? "")?.[1] ?? "";
    const allowed = await this.#admission.authorize({
      role: "list",
      auth: bearer,
      session: "",
      remote,
    });
    if (!allowed) {
      return Response.json({ error: "Authentication failed: send Authorization: Bearer TOKEN" }, {
        status: 401,
        headers: { "www-authenticate": "Bearer", ...JSON_HEADERS },
      });
    }
    return Response.json(await this.#routes.sessions(group), { headers: JSON_HEADERS });
  }
}

function forbidden(why: string): Response {
  return new Response(`Forbidden: ${why}\n`, { status: 403 });
}

function normalizeHost(host: string): string {
  return host.trim().toLowerCase().replace(/^\[|\]$/g, "").replace(/\.$/, "");
}

function isIpAddress(name: string): boolean {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(name) || (name.includes(":") && /^[0-9a-f:.]+$/.test(name));
}
