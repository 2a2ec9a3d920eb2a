/**
 * What the parts of a server share: its settings and log, the sessions with a live link on it,
 * its registry, its limits' books, and what happens to a session over its life (made, orphaned,
 * timed out, ended, forgotten), which both handshakes and the sweep need.
 *
 * @module
 */

import { errorEvent, type MessageId, ProtocolError } from "../protocol/mod.ts";
import type { MessageTransport } from "../transport/transport.ts";
import { VERSION } from "../version.ts";
import { AddressBook } from "./limits.ts";
import { Reclaimer } from "./memory.ts";
import { type DisableMode, seconds, type Settings } from "./options.ts";
import type { Relay } from "./bus.ts";
import type { Registry } from "./registry.ts";
import { clientInfo, type ClientPeer, type QueuePressure, Session } from "./session.ts";
import { SessionTree } from "./tree.ts";
import { SNAPSHOT_BUDGET_BYTES, type SnapshotBudget } from "./snapshots.ts";

/**
 * The most all sessions' replay buffers (output kept while nobody is attached) hold together: a
 * thousand sessions whose clients all left do not keep a gigabyte.
 */
const REPLAY_BUDGET_BYTES = 64 * 1024 * 1024;

/** Refuses a connection: `error`, then `disable`, then close. */
export function refuse(transport: MessageTransport, error: ProtocolError): void {
  transport.send(errorEvent(error));
  transport.send({ e: "disable", p: { reason: error.message } });
  transport.close();
}

/** The shared state of one server and the life of its sessions. */
export class ServerContext {
  /** The options, defaults applied. */
  readonly settings: Settings;
  /** One line per notable event; peers' text in it is made safe. */
  readonly log: (line: string) => void;
  /** The directory shared with other servers. */
  readonly registry: Registry;
  /** Sessions with a live link (tracer or client) on this server. */
  readonly sessions = new Map<string, Session>();
  /** Their trees of child sessions. */
  readonly tree: SessionTree;
  /** Connections and failures per address. */
  readonly book: AddressBook;
  /** Links being served (authenticated or not). */
  readonly pending = new Set<MessageTransport>();
  /** Asks for a collection after bursts of big messages (see `memory.ts`). */
  readonly reclaimer = new Reclaimer();
  /** What all sessions' replay buffers hold together. */
  readonly replay = { used: 0, max: REPLAY_BUDGET_BYTES };
  /** What all sessions' snapshots hold together. */
  readonly snapshotBudget: SnapshotBudget = { used: 0, max: SNAPSHOT_BUDGET_BYTES };
  /** Set by the sweep while all clients together hold more than `maxQueuedTotal`. */
  readonly pressure: QueuePressure = { over: false };
  /** Where clients attach, told to tracers. */
  clientUrl: string | undefined;
  /** Set once the server is closing. */
  closed = false;
  /** Clients of this server relayed to sessions other servers own, by session. */
  readonly relays = new Map<string, Set<Relay>>();
  #registryDown = false;
  #nextLocalClient = 1;
  /** Sessions this server owns whose clients on other servers it takes, and how to stop. */
  readonly #hosting = new Map<string, AbortController>();
  /** Called when the first session is made (the sweep starts). */
  onFirstSession: () => void = () => {};

  /** The context of a server with these settings. */
  constructor(
    settings: Settings,
    log: (line: string) => void,
    registry: Registry,
    clientUrl: string | undefined,
  ) {
    this.settings = settings;
    this.log = log;
    this.registry = registry;
    this.clientUrl = clientUrl;
    this.book = new AddressBook(settings.limits);
    this.tree = new SessionTree(this.sessions, settings.limits.maxChildrenPerTree);
  }

  /** A new session (with its inactivity watch), or undefined when the link was refused. */
  newSession(transport: MessageTransport, id: string): Session | undefined {
    const max = this.settings.limits.maxSessions;
    if (this.sessions.size >= max) {
      refuse(
        transport,
        new ProtocolError("limit", `The server has the most sessions it takes (${max})`),
      );
      return undefined;
    }
    const session: Session = new Session(id, {
      replayBudget: this.replay,
      snapshotBudget: this.snapshotBudget,
      pressure: this.pressure,
      maxQueuedBytes: this.settings.limits.maxQueuedBytes,
      onSlowClient: (client) => this.dropSlowClient(session, client),
    });
    this.sessions.set(id, session);
    this.onFirstSession();
    this.log(`session ${id}: created`);
    const idle = this.settings.inactivityTimeout;
    if (idle > 0) this.#watchInactivity(session, idle);
    return session;
  }

  /** Tells the registry who is attached to `session` here. */
  present(session: Session): void {
    this.#registry("present", this.registry.present(session.id, session.clientInfos()));
  }

  /**
   * The registry's answer to a call this server does not wait for: a failure is logged, once
   * until a call succeeds again (while the registry is away, sessions go on here).
   */
  #registry(what: string, call: Promise<unknown>): void {
    call.then(() => this.#registryDown = false, (error) => this.registryFailed(what, error));
  }

  /** Logs a failed registry call, once until one succeeds again. */
  registryFailed(what: string, error: unknown): void {
    if (this.#registryDown) return;
    this.#registryDown = true;
    this.log(`registry: ${what} failed (${error}); sessions here go on without it`);
  }

  /** A new client id: the registry's, or while it is away one of this server's own. */
  async newClientId(): Promise<string> {
    try {
      return await this.registry.newClientId();
    } catch (error) {
      this.registryFailed("a client id", error);
      return `c${this.#nextLocalClient++}-${this.registry.server}`;
    }
  }

  /** Sends `attached` to a client: the session as it is now. */
  sendAttached(session: Session, client: ClientPeer): void {
    const children = this.tree.childrenOf(session);
    client.transport.send({
      e: "attached",
      p: {
        session: session.id,
        protocol: client.protocol,
        server: `qdb ${VERSION}`,
        tracer: session.tracer?.info ?? null,
        clients: session.clientInfos(),
        you: client.id,
        ...(session.ancestors.length > 0 ? { parent: session.ancestors[0]! } : {}),
        ...(children.length > 0 ? { children } : {}),
      },
    });
  }

  /** Asks the tracer for the state, for `client` (whose `start` had `startId`). */
  askState(session: Session, client: string, startId: MessageId | undefined): void {
    session.tracer?.transport.send({
      e: "start",
      p: { client },
      id: session.route(client, startId),
    });
  }

  /**
   * The tracer's link was lost without a goodbye: the clients are told at once, and the
   * session waits a while for its tracer to come back before it ends.
   */
  orphan(session: Session): void {
    const grace = this.settings.tracerGrace;
    session.setTracer(undefined);
    this.#registry("update", this.registry.update(session.id, { tracer: null }));
    this.log(`session ${session.id}: lost its tracer; waiting ${seconds(grace)}`);
    session.sendClients(errorEvent(
      new ProtocolError(
        "tracer",
        `The tracer's link was lost; waiting ${seconds(grace)} for it to reconnect`,
      ),
    ));
    session.startTimer("orphan", grace, () => {
      if (session.ended || session.tracer) return;
      session.sendClients(errorEvent(
        new ProtocolError("tracer", "The tracer did not reconnect in time"),
      ));
      this.end(session, "The tracer disconnected and did not come back");
    });
  }

  /** Why the session ends when its program exited, or undefined while it has not. */
  exitReason(session: Session): string | undefined {
    const exit = session.exit;
    if (!exit) return undefined;
    return exit.code === null
      ? `The program was ended by ${exit.signal ?? "a signal"}`
      : `The program exited with code ${exit.code}`;
  }

  /** A tracer with no client waits the attach timeout for one, then its session ends. */
  waitForClient(session: Session): void {
    const ms = this.settings.attachTimeout;
    session.startTimer("attach", ms, () => {
      if (session.ended || session.clients.size > 0) return;
      session.tracer?.transport.send(errorEvent(
        new ProtocolError(
          "client",
          `No client attached to session "${session.id}" within ${seconds(ms)}`,
        ),
      ));
      this.end(session, "No client attached in time", this.settings.disableMode);
    });
  }

  #watchInactivity(session: Session, ms: number): void {
    session.startTimer("inactivity", ms, () => {
      if (session.ended) return;
      // Clients of any session of the tree keep it all alive: a child nobody attached to is
      // attended by its ancestors' clients.
      const limit = this.settings.inactivityTimeout;
      const idle = Date.now() - this.tree.activity(session);
      if (idle < limit) {
        // Activity since the timer was set: wait for the rest of the period.
        return this.#watchInactivity(session, limit - idle);
      }
      this.log(`session ${session.id}: inactive for ${seconds(idle)}, disabling`);
      this.end(session, `No client activity for ${seconds(limit)}`, this.settings.disableMode);
    });
  }

  /** A client whose unread messages passed the limit is dropped; the others never wait. */
  dropSlowClient(session: Session, client: ClientPeer, limit = "per client"): void {
    const queued = client.transport.queuedBytes ?? 0;
    const limits = this.settings.limits;
    const bytes = limit === "per client" ? limits.maxQueuedBytes : limits.maxQueuedTotal;
    this.dropClient(session, client, `${queued} bytes unread (limit ${bytes}, ${limit})`);
  }

  /**
   * Takes a client out of its session and closes its link, saying why in the log (and to the
   * client, when `tell` is given and it can still hear it); the others are told it left.
   */
  dropClient(session: Session, client: ClientPeer, why: string, tell?: string): void {
    if (!session.removeClient(client)) return;
    this.log(`session ${session.id}: dropped client ${client.id}: ${why}`);
    if (tell !== undefined) client.transport.send(errorEvent(new ProtocolError("limit", tell)));
    client.transport.close();
    session.sendClients({ e: "clients", p: { left: clientInfo(client) } });
    this.present(session);
    this.reclaimer.soon();
  }

  /**
   * Ends a session: the tracer is told to disable (when `tracerMode` is given), clients get
   * `disable` and are closed.
   */
  end(session: Session, reason: string, tracerMode?: DisableMode): void {
    if (!session.end()) return;
    const tracer = session.tracer;
    if (tracer) {
      if (tracerMode) tracer.transport.send({ e: "disable", p: tracerMode });
      tracer.transport.close();
    }
    for (const client of session.clients.values()) {
      client.transport.send({ e: "disable", p: { reason } });
      client.transport.close();
    }
    this.forget(session);
    if (session.ancestors.length > 0) this.tree.changed(session, { state: "ended", reason });
    this.log(`session ${session.id}: ended (${reason})`);
    this.reclaimer.soon();
  }

  /**
   * A signal for taking remote clients of session `id`, aborted when the session is forgotten
   * here; undefined when this server takes them already.
   */
  hostRemote(id: string): AbortSignal | undefined {
    if (this.#hosting.has(id)) return undefined;
    const stop = new AbortController();
    this.#hosting.set(id, stop);
    return stop.signal;
  }

  /** Takes the session off this server (and, as far as this server is concerned, the registry). */
  forget(session: Session): void {
    if (this.let(session)) this.#registry("release", this.registry.release(session.id));
  }

  /**
   * Takes the session off this server, leaving the registry as it is (it was handed over):
   * false when it was not here.
   */
  let(session: Session): boolean {
    session.clearTimers();
    session.dropReplay();
    if (this.sessions.get(session.id) !== session) return false;
    this.sessions.delete(session.id);
    this.#hosting.get(session.id)?.abort();
    this.#hosting.delete(session.id);
    return true;
  }
}
