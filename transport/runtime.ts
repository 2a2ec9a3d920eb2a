/**
 * What qdb's clients need of Deno beyond Web APIs, found at run time: the client modules run in
 * Deno and in a browser (the web client), and only custom CA certificates (`--ca`) need Deno's
 * HTTP client. A browser trusts its own roots.
 *
 * @module
 */

/** Deno's HTTP client, as the client modules use it. */
export interface HttpClientLike {
  /** Frees it. */
  close(): void;
}

type DenoLike = { createHttpClient?: (options: { caCerts: string[] }) => HttpClientLike };

/**
 * An HTTP client that trusts `caCerts` (undefined when none are given).
 *
 * @throws {Error} when CAs are given outside Deno.
 */
export function httpClientFor(caCerts: string[] | undefined): HttpClientLike | undefined {
  if (!caCerts) return undefined;
  const deno = (globalThis as unknown as { Deno?: DenoLike }).Deno;
  if (typeof deno?.createHttpClient !== "function") {
    throw new Error("Custom CA certificates need Deno: this runtime trusts its own roots");
  }
  return deno.createHttpClient({ caCerts });
}

/** A WebSocket at `url`, through `client` when given (Deno's extension of the constructor). */
export function openWebSocket(url: string | URL, client: HttpClientLike | undefined): WebSocket {
  if (!client) return new WebSocket(url);
  const DenoWebSocket = WebSocket as unknown as new (
    url: string | URL,
    options: { client: HttpClientLike },
  ) => WebSocket;
  return new DenoWebSocket(url, { client });
}
