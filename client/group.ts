/**
 * A client attached to a group: every session whose tracer named the group, through one
 * WebSocket (`ws://HOST:PORT/?group=NAME`). Commands go to every member and are answered once
 * (`applied`); events say which member they come from.
 *
 * @example
 * ```ts ignore
 * import { GroupClient } from "./group.ts";
 * const group = await GroupClient.connect("ws://127.0.0.1:8002", { group: "jobs" });
 * const applied = await group.request("set_break", { file: "job.py", line: 12, snapshot: true });
 * ```
 * @module
 */

import {
  type Applied,
  checkGroupEvent,
  type GroupLinkEvent,
  type GroupRule,
  type Member,
  type Message,
  ProtocolError,
  type Snapshot,
  type SnapshotSummary,
} from "../protocol/mod.ts";
import { AsyncQueue } from "../transport/async_queue.ts";
import { type ClientTransport, handshake } from "./client.ts";
import { ReplyTracker } from "./replies.ts";

/** Options of {@linkcode GroupClient.connect}. */
export interface GroupClientOptions {
  /** The group. */
  group: string;
  /** The server's token. */
  auth?: string | undefined;
  /** The name other clients of each member see (with "(group NAME)" after it). */
  name?: string | undefined;
  /** PEM certificates of the CAs that may sign a `wss://` server's certificate. */
  caCerts?: string[] | undefined;
  /** Aborting stops connecting. */
  signal?: AbortSignal | undefined;
}

/** The group as the server described it on attaching. */
export interface GroupState {
  /** The group. */
  group: string;
  /** This client's id. */
  you: string;
  /** Its members then. */
  members: Member[];
  /** Its rules then. */
  rules: GroupRule[];
}

/** `ws://host:port` plus a group: the WebSocket URL of a group link. */
export function groupUrl(server: string, group: string): string {
  const url = new URL(server.includes("://") ? server : `ws://${server}`);
  url.protocol = url.protocol.replace(/^http/, "ws");
  if (!url.pathname.endsWith("/")) url.pathname += "/";
  url.search = `?group=${encodeURIComponent(group)}`;
  return url.href;
}

/** A client attached to a group. */
export class GroupClient {
  readonly #transport: ClientTransport;
  readonly #events = new AsyncQueue<GroupLinkEvent>();
  readonly #replies = new ReplyTracker<GroupLinkEvent>();
  #nextId = 1;
  /** The group as it was when attaching. */
  readonly state: GroupState;

  private constructor(transport: ClientTransport, state: GroupState) {
    this.#transport = transport;
    this.state = state;
  }

  /**
   * Opens the group link, sends `start` and waits for the `group` reply.
   *
   * @throws {AttachError} when the server refuses.
   */
  static async connect(server: string, options: GroupClientOptions): Promise<GroupClient> {
    const { transport, incoming, reply } = await handshake(
      server,
      groupUrl(server, options.group),
      options,
      "group",
      "The server closed the group link",
      checkGroupEvent,
    );
    const client = new GroupClient(transport, reply.p);
    client.#pump(incoming);
    return client;
  }

  async #pump(incoming: AsyncIterator<{ message: Message } | { error: unknown }>): Promise<void> {
    while (true) {
      const next = await incoming.next();
      if (next.done) break;
      if (!("message" in next.value)) continue;
      let msg: GroupLinkEvent | undefined;
      try {
        msg = checkGroupEvent(next.value.message);
      } catch (error) {
        const text = error instanceof ProtocolError ? error.message : String(error);
        msg = {
          e: "error",
          p: { type: "message", data: `The server sent a malformed event: ${text}` },
        };
      }
      if (msg === undefined) continue;
      // Answers go to their promise only.
      if (!this.#replies.take(msg)) this.#events.push(msg);
    }
    this.#replies.close(new Error("The connection to the server closed"));
    this.#events.end();
  }

  /** Events not answering a request, checked and in order; ends when the link closes. */
  get events(): AsyncIterable<GroupLinkEvent> {
    return this.#events;
  }

  /** Resolves once the link is closed. */
  get closed(): Promise<void> {
    return this.#transport.closed;
  }

  /**
   * Sends a command to the group and resolves with its answer: `applied` for one sent to every
   * member, `snapshots` and `snapshot` for those, `group` for `start`.
   *
   * @throws {CommandError} when the server refused it.
   */
  request(e: string, p?: unknown): Promise<GroupLinkEvent> {
    const id = this.#nextId++;
    const replies = new Set(
      e === "snapshots" || e === "snapshot" ? [e] : e === "start" ? ["group"] : ["applied"],
    );
    const answer = this.#replies.wait(id, e, replies);
    const msg: Message = { e, id };
    if (p !== undefined) msg.p = p;
    if (!this.#transport.send(msg)) {
      this.#replies.fail(id, new Error("The connection to the server is closed"));
    }
    return answer;
  }

  /**
   * Sends a command to every member (`set_break`, `clear`, `disable`...) and resolves with what
   * it did to each (`applied`).
   *
   * @throws {CommandError} when the server refused it.
   */
  async apply(e: string, p?: unknown): Promise<Applied> {
    const reply = await this.request(e, p);
    if (reply.e !== "applied") throw unexpected(e, reply);
    return reply.p;
  }

  /** The snapshots the members keep, oldest first, without their values. */
  async snapshots(): Promise<SnapshotSummary[]> {
    const reply = await this.request("snapshots");
    if (reply.e !== "snapshots") throw unexpected("snapshots", reply);
    return reply.p;
  }

  /** One snapshot, with its values: `{session, id}` as `snapshots` lists it. */
  async snapshot(which: { session: string; id: number }): Promise<Snapshot> {
    const reply = await this.request("snapshot", which);
    if (reply.e !== "snapshot") throw unexpected("snapshot", reply);
    return reply.p;
  }

  /** Sends a command as is (its replies come among `events`); returns the id it carries. */
  send(e: string, p?: unknown): number {
    const id = this.#nextId++;
    const msg: Message = { e, id };
    if (p !== undefined) msg.p = p;
    this.#transport.send(msg);
    return id;
  }

  /** The group as it was when attaching (for a JSON pipe's first line). */
  get attached(): GroupState {
    return this.state;
  }

  /** Closes the link. Idempotent. */
  close(): void {
    this.#transport.close();
  }
}

function unexpected(command: string, reply: GroupLinkEvent): Error {
  return new Error(`${command}: the server answered with "${reply.e}"`);
}
