/**
 * The qdb server role: {@linkcode createServer} for mounting in an app, and
 * {@linkcode serve} to listen for clients (WebSocket) and tracers (TCP).
 *
 * @example
 * ```ts ignore
 * import { serve } from "./server.ts";
 * await using running = await serve({ clientPort: 0, tracerPort: 0 });
 * console.log(running.clientUrl, running.tracerUrl);
 * ```
 * @module
 */

import { createServer, type QdbServer, type ServerOptions } from "./server/server.ts";
import { formatHost } from "./transport/tcp.ts";
import type { TlsServerOptions } from "./transport/tls.ts";
import { type ClientListener, listenClients } from "./server/listener.ts";

export * from "./server/auth.ts";
export type { TlsServerOptions } from "./transport/tls.ts";
export type { Incoming, MessageTransport } from "./transport/transport.ts";
export type { Message, MessageId } from "./protocol/mod.ts";
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

/**
 * Starts a server listening for clients and tracers. The client port is `qdb serve`'s hardened
 * listener (see `server/listener.ts`): connection limits, deadlines and the pre-authentication
 * frame limit apply before any work is done for a socket.
 *
 * @throws {Error} naming the port when one is already in use.
 */
export async function serve(options: ServeOptions = {}): Promise<RunningServer> {
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
  const clientPort = options.clientPort ?? 8002;
  let clients: ClientListener;
  try {
    clients = await inUse("client", hostname, clientPort, () =>
      listenClients(server, {
        hostname,
        port: clientPort,
        tls,
        ...(options.limits ? { limits: options.limits } : {}),
        ...(options.log ? { log: options.log } : {}),
      }));
  } catch (error) {
    tracers.close();
    throw error;
  }
  const host = formatHost(displayHost(hostname));
  const clientUrl = `${tls ? "wss" : "ws"}://${host}:${clients.addr.port}`;
  if (options.clientUrl === undefined) server.setClientUrl(clientUrl);
  const tracerLoop = server.serveTracers(tracers);
  let closing: Promise<void> | undefined;
  const close = () =>
    closing ??= (async () => {
      await server.close();
      await clients.close();
      await Promise.allSettled([tracerLoop]);
    })();
  options.signal?.addEventListener("abort", close, { once: true });
  return {
    server,
    clientUrl,
    tracerUrl: `${tls ? "tls" : "tcp"}://${host}:${(tracers.addr as Deno.NetAddr).port}`,
    close,
    get finished() {
      return clients.finished;
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
  const named = (error: unknown): never => {
    if (error instanceof Deno.errors.AddrInUse) {
      throw new Error(
        `The ${what} port ${port} on ${hostname} is already in use (another qdb serve?): ` +
          `choose another (--${what}-port; 0 picks a free one)`,
        { cause: error },
      );
    }
    throw error;
  };
  try {
    const result = listen();
    return (result instanceof Promise ? result.catch(named) : result) as T;
  } catch (error) {
    return named(error);
  }
}
