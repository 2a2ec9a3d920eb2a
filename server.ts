/**
 * The qdb server role: {@linkcode createServer} for mounting in an app, and
 * {@linkcode serve} to listen for clients (WebSocket) and tracers (TCP).
 *
 * @example
 * ```ts ignore
 * import { serve } from "./server.ts";
 * await using running = serve({ clientPort: 0, tracerPort: 0 });
 * console.log(running.clientUrl, running.tracerUrl);
 * ```
 * @module
 */

import { createServer, type QdbServer, type ServerOptions } from "./server/server.ts";
import { formatHost } from "./transport/tcp.ts";
import type { TlsServerOptions } from "./transport/tls.ts";

export * from "./server/auth.ts";
export type { TlsServerOptions } from "./transport/tls.ts";
export * from "./server/limits.ts";
export * from "./server/server.ts";

/** Options of {@linkcode serve}. */
export interface ServeOptions extends ServerOptions {
  /** Address to listen on. Default `127.0.0.1` (loopback only). */
  hostname?: string;
  /** WebSocket port for clients; 0 picks a free one. Default 8002. */
  clientPort?: number;
  /** TCP port for tracers; 0 picks a free one. Default 8001. */
  tracerPort?: number;
  /**
   * A certificate and key (PEM): both links then use TLS, clients at `wss://` and tracers at
   * `tls://`. Default: no TLS.
   */
  tls?: TlsServerOptions | undefined;
  /** Aborting it closes the server. */
  signal?: AbortSignal;
}

/** A listening server. */
export interface RunningServer extends AsyncDisposable {
  /** The routing core. */
  readonly server: QdbServer;
  /** Where clients connect: `ws://HOST:PORT` (`wss://` with TLS). */
  readonly clientUrl: string;
  /** Where tracers connect: `tcp://HOST:PORT` (`tls://` with TLS). */
  readonly tracerUrl: string;
  /** Stops listening and ends every session. Idempotent. */
  close(): Promise<void>;
  /** Resolves once closed. */
  readonly finished: Promise<void>;
}

/** Starts a server listening for clients and tracers. */
export function serve(options: ServeOptions = {}): RunningServer {
  const hostname = options.hostname ?? "127.0.0.1";
  const server = createServer({ listenHost: hostname, ...options });
  const tls = options.tls;
  const tracerPort = options.tracerPort ?? 8001;
  const tracers = inUse(
    "tracer",
    hostname,
    tracerPort,
    () =>
      tls
        ? Deno.listenTls({ hostname, port: tracerPort, cert: tls.cert, key: tls.key })
        : Deno.listen({ hostname, port: tracerPort }),
  );
  const abort = new AbortController();
  let http: Deno.HttpServer<Deno.NetAddr>;
  try {
    http = inUse("client", hostname, options.clientPort ?? 8002, () =>
      Deno.serve({
        hostname,
        port: options.clientPort ?? 8002,
        signal: abort.signal,
        onListen() {},
        ...(tls ? { cert: tls.cert, key: tls.key } : {}),
      }, server.handler));
  } catch (error) {
    tracers.close();
    throw error;
  }
  const host = formatHost(displayHost(hostname));
  const clientUrl = `${tls ? "wss" : "ws"}://${host}:${http.addr.port}`;
  if (options.clientUrl === undefined) server.setClientUrl(clientUrl);
  const tracerLoop = server.serveTracers(tracers);
  let closing: Promise<void> | undefined;
  const close = () =>
    closing ??= (async () => {
      await server.close();
      abort.abort();
      await Promise.allSettled([http.finished, tracerLoop]);
    })();
  options.signal?.addEventListener("abort", close, { once: true });
  return {
    server,
    clientUrl,
    tracerUrl: `${tls ? "tls" : "tcp"}://${host}:${(tracers.addr as Deno.NetAddr).port}`,
    close,
    get finished() {
      return http.finished;
    },
    [Symbol.asyncDispose]: close,
  };
}

/** The host to put in printed URLs: a wildcard address is shown as this machine's name. */
function displayHost(hostname: string): string {
  if (hostname !== "0.0.0.0" && hostname !== "::") return hostname;
  try {
    return Deno.hostname();
  } catch {
    return hostname;
  }
}

/** Runs `listen`; a port in use becomes an error that names it. */
function inUse<T>(what: string, hostname: string, port: number, listen: () => T): T {
  try {
    return listen();
  } catch (error) {
    if (error instanceof Deno.errors.AddrInUse) {
      throw new Error(
        `The ${what} port ${port} on ${hostname} is already in use (another qdb serve?): ` +
          `choose another (--${what}-port; 0 picks a free one)`,
        { cause: error },
      );
    }
    throw error;
  }
}
