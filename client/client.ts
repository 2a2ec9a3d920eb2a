/**
 * A qdb client: attach to a session over WebSocket, send commands, receive events. The
 * terminal client is built on it; any program may use it to drive a debug session.
 *
 * @example
 * ```ts ignore
 * import { QdbClient } from "./client.ts";
 * await using client = await QdbClient.connect("ws://127.0.0.1:8002", { session: "demo" });
 * const reply = await client.requestEvent("eval", "2 + 2", "print");
 * console.log(reply.p); // { input: "2 + 2", exc: false, output: "4" }
 * ```
 * @module
 */

import type {
  ClientEvent,
  CommandName,
  CommandPayloads,
  EventPayloads,
  GroupLinkEvent,
  Message,
  RequestCommand,
  RequestResults,
  SessionList,
} from "../protocol/mod.ts";
import {
  checkClientEvent,
  PROTOCOL_VERSION,
  ProtocolError,
  RESULTS,
  sessionListSchema,
} from "../protocol/mod.ts";
import { AsyncQueue } from "../transport/async_queue.ts";
import { explainTlsFailure } from "../transport/tls.ts";
import { httpClientFor } from "../transport/runtime.ts";
import { serverList } from "../transport/transport.ts";
import type { MessageTransport } from "../transport/transport.ts";
import { connectWebSocket } from "../transport/websocket.ts";
import { AttachError } from "./errors.ts";
import { ReplyTracker } from "./replies.ts";

/** A client's link to the server: any message transport, with the close code when it has one. */
export type ClientTransport = MessageTransport & {
  /** Close code and reason, once closed (a WebSocket's). */
  readonly closeInfo?: { code: number; reason: string } | undefined;
};

/**
 * Opens a client's link to `url`. The default is a WebSocket (Deno's or the browser's); a test
 * or an embedding application may give its own (an in-memory pair, a relay).
 */
export type ClientConnect = (
  url: string,
  options: { signal?: AbortSignal | undefined; caCerts?: string[] | undefined },
) => Promise<ClientTransport>;

/** Payload of `attached`. */
export type Attached = EventPayloads["attached"];

/** Options of {@linkcode QdbClient.connect}. */
export interface ClientOptions {
  /** The session to attach to. */
  session: string;
  /** The server's token. */
  auth?: string | undefined;
  /** A display name other clients see. */
  name?: string | undefined;
  /** Aborting closes the client. */
  signal?: AbortSignal;
  /** PEM certificates of the CAs that may sign a `wss://` server's certificate. */
  caCerts?: string[] | undefined;
  /** The id of the first command sent (ids then count up). Default 1. */
  firstId?: number;
  /** How to open the link (default: a WebSocket, Deno's or the browser's). */
  connect?: ClientConnect | undefined;
  /**
   * Ask for the program's recent output (`start`'s `history`), as a page opened late shows it.
   * A reconnection never asks again.
   */
  history?: boolean | undefined;
}

export { AttachError, CommandError } from "./errors.ts";

/** `ws://host:port` (or `http://...`) plus a session id: the WebSocket URL to attach. */
export function sessionUrl(server: string, session: string): string {
  const url = clientAddress(server);
  url.protocol = url.protocol.replace(/^http/, "ws");
  const base = url.pathname.endsWith("/") ? url.pathname : `${url.pathname}/`;
  url.pathname = `${base}${encodeURIComponent(session)}`;
  return url.href;
}

/** How a link's handshake starts: the client's auth and name, and how it connects. */
export interface HandshakeOptions {
  /** The auth string (the server's token). */
  auth?: string | undefined;
  /** The name others see. */
  name?: string | undefined;
  /** PEM certificates of the CAs that may sign a `wss://` server's certificate. */
  caCerts?: string[] | undefined;
  /** Aborting stops connecting. */
  signal?: AbortSignal | undefined;
  /** Ask for the program's recent output (`start`'s `history`). */
  history?: boolean | undefined;
  /** How to open the link (default: a WebSocket). */
  connect?: ClientConnect | undefined;
}

/**
 * Opens a client link at `url` (of `server`), sends `start`, and waits for the reply named
 * `reply` (`attached` for a session, `group` for a group); the link, what it brings next, and
 * the reply. Events are checked by `check` (one that is not valid is skipped).
 *
 * @throws {AttachError} when the server refuses (its `error`, then `disable`).
 * @throws {Error} when the server cannot be reached or closes the link first.
 */
export async function handshake<T extends ClientEvent | GroupLinkEvent, R extends T["e"]>(
  server: string,
  url: string,
  options: HandshakeOptions,
  reply: R,
  ended: string,
  check: (msg: Message) => T | undefined,
): Promise<{
  transport: ClientTransport;
  incoming: AsyncIterator<{ message: Message } | { error: unknown }>;
  reply: Extract<T, { e: R }>;
}> {
  const connect: ClientConnect = options.connect ?? ((url, how) =>
    connectWebSocket(url, {
      ...(how.signal ? { signal: how.signal } : {}),
      ...(how.caCerts ? { caCerts: how.caCerts } : {}),
    }));
  const transport = await connect(url, { signal: options.signal, caCerts: options.caCerts });
  const start: Record<string, unknown> = { protocol: PROTOCOL_VERSION };
  if (options.auth !== undefined) start.auth = options.auth;
  if (options.name !== undefined) start.name = options.name;
  if (options.history) start.history = true;
  transport.send({ e: "start", p: start, id: 0 });
  const incoming = transport.incoming[Symbol.asyncIterator]();
  let refusal: AttachError | undefined;
  while (true) {
    const next = await incoming.next();
    if (next.done) {
      throw refusal ?? new Error(`The server closed the connection to ${server}`);
    }
    if ("error" in next.value) continue;
    let msg: T | undefined;
    try {
      msg = check(next.value.message);
    } catch {
      continue; // A malformed event before the reply: nothing to act on.
    }
    const known: ClientEvent | GroupLinkEvent | undefined = msg;
    if (known?.e === "error") {
      const p = known.p;
      refusal = new AttachError(
        p.type,
        p.type === "auth"
          ? `The server at ${server} refused: ${String(p.data)} (give the right --token)`
          : String(p.data),
      );
    } else if (known?.e === "disable") {
      transport.close();
      throw refusal ?? new AttachError("disable", ended);
    } else if (msg !== undefined && isEvent(msg, reply)) {
      return { transport, incoming, reply: msg };
    }
  }
}

/** Whether a checked event is one of the replies named (narrowing the union to them). */
function isReply<R extends ClientEvent["e"]>(
  msg: ClientEvent,
  names: ReadonlySet<R>,
): msg is Extract<ClientEvent, { e: R }> {
  return (names as ReadonlySet<string>).has(msg.e);
}

/** Whether `msg` is the event named `e` (narrowing a checked union to it). */
function isEvent<T extends Message, R extends T["e"]>(msg: T, e: R): msg is Extract<T, { e: R }> {
  return msg.e === e;
}

/** A client attached to one session. */
export class QdbClient implements AsyncDisposable {
  readonly #transport: ClientTransport;

  readonly #events = new AsyncQueue<ClientEvent>();
  readonly #replies = new ReplyTracker<ClientEvent>();
  #nextId = 1;
  /** The `attached` reply: session, tracer, clients, this client's id. */
  attached: Attached;

  private constructor(transport: ClientTransport, attached: Attached) {
    this.#transport = transport;
    this.attached = attached;
  }

  /**
   * Opens a WebSocket to `server` (`ws://HOST:PORT`), sends `start` and waits for `attached`.
   *
   * @throws {AttachError} when the server refuses.
   * @throws {Error} when the server cannot be reached.
   */
  static async connect(server: string, options: ClientOptions): Promise<QdbClient> {
    const { transport, incoming, reply } = await handshake(
      server,
      sessionUrl(server, options.session),
      options,
      "attached",
      "The server ended the session",
      checkClientEvent,
    );
    const client = new QdbClient(transport, reply.p);
    if (options.firstId !== undefined) client.#nextId = options.firstId;
    client.#pump(incoming);
    return client;
  }

  async #pump(incoming: AsyncIterator<{ message: Message } | { error: unknown }>): Promise<void> {
    while (true) {
      const next = await incoming.next();
      if (next.done) break;
      if (!("message" in next.value)) continue;
      const msg = this.#check(next.value.message);
      if (msg === undefined) continue;
      if (msg.e === "attached" && msg.p) this.attached = msg.p;
      // Answers go to their promise, and among the events too (others act on them as news).
      this.#replies.take(msg);
      this.#events.push(msg);
    }
    this.#replies.close(new Error("The connection to the server closed"));
    this.#events.end();
  }

  /**
   * An event as the protocol describes it, or undefined for one this version does not know (a
   * newer server's). One of the wrong shape becomes an `error` saying so, with its id: a client
   * never acts on a payload it has not checked.
   */
  #check(msg: Message): ClientEvent | undefined {
    try {
      return checkClientEvent(msg);
    } catch (error) {
      const text = error instanceof ProtocolError ? error.message : String(error);
      const refused: ClientEvent = {
        e: "error",
        p: { type: "message", data: `The server sent a malformed "${msg.e}": ${text}` },
      };
      if (msg.id !== undefined) refused.id = msg.id;
      return refused;
    }
  }

  /**
   * Whether `event` (one of {@linkcode events}) was the reply a `request` or `requestEvent` of
   * this client waited for: its promise has it already, so a view need not show it again.
   */
  isAnswer(event: object): boolean {
    return this.#replies.isAnswer(event);
  }

  /** Every event received after `attached`, checked and in order; ends when the connection closes. */
  get events(): AsyncIterable<ClientEvent> {
    return this.#events;
  }

  /** True once the connection is closed. */
  get isClosed(): boolean {
    return this.#transport.isClosed;
  }

  /** Resolves once the connection is closed. */
  get closed(): Promise<void> {
    return this.#transport.closed;
  }

  /** Why the server closed the connection, if it said. */
  get closeInfo(): { code: number; reason: string } | undefined {
    return this.#transport.closeInfo;
  }

  /** The id the next command will carry. */
  get nextId(): number {
    return this.#nextId;
  }

  /** Takes the next id without sending anything (for a command that could not be sent). */
  reserveId(): number {
    return this.#nextId++;
  }

  /** Sends a command; returns the id it carries (replies echo it). */
  send<K extends CommandName>(
    e: K,
    ...p: CommandPayloads[K] extends undefined ? [] : [CommandPayloads[K]]
  ): number;
  /** Sends any command by name (unchecked payload); returns the id it carries. */
  send(e: string, p?: unknown): number;
  send(e: string, p?: unknown): number {
    const id = this.#nextId++;
    const msg: Message = { e, id };
    if (p !== undefined) msg.p = p;
    this.#transport.send(msg);
    return id;
  }

  /**
   * Protocol 2: sends a command and resolves with its result, from the one `ok` reply that
   * carries its id (checked against the protocol's schema).
   *
   * @example
   * ```ts ignore
   * const { threads } = await client.request("threads");
   * const { frames } = await client.request("stack_trace", { thread: threads[0]!.id });
   * ```
   * @throws {CommandError} when the reply is an `error`.
   */
  async request<K extends RequestCommand>(
    command: K,
    ...params: CommandPayloads[K] extends undefined ? [] : [CommandPayloads[K]]
  ): Promise<RequestResults[K]> {
    const reply = await this.requestEvent(command, params[0], "ok");
    return RESULTS[command].check(reply.p, "result") as RequestResults[K];
  }

  /**
   * Sends a command and resolves with its first reply named in `replies` (for protocol 1's
   * commands, which are answered by events).
   *
   * @throws {CommandError} when it causes an `error` first.
   */
  requestEvent<R extends ClientEvent["e"]>(
    e: string,
    p: unknown,
    replies: R | R[],
  ): Promise<Extract<ClientEvent, { e: R }>> {
    const names: ReadonlySet<R> = new Set(typeof replies === "string" ? [replies] : replies);
    const id = this.send(e, p);
    return this.#replies.wait(id, e, names).then((msg) => {
      // The tracker resolves only with a checked event named in `replies`.
      if (!isReply(msg, names)) throw new Error(`${e}: answered with "${msg.e}"`);
      return msg;
    });
  }

  /** Closes the connection. Idempotent. */
  close(): void {
    this.#transport.close();
  }

  /** Closes the connection and waits until it is closed. */
  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
    await this.closed;
  }
}

/** Options of {@linkcode listSessions}. */
export interface ListSessionsOptions {
  /** The server's token. */
  token?: string | undefined;
  /** Aborting cancels the request. */
  signal?: AbortSignal;
  /** PEM certificates of the CAs that may sign a `wss://` server's certificate. */
  caCerts?: string[] | undefined;
  /** Only the members of this group. */
  group?: string | undefined;
}

/**
 * Lists the live sessions of the server at `server` (`ws://HOST:PORT` or `http://...`).
 *
 * @throws {Error} naming the server when it cannot be reached or refuses.
 */
export async function listSessions(
  server: string,
  options: ListSessionsOptions = {},
): Promise<SessionList> {
  const servers = serverList(server);
  if (servers.length > 1) {
    // Servers of one cluster list the same sessions: the first that answers.
    let failure: unknown;
    for (const one of servers) {
      try {
        return await listSessions(one, options);
      } catch (error) {
        failure = error;
      }
    }
    throw failure;
  }
  const url = clientAddress(server);
  url.protocol = url.protocol.replace(/^ws/, "http");
  url.pathname = `${url.pathname.replace(/\/$/, "")}/sessions`;
  if (options.group !== undefined) url.search = `?group=${encodeURIComponent(options.group)}`;
  const headers: Record<string, string> = {};
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  const client = httpClientFor(options.caCerts);
  try {
    let response: Response;
    try {
      response = await fetch(url, {
        headers,
        ...(options.signal ? { signal: options.signal } : {}),
        ...(client ? { client } : {}),
      });
    } catch (error) {
      const message = failureText(error);
      throw new Error(
        `Cannot reach the qdb server at ${server}: ${explainTlsFailure(message) ?? message}`,
        { cause: error },
      );
    }
    return await readSessionList(server, url, response);
  } finally {
    client?.close();
  }
}

async function readSessionList(server: string, url: URL, response: Response): Promise<SessionList> {
  if (response.status === 401) {
    await response.body?.cancel();
    throw new AttachError(
      "auth",
      `The server at ${server} refused: Authentication failed (give the right --token)`,
    );
  }
  if (!response.ok) {
    await response.body?.cancel();
    throw new Error(`The server at ${server} answered ${response.status} for ${url.pathname}`);
  }
  return sessionListSchema.check(await response.json(), "sessions");
}

/** A failed fetch's message with its causes: the TLS reason sits in the cause. */
function failureText(error: unknown): string {
  const parts: string[] = [];
  for (let e = error; e instanceof Error && parts.length < 4; e = e.cause) parts.push(e.message);
  return parts.join(": ") || String(error);
}

/**
 * The server's client address as a URL (`ws://`, `wss://`, `http://`, `https://`, or a bare
 * `host:port`).
 *
 * @throws {TypeError} for a tracer address (`tcp://`, `tls://`) or another scheme, saying
 * which address a client needs.
 */
export function clientAddress(server: string): URL {
  const url = new URL(server.includes("://") ? server : `ws://${server}`);
  if (url.protocol === "tcp:" || url.protocol === "tls:") {
    throw new TypeError(
      `${server} is a tracer address; clients connect to the server's client port: ` +
        `${url.protocol === "tls:" ? "wss" : "ws"}://${url.hostname || "HOST"}:8002 by default`,
    );
  }
  if (!/^(wss?|https?):$/.test(url.protocol)) {
    throw new TypeError(`Cannot use ${server} as a server address: it must be ws://HOST:PORT`);
  }
  return url;
}
