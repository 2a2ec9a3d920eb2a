/**
 * The tracer's link to the server: connect over TCP (with retries), introduce itself with
 * `start`, then exchange messages: tracer events out, client commands in.
 *
 * @example
 * ```ts ignore
 * import { connectTracerLink } from "./link.ts";
 * const link = await connectTracerLink({
 *   server: "tcp://127.0.0.1:8001",
 *   info: { engine: "python", program: "app.py", argv: ["app.py"], pid: 1, host: "h", cwd: "/" },
 * });
 * for await (const command of link.commands) console.log(command.e);
 * ```
 * @module
 */

import {
  type Infer,
  LINK_MESSAGES,
  type Message,
  PROTOCOL_VERSION,
  SERVER_EVENTS,
  type TracerStart,
  tracerStartPayload,
} from "../protocol/mod.ts";
import { AsyncQueue } from "../transport/async_queue.ts";
import { connectTcp } from "../transport/tcp.ts";
import { type MessageTransport, serverList } from "../transport/transport.ts";
import { VERSION } from "../version.ts";

/**
 * Bytes a tracer's link may hold unwritten before the program's output waits for the server
 * (which reads at the pace of the session's clients).
 */
export const LINK_HIGH_WATER = 1024 * 1024;

/** What a tracer tells the server about what it runs. */
export type TracerDescription = Omit<TracerStart, "session" | "auth" | "protocol" | "version">;

/** Options of {@linkcode connectTracerLink}. */
export interface TracerLinkOptions {
  /** The server's tracer address, `tcp://HOST:PORT` (`tls://HOST:PORT` with TLS). */
  server: string;
  /** PEM certificates of the CAs that may sign a `tls://` server's certificate. */
  caCerts?: string[] | undefined;
  /** The session id. Default: a random UUID. */
  session?: string | undefined;
  /** The auth string (the server's token). */
  auth?: string | undefined;
  /** The key `started` gave on an earlier link, to take the session back after losing it. */
  resume?: string | undefined;
  /** For a child's session: the key of its tree, which its root's `started` gave. */
  tree?: string | undefined;
  /** What runs. */
  info: TracerDescription;
  /** Connection attempts after a failure. Default 5. */
  retries?: number;
  /** First delay between attempts, in ms (doubling). Default 200. */
  retryDelay?: number;
  /** Called before each retry. */
  onRetry?: (attempt: number, error: Error) => void;
  /** How long to wait for the server's answer to `start`, in ms. Default 30 000. */
  startTimeout?: number;
  /** Aborting closes the link (or stops connecting). */
  signal?: AbortSignal;
}

/** The server refused the tracer (auth, duplicate session, version). */
export class LinkRefusedError extends Error {
  /** The protocol error type the server sent (`auth`, `session`, `version`...). */
  readonly type: string;
  /** The refusal of `type` (the server's error type), saying why. */
  constructor(type: string, message: string) {
    super(message);
    this.name = "LinkRefusedError";
    this.type = type;
  }
}

/** An established tracer link. */
export interface TracerLink extends AsyncDisposable {
  /** The server it is linked to (one of a list's). */
  readonly server: string;
  /** The session id the server accepted. */
  readonly session: string;
  /** The key to show when connecting again after losing this link (if the server gave one). */
  readonly resume: string | undefined;
  /** The key of the session's tree (`started`'s `tree`), which its children's `start` carries. */
  readonly tree: string | undefined;
  /** Where clients attach, if the server said. */
  readonly clientUrl: string | undefined;
  /** Whether the server sent `disable`: it ended the session on purpose. */
  readonly disabledByServer: boolean;
  /** The mode of that `disable`: `soft` (the program runs on) or `hard` (it is ended). */
  readonly disableMode: string | undefined;
  /** Sends a tracer event; false once the link is closed. */
  send(event: Message): boolean;
  /**
   * Resolves when the link can take more: once less than {@linkcode LINK_HIGH_WATER} bytes
   * wait to be written (or the link has closed).
   */
  writable(): Promise<void>;
  /** Client commands and server messages (`disable`, `error`); ends when the link closes. */
  readonly commands: AsyncIterable<Message>;
  /** Closes the link (queued events are flushed first). Idempotent. */
  close(): void;
  /** Resolves once the link is closed. */
  readonly closed: Promise<void>;
}

/**
 * Connects to the server and completes the `start` handshake.
 *
 * @throws {LinkRefusedError} when the server refuses the tracer.
 * @throws {Error} when the server cannot be reached or does not answer.
 */
export async function connectTracerLink(options: TracerLinkOptions): Promise<TracerLink> {
  // A list of servers (of one cluster): the first that answers.
  const servers = serverList(options.server);
  if (servers.length > 1) {
    let failure: unknown;
    for (const server of servers) {
      try {
        return await connectTracerLink({ ...options, server });
      } catch (error) {
        // A refusal is the cluster's answer; an unreachable server is not.
        if (error instanceof LinkRefusedError || options.signal?.aborted) throw error;
        failure = error;
      }
    }
    throw failure;
  }
  // Many tracers starting at once on one machine meet the server's limit of connections
  // waiting to authenticate per address: a passing crowd, so they wait their turn (with
  // backoff and jitter) rather than fail.
  const retries = options.retries ?? 5;
  let delay = options.retryDelay ?? 200;
  for (let attempt = 1;; attempt++) {
    try {
      return await connectOnce(options);
    } catch (error) {
      const crowded = error instanceof LinkRefusedError && error.type === "limit" &&
        error.message.includes("waiting to authenticate");
      if (!crowded || attempt > retries || options.signal?.aborted) throw error;
      options.onRetry?.(attempt, error);
      await new Promise((resolve) => setTimeout(resolve, delay * (0.5 + Math.random())));
      delay *= 2;
    }
  }
}

async function connectOnce(options: TracerLinkOptions): Promise<TracerLink> {
  const session = options.session ?? crypto.randomUUID();
  const start: TracerStart = {
    ...options.info,
    session,
    protocol: PROTOCOL_VERSION,
    version: VERSION,
    ...(options.auth !== undefined ? { auth: options.auth } : {}),
    ...(options.resume !== undefined ? { resume: options.resume } : {}),
    ...(options.tree !== undefined ? { tree: options.tree } : {}),
  };
  tracerStartPayload.check(start, "start"); // A bad description is our bug: fail loudly here.
  const transport = await connectTcp(options.server, {
    retries: options.retries ?? 5,
    retryDelay: options.retryDelay ?? 200,
    ...(options.caCerts ? { caCerts: options.caCerts } : {}),
    ...(options.onRetry ? { onRetry: options.onRetry } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  });
  const onAbort = () => transport.close();
  options.signal?.addEventListener("abort", onAbort, { once: true });
  transport.closed.then(() => options.signal?.removeEventListener("abort", onAbort));
  transport.send({ e: "start", p: start });
  const incoming = transport.incoming[Symbol.asyncIterator]();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<"timeout">((resolve) =>
    timer = setTimeout(resolve, options.startTimeout ?? 30_000, "timeout")
  );
  try {
    while (true) {
      const next = await Promise.race([incoming.next(), timeout]);
      if (next === "timeout") {
        throw new Error(`The server at ${options.server} did not answer the tracer's start`);
      }
      if (next.done) {
        throw new Error(
          `The server at ${options.server} closed the link during start` +
            (/^tls:/i.test(options.server)
              ? ""
              : " (if it serves TLS, connect to tls://HOST:PORT instead)"),
        );
      }
      if ("error" in next.value) continue;
      const msg = next.value.message;
      if (msg.e === "started") {
        // What the server says of itself, read by its schema (a malformed answer: no keys).
        let p: Infer<typeof LINK_MESSAGES.started.payload> | undefined;
        try {
          p = LINK_MESSAGES.started.payload.check(msg.p, "started");
        } catch {
          p = undefined;
        }
        return new Link(
          options.server,
          transport,
          incoming,
          session,
          p?.resume,
          p?.clients,
          p?.tree,
        );
      }
      if (msg.e === "error") {
        const p = errorPayloadOf(msg.p);
        throw new LinkRefusedError(p.type, typeof p.data === "string" ? p.data : "refused");
      }
    }
  } catch (error) {
    transport.close();
    throw error;
  } finally {
    clearTimeout(timer);
  }
}

class Link implements TracerLink {
  readonly #transport: MessageTransport;
  readonly #commands = new AsyncQueue<Message>();
  readonly server: string;
  readonly session: string;
  readonly resume: string | undefined;
  readonly clientUrl: string | undefined;
  readonly tree: string | undefined;
  disabledByServer = false;
  disableMode: string | undefined;

  constructor(
    server: string,
    transport: MessageTransport,
    incoming: AsyncIterator<unknown>,
    session: string,
    resume: string | undefined,
    clientUrl: string | undefined,
    tree: string | undefined,
  ) {
    this.#transport = transport;
    this.server = server;
    this.session = session;
    this.resume = resume;
    this.clientUrl = clientUrl;
    this.tree = tree;
    (async () => {
      while (true) {
        const next = await incoming.next();
        if (next.done) break;
        const item = next.value as { message?: Message };
        // The server's own `disable` carries no id (a client's, routed, carries one).
        if (item.message?.e === "disable" && item.message.id === undefined) {
          this.disabledByServer = true;
          this.disableMode = item.message.p === "hard" ? "hard" : "soft";
        }
        if (item.message) this.#commands.push(item.message);
      }
      this.#commands.end();
    })();
  }

  get commands(): AsyncIterable<Message> {
    return this.#commands;
  }

  get closed(): Promise<void> {
    return this.#transport.closed;
  }

  send(event: Message): boolean {
    return this.#transport.send(event);
  }

  writable(): Promise<void> {
    return this.#transport.drained?.(LINK_HIGH_WATER) ?? Promise.resolve();
  }

  close(): void {
    this.#transport.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
    await this.closed;
  }
}

/**
 * An `error` the server sent on the link, read by its schema; one that does not check is still
 * an error, of type `error`.
 */
export function errorPayloadOf(p: unknown): { type: string; data: unknown } {
  try {
    return SERVER_EVENTS.error.payload.check(p, "error");
  } catch {
    return { type: "error", data: "refused" };
  }
}
