/**
 * One debug session on the server: its tracer, its clients, and the mapping from the ids the
 * server gives routed commands back to the client (and the client's own id) that sent them.
 *
 * @module
 */

import type {
  ChildInfo,
  ClientInfo,
  Message,
  MessageId,
  SessionInfo,
  TracerInfo,
} from "../protocol/mod.ts";
import {
  errorEvent,
  isRequestCommand,
  ProtocolError,
  RESULTS,
  SchemaError,
} from "../protocol/mod.ts";
import type { MessageTransport } from "../transport/transport.ts";
import type { Access } from "./auth.ts";
import type { Relay } from "./bus.ts";
import { MAX_SCROLLBACK_BYTES, type ReplayBudget, ReplayBuffer } from "./replay.ts";
import { type SnapshotBudget, SnapshotStore } from "./snapshots.ts";

export { MAX_EARLY_BYTES, type ReplayBudget } from "./replay.ts";

/** A connected client. */
export interface ClientPeer {
  /** Server-assigned id, unique among the servers of a registry (`c1`, `c2`...). */
  readonly id: string;
  /** Display name the client chose, or its id. */
  readonly name: string;
  /** Its link. */
  readonly transport: MessageTransport;
  /**
   * Set when the session moved to the server its tracer came to: what the client sends goes
   * there now.
   */
  relay?: Pick<Relay, "send" | "leave"> | undefined;
  /** When it waits for a tracer: the attach timeout. */
  waitTimer?: ReturnType<typeof setTimeout> | undefined;
  /** The id of its `start`, echoed on the state the tracer sends in reply. */
  readonly startId?: MessageId | undefined;
  /** What it may do: `read-only` clients see events, and their commands are refused. */
  readonly access: Access;
  /** The protocol version agreed at `start`: the client's, at most the server's. */
  readonly protocol: number;
  /** It asked for the program's last output when it attached beside others. */
  readonly history?: boolean | undefined;
  /**
   * What it had unread, had been written to it, and the kernel held for it (where known) when
   * it last made progress, and since when: a stall is no progress.
   */
  progress?:
    | { queued: number; written: number | undefined; kernel: number | undefined; since: number }
    | undefined;
}

/** The connected tracer. */
export interface TracerPeer {
  /** Its link. */
  readonly transport: MessageTransport;
  /** What it told about itself. */
  readonly info: TracerInfo;
}

/**
 * The session's named timers: waiting for its tracer to come back (`orphan`), for a first client
 * (`attach`), for a tracer that said `disabled` to close (`disabled`), and the inactivity watch.
 */
export type SessionTimer = "orphan" | "attach" | "disabled" | "inactivity";

/** Most routes remembered per session; the oldest are forgotten past it. */
const MAX_ROUTES = 4096;

/** Where a tracer event caused by a routed command goes back to. */
interface Route {
  client: string;
  id: MessageId | undefined;
  /** The command routed: its reply is checked against the command's result schema. */
  command?: string | undefined;
}

/** Options of {@linkcode Session}. */
export interface SessionOptions {
  /** Most bytes a client may leave unread before `onSlowClient` is called. Default: no limit. */
  maxQueuedBytes?: number;
  /** Called (once per send that finds it so) for a client past `maxQueuedBytes`. */
  onSlowClient?: (client: ClientPeer) => void;
  /**
   * What all sessions' replay buffers hold together, and the most they may: a session past it
   * drops its oldest kept output. Default: this session's own bound only.
   */
  replayBudget?: ReplayBudget;
  /**
   * Set while all clients of the server together have more unread than they may: the session
   * then waits while any of its full-access clients has {@linkcode PRESSURE_PACE_BYTES} unread.
   * Default: never.
   */
  pressure?: QueuePressure;
  /** What all sessions' snapshots hold together, and the most they may. */
  snapshotBudget?: SnapshotBudget;
}

/** Whether the clients of a server together hold more unread than they may (shared by sessions). */
export interface QueuePressure {
  /** True while over the bound. */
  over: boolean;
}

/**
 * The pace of a session: while even its least-behind client has this many bytes unread, the
 * server reads nothing more from the tracer (which then stops reading the program's output,
 * which then waits, as a program writing to a slow terminal does). A client further behind
 * than the others is dropped at `maxQueuedBytes` instead, so it never slows them.
 */
export const PACE_BYTES = 256 * 1024;
/**
 * The pace of a session while all clients together are over the server's bound
 * (`maxQueuedTotal`): it waits while any full-access client has this many bytes unread, so what
 * is queued only shrinks, and no client that reads is dropped to bring it down.
 */
export const PRESSURE_PACE_BYTES = 16 * 1024;
/** How often a paced session looks at clients whose transports have no drain event, in ms. */
const PACE_POLL_MS = 5;
/** How often a paced session looks again when its clients' transports say when they drain. */
const PACE_LOOK_MS = 100;

/**
 * One session: at most one tracer, any number of clients, and the state and timers that are
 * its own. The server's parts change it through its methods.
 */
export class Session {
  /** The session id. */
  readonly id: string;
  /** When it was created. */
  readonly created = new Date();
  /** Time of the last client message (or of creation), in ms since the epoch. */
  lastActivity = Date.now();
  /** The program's exit, once the tracer reported it. */
  exit: { code: number | null; signal?: string } | undefined;
  /**
   * The key a tracer that lost its link shows to take the session back (set when a tracer
   * first starts it; unknown to clients).
   */
  resumeKey: string | undefined;
  /**
   * For a child session: the sessions it descends from, its parent first (ids: an ancestor
   * may have ended). Empty for a session that is not a child.
   */
  ancestors: string[] = [];
  /** For a child session: what its ancestors' clients were last told of it. */
  childState: ChildInfo | undefined;
  /**
   * The secret of the session's tree, given to its tracers in `started`: a child's `start`
   * must carry it. Set when a tracer first starts the session (unknown to clients).
   */
  treeKey: string | undefined;
  /** Set once the tracer said `disabled`: the session ends when it closes its link. */
  disabled = false;
  /** What its snapshot breakpoints captured, kept for clients that come later. */
  readonly snapshots: SnapshotStore;

  #tracer: TracerPeer | undefined;
  readonly #clients = new Map<string, ClientPeer>();
  #ended = false;
  /** Timers owned by the session (attach and inactivity timeouts, graces). */
  readonly #timers = new Set<ReturnType<typeof setTimeout>>();
  /** The session's named timers (one of each at most), among `#timers`. */
  readonly #named = new Map<SessionTimer, ReturnType<typeof setTimeout>>();
  readonly #routes = new Map<number, Route>();
  readonly #replay: ReplayBuffer;
  /** The last of the program's output, for a client that asks when it attaches. */
  readonly #scrollback: ReplayBuffer;
  #nextRoute = 1;
  readonly #maxQueued: number;
  readonly #onSlow: ((client: ClientPeer) => void) | undefined;
  readonly #pressure: QueuePressure;

  constructor(id: string, options: SessionOptions = {}) {
    this.id = id;
    this.#pressure = options.pressure ?? { over: false };
    this.#maxQueued = options.maxQueuedBytes ?? Infinity;
    this.#replay = new ReplayBuffer(options.replayBudget);
    this.#scrollback = new ReplayBuffer(options.replayBudget, MAX_SCROLLBACK_BYTES);
    this.snapshots = new SnapshotStore(id, options.snapshotBudget);
    this.#onSlow = options.onSlowClient;
  }

  /** The tracer, while one is attached. */
  get tracer(): TracerPeer | undefined {
    return this.#tracer;
  }

  /** Attaches a tracer (or, with undefined, forgets the one that was). */
  setTracer(tracer: TracerPeer | undefined): void {
    this.#tracer = tracer;
  }

  /** Attached clients by id. */
  get clients(): ReadonlyMap<string, ClientPeer> {
    return this.#clients;
  }

  /** Adds a client. */
  addClient(client: ClientPeer): void {
    this.#clients.set(client.id, client);
  }

  /** Takes a client out (and clears its attach wait); false when it was not in (any more). */
  removeClient(client: ClientPeer): boolean {
    if (this.#clients.get(client.id) !== client) return false;
    this.#clients.delete(client.id);
    this.clearTimer(client.waitTimer);
    client.waitTimer = undefined;
    return true;
  }

  /** Set once the session has ended. */
  get ended(): boolean {
    return this.#ended;
  }

  /**
   * Marks the session ended: its timers stop and its replay buffer goes. False when it had
   * ended already.
   */
  end(): boolean {
    if (this.#ended) return false;
    this.#ended = true;
    this.clearTimers();
    this.#replay.drop();
    this.#scrollback.drop();
    return true;
  }

  /**
   * Sends to one client (as `json`, `msg` serialised, when given and its transport takes text);
   * one that leaves too much unread is handed to `onSlowClient`.
   */
  #deliver(client: ClientPeer, msg: Message, json?: string): void {
    const transport = client.transport;
    if (json !== undefined && transport.sendText) transport.sendText(json);
    else transport.send(msg);
    if ((transport.queuedBytes ?? 0) > this.#maxQueued) this.#onSlow?.(client);
  }

  /**
   * The client the session is paced by: the least behind of those with full access (undefined
   * without one). Read-only clients never pace the program: they may be dropped, never waited
   * for.
   */
  leastBehind(): ClientPeer | undefined {
    let least: ClientPeer | undefined;
    for (const client of this.clients.values()) {
      if (client.access === "read-only") continue;
      if (!least || (client.transport.queuedBytes ?? 0) < (least.transport.queuedBytes ?? 0)) {
        least = client;
      }
    }
    return least;
  }

  /**
   * Whether the session must wait before it takes the tracer's next event: its full-access
   * client least behind has {@linkcode PACE_BYTES} unread, or, while the server is over
   * its bound, any full-access client has {@linkcode PRESSURE_PACE_BYTES}.
   */
  #mustWait(): boolean {
    if (this.ended) return false;
    let least = Infinity;
    let most = 0;
    for (const client of this.clients.values()) {
      if (client.access === "read-only") continue;
      const queued = client.transport.queuedBytes ?? 0;
      if (queued < least) least = queued;
      if (queued > most) most = queued;
    }
    if (least === Infinity) return false;
    return least >= PACE_BYTES || (this.#pressure.over && most >= PRESSURE_PACE_BYTES);
  }

  /**
   * Undefined when the session may take the tracer's next event now; else a promise that
   * resolves once it may: when its clients have caught up (see `#mustWait`), or left, or the
   * session ended. (No promise on the usual path: it runs for every event.)
   */
  paced(): Promise<void> | undefined {
    if (!this.#mustWait()) return undefined;
    return (async () => {
      while (this.#mustWait()) {
        // Woken when a full-access client's queue drains (or its link closes), for transports
        // that can say; a new client, the end of the server's pressure, or a transport that
        // cannot say, is seen at the next look.
        const limit = (this.#pressure.over ? PRESSURE_PACE_BYTES : PACE_BYTES) - 1;
        // Aborted after each look: a wait that lost the race must not stay behind, or a session
        // paced for minutes piles up one per look.
        const look = new AbortController();
        const waits: Promise<void>[] = [];
        let polled = false;
        for (const client of this.clients.values()) {
          // Only one that holds the session back: a drained one's promise would resolve at once.
          if (client.access === "read-only" || (client.transport.queuedBytes ?? 0) <= limit) {
            continue;
          }
          const drained = client.transport.drained?.(limit, look.signal);
          if (drained) waits.push(drained);
          else polled = true;
        }
        let timer: ReturnType<typeof setTimeout> | undefined;
        const later = new Promise<void>((resolve) =>
          timer = setTimeout(resolve, polled ? PACE_POLL_MS : PACE_LOOK_MS)
        );
        await Promise.race([...waits, later]);
        clearTimeout(timer);
        look.abort();
      }
    })();
  }

  /** Remembers who sent a command and returns the id to send the tracer instead. */
  route(client: string, id: MessageId | undefined, command?: string): number {
    const serverId = this.#nextRoute++;
    this.#routes.set(serverId, { client, id, command });
    if (this.#routes.size > MAX_ROUTES) {
      this.#routes.delete(this.#routes.keys().next().value!);
    }
    return serverId;
  }

  /**
   * Sends a tracer event to every client. The client whose command caused it (found from the
   * event's server id) gets it with its own id; the others without one.
   */
  broadcast(msg: Message): void {
    const bare: Message = msg.p === undefined ? { e: msg.e } : { e: msg.e, p: msg.p };
    // Output is serialised once: for the scrollback, the replay buffer and every client.
    const kept = this.#scrollback.keep(bare);
    if (this.#clients.size === 0) this.#replay.keep(bare, kept);
    const route = typeof msg.id === "number" ? this.#routes.get(msg.id) : undefined;
    if (msg.e === "ok") {
      // A reply is its command's client's alone, and of the shape its command promises.
      const client = route ? this.clients.get(route.client) : undefined;
      if (!client) return;
      let reply: Message = bare;
      const command = route!.command;
      if (command !== undefined && isRequestCommand(command)) {
        try {
          RESULTS[command].check(msg.p, "result");
        } catch (error) {
          const why = error instanceof SchemaError ? error.message : String(error);
          reply = errorEvent(
            new ProtocolError(
              "internal",
              `The tracer's answer to "${command}" is not valid: ${why}`,
              { command },
            ),
          );
        }
      }
      this.#deliver(client, route!.id === undefined ? reply : { ...reply, id: route!.id });
      return;
    }
    // Serialised once for every client that gets it as it is (and held once by their queues).
    const json = this.clients.size > 1 ? kept ?? JSON.stringify(bare) : kept;
    for (const client of [...this.clients.values()]) {
      if (route && route.client === client.id && route.id !== undefined) {
        this.#deliver(client, { ...bare, id: route.id });
      } else this.#deliver(client, bare, json);
    }
  }

  /**
   * For a client that attaches: what the program printed while nobody was attached (each a
   * message's JSON text), and how many of those messages were dropped past the bound (empty
   * when somebody was).
   */
  takeEarly(): { texts: string[]; dropped: number } {
    return this.#replay.take();
  }

  /** The program's last output (64 KiB at most), each a message's JSON text. */
  scrollback(): string[] {
    return this.#scrollback.peek();
  }

  /** Sends a server event to every client except `except`. */
  sendClients(msg: Message, except?: string): void {
    const json = this.clients.size > 1 ? JSON.stringify(msg) : undefined;
    for (const client of [...this.clients.values()]) {
      if (client.id !== except) this.#deliver(client, msg, json);
    }
  }

  /** Clients as others see them. */
  clientInfos(): ClientInfo[] {
    return [...this.clients.values()].map(clientInfo);
  }

  /** The session as `GET /sessions` lists it. */
  info(): SessionInfo {
    return {
      id: this.id,
      created: this.created.toISOString(),
      clients: this.clients.size,
      tracer: this.tracer?.info ?? null,
      ...(this.ancestors.length > 0 ? { parent: this.ancestors[0]! } : {}),
    };
  }

  /** The ancestors of `id`, one of this session's ancestors (its parent first). */
  ancestorsBelow(id: string): string[] {
    const at = this.ancestors.indexOf(id);
    return at < 0 ? [] : this.ancestors.slice(at + 1);
  }

  /** The root of the session's tree: its oldest ancestor, or itself. */
  get root(): string {
    return this.ancestors.at(-1) ?? this.id;
  }

  /** Starts a timer the session owns (cleared when it ends). */
  setTimer(ms: number, fn: () => void): ReturnType<typeof setTimeout> {
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      fn();
    }, ms);
    this.#timers.add(timer);
    return timer;
  }

  /** Clears one timer. */
  clearTimer(timer: ReturnType<typeof setTimeout> | undefined): void {
    if (timer === undefined) return;
    clearTimeout(timer);
    this.#timers.delete(timer);
  }

  /** Starts the session's timer of this name, in place of the one it had. */
  startTimer(name: SessionTimer, ms: number, fn: () => void): void {
    this.stopTimer(name);
    const timer = this.setTimer(ms, () => {
      this.#named.delete(name);
      fn();
    });
    this.#named.set(name, timer);
  }

  /** Stops the session's timer of this name, if it runs. */
  stopTimer(name: SessionTimer): void {
    this.clearTimer(this.#named.get(name));
    this.#named.delete(name);
  }

  /** Lets go of the output kept for a next client. Idempotent. */
  dropReplay(): void {
    this.#replay.drop();
    this.#scrollback.drop();
    this.snapshots.clear();
  }

  /** Clears every timer. */
  clearTimers(): void {
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    this.#named.clear();
    for (const client of this.#clients.values()) client.waitTimer = undefined;
  }
}

/** A client as others see it. */
export function clientInfo(client: ClientPeer): ClientInfo {
  const info: ClientInfo = { id: client.id, name: client.name, address: client.transport.remote };
  if (client.access === "read-only") info.readOnly = true;
  return info;
}
