/**
 * A session connection that survives losing the server: when the WebSocket closes without the
 * session having ended (`disable`), it attaches again with growing delays, for a while, and
 * says so in its event stream with `link` events (these come from this module, never from the
 * server). The terminal client uses it, so `qdb attach` picks a session up again after a
 * network blip or a server restart.
 *
 * @example
 * ```ts ignore
 * import { ReconnectingSession } from "./reconnect.ts";
 * const session = await ReconnectingSession.connect("ws://127.0.0.1:8002", { session: "demo" });
 * for await (const event of session.events) {
 *   if (event.e === "link") console.log("link", event.p); // { state: "lost", ... } / { state: "back" }
 * }
 * ```
 * @module
 */

import { AsyncQueue } from "../transport/async_queue.ts";
import type { LinkState, SessionEvent } from "./events.ts";
import type {
  ClientEvent,
  CommandPayloads,
  RequestCommand,
  RequestResults,
} from "../protocol/mod.ts";
import {
  type Attached,
  AttachError,
  type ClientOptions,
  CommandError,
  QdbClient,
} from "./client.ts";
import { serverList } from "../transport/transport.ts";

/** Options of {@linkcode ReconnectingSession.connect}. */
export interface ReconnectOptions extends ClientOptions {
  /** How long to keep trying after losing the server, in ms; 0 never tries. Default 60 000. */
  retryFor?: number;
}

export type { LinkEvent, LinkState, SessionEvent } from "./events.ts";

/** A session connection that attaches again after losing the server. */
export class ReconnectingSession implements AsyncDisposable {
  readonly #server: string;
  readonly #options: ReconnectOptions;
  readonly #events = new AsyncQueue<SessionEvent>();
  readonly #stop = new AbortController();
  readonly #answers = new WeakSet<object>();
  #client: QdbClient;
  /** The index, in the list of servers, of the one attached to. */
  #at = 0;
  #away = false;
  #closeInfo: { code: number; reason: string } | undefined;
  #resolveClosed!: () => void;
  /** Resolves once the connection is closed for good. */
  readonly closed: Promise<void> = new Promise((resolve) => this.#resolveClosed = resolve);

  private constructor(server: string, options: ReconnectOptions, client: QdbClient) {
    this.#server = server;
    this.#options = options;
    this.#client = client;
    this.#pump();
  }

  /**
   * Attaches (once: a first failure is thrown, as by {@linkcode QdbClient.connect}).
   *
   * @throws {AttachError} when the server refuses.
   */
  static async connect(server: string, options: ReconnectOptions): Promise<ReconnectingSession> {
    const servers = serverList(server);
    let failure: unknown;
    for (const [i, one] of servers.entries()) {
      try {
        const session = new ReconnectingSession(
          server,
          options,
          await QdbClient.connect(one, options),
        );
        session.#at = i;
        return session;
      } catch (error) {
        // A refusal is the cluster's answer; an unreachable server is not.
        if (error instanceof AttachError) throw error;
        failure = error;
      }
    }
    throw failure;
  }

  /** The latest `attached` reply. */
  get attached(): Attached {
    return this.#client.attached;
  }

  /** Why the connection closed for good, if the server said. */
  get closeInfo(): { code: number; reason: string } | undefined {
    return this.#closeInfo ?? this.#client.closeInfo;
  }

  /** Every server event, plus `link` events; ends when the session is over for this client. */
  get events(): AsyncIterable<SessionEvent> {
    return this.#events;
  }

  /**
   * Sends a command; returns its id. While the server is away the command is not sent, and an
   * `error` with its id says so.
   */
  send(e: string, p?: unknown): number {
    if (!this.#away) return this.#client.send(e, p);
    const id = this.#client.reserveId();
    this.#events.push({
      e: "error",
      id,
      p: {
        type: "tracer",
        data: `Not connected to the server (reconnecting): "${e}" was not sent`,
      },
    });
    return id;
  }

  /**
   * Protocol 2: a request and its checked result (see {@linkcode QdbClient.request}). While the
   * server is away it is refused at once, saying so.
   *
   * @throws {CommandError} when the reply is an `error`, or the server is away.
   */
  request<K extends RequestCommand>(
    command: K,
    ...params: CommandPayloads[K] extends undefined ? [] : [CommandPayloads[K]]
  ): Promise<RequestResults[K]> {
    if (this.#away) return Promise.reject(this.#awayError(command));
    return this.#client.request(command, ...params);
  }

  /**
   * A command and its first reply named in `replies` (see {@linkcode QdbClient.requestEvent}).
   *
   * @throws {CommandError} when it causes an `error`, or the server is away.
   */
  requestEvent<R extends ClientEvent["e"]>(
    e: string,
    p: unknown,
    replies: R | R[],
  ): Promise<Extract<ClientEvent, { e: R }>> {
    if (this.#away) return Promise.reject(this.#awayError(e));
    return this.#client.requestEvent(e, p, replies);
  }

  #awayError(command: string): CommandError {
    return new CommandError(command, {
      type: "tracer",
      data: `Not connected to the server (reconnecting): "${command}" was not sent`,
    });
  }

  /** Whether `event` answered a request of this session's that was awaited (see QdbClient). */
  isAnswer(event: object): boolean {
    return this.#answers.has(event);
  }

  /** Closes the connection and stops reconnecting. Idempotent. */
  close(): void {
    this.#stop.abort();
    this.#client.close();
  }

  /** Closes the connection and waits until it is closed. */
  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
    await this.closed;
  }

  async #pump(): Promise<void> {
    const retryFor = this.#options.retryFor ?? 60_000;
    while (true) {
      let ended = false;
      for await (const msg of this.#client.events) {
        if (msg.e === "disable") ended = true;
        if (this.#client.isAnswer(msg)) this.#answers.add(msg);
        this.#events.push(msg);
      }
      if (ended || this.#stop.signal.aborted || retryFor <= 0) break;
      const reason = this.#client.closeInfo?.reason || "the connection closed";
      this.#away = true;
      this.#link({ state: "lost", reason, retryFor });
      const next = await this.#reattach(retryFor);
      if (!next) break;
      this.#client = next;
      this.#away = false;
      const servers = serverList(this.#server);
      this.#link({
        state: "back",
        session: this.#options.session,
        ...(servers.length > 1 ? { server: servers[this.#at]! } : {}),
      });
      this.#events.push({ e: "attached", p: next.attached });
    }
    this.#events.end();
    this.#resolveClosed();
  }

  #link(p: LinkState): void {
    this.#events.push({ e: "link", p });
  }

  /** Attaches again with growing delays; undefined when it gives up (and says why). */
  async #reattach(retryFor: number): Promise<QdbClient | undefined> {
    const deadline = Date.now() + retryFor;
    let delay = 250;
    // Round the servers of a list, from the one after the server lost (any server of a cluster
    // serves every session).
    const servers = serverList(this.#server);
    while (!this.#stop.signal.aborted) {
      for (let i = 1; i <= servers.length && !this.#stop.signal.aborted; i++) {
        const at = (this.#at + i) % servers.length;
        try {
          const client = await QdbClient.connect(servers[at]!, {
            ...this.#options,
            firstId: this.#client.nextId,
            signal: this.#stop.signal,
            history: false, // what was printed before is the client's already
          });
          this.#at = at;
          return client;
        } catch (error) {
          if (error instanceof AttachError) {
            this.#closeInfo = { code: 1000, reason: error.message };
            this.#link({ state: "gone", reason: error.message });
            return undefined;
          }
        }
      }
      const left = deadline - Date.now();
      if (left <= 0) break;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, Math.min(delay, left));
        const signal = this.#stop.signal;
        function done() {
          clearTimeout(timer);
          signal.removeEventListener("abort", done);
          resolve();
        }
        signal.addEventListener("abort", done, { once: true });
      });
      delay = Math.min(delay * 2, 5000);
    }
    if (!this.#stop.signal.aborted) {
      const reason = `the server did not come back in ${retryFor / 1000} s`;
      this.#closeInfo = { code: 1006, reason };
      this.#link({ state: "gone", reason });
    }
    return undefined;
  }
}
