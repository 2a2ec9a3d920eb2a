/**
 * The registry: where the servers that share a set of sessions find them, and the seam between
 * one server and several. It holds what the cluster knows of each session (no live links: those
 * stay on the server that accepted them): who owns it (the server holding its tracer), what its
 * tracer told, who is attached on each server, and its place in a tree of child sessions. It also
 * carries the traffic between servers, by topic.
 *
 * {@linkcode MemoryRegistry} is the default: one server, or several in one process sharing it
 * (which is how the server's cluster behaviour is tested without a broker). A Redis registry
 * implements the same interface for servers on several machines; both pass
 * `registry_test.ts`.
 *
 * @module
 */

import type { ClientInfo, GroupRule, SessionInfo, TracerInfo } from "../protocol/mod.ts";

/** Most rules one group holds. */
export const MAX_GROUP_RULES = 64;

/** What the owner of a session tells the others about it. */
export interface SessionFacts {
  /** When it was created (ISO 8601). */
  created: string;
  /** What its tracer told about itself; null while it has none. */
  tracer: TracerInfo | null;
  /** For a child session: its parent's id. */
  parent?: string | undefined;
  /** For a child session: its ancestors, its parent first. */
  ancestors?: string[] | undefined;
  /**
   * The session's secrets as the servers need them to let its tracers in: the SHA-256 of its
   * resume key (a tracer that shows the key takes the session over, from any server) and its
   * tree's key (children must show it). Never listed to clients.
   */
  keys?: { resume: string; tree: string } | undefined;
}

/** Options of {@linkcode Registry.claim}. */
export interface ClaimOptions {
  /**
   * The session's own tracer came back (it showed the resume key whose hash is in the facts):
   * it is taken over from the server that owns it, if that one's record has the same hash.
   */
  takeover?: boolean;
}

/** What the registry knows of a session. */
export interface SessionRecord extends SessionFacts {
  /** The session id. */
  id: string;
  /** The server that owns it (holds its tracer), or null while none does. */
  owner: string | null;
  /** Its clients on every server. */
  clients: ClientInfo[];
}

/**
 * Why {@linkcode Registry.claim} refused: another server owns the session, or none does and its
 * own tracer is awaited (it lost its server, or its server handed it over).
 */
export interface ClaimRefused {
  /** The server that owns it; null when its tracer is awaited. */
  owner: string | null;
}

/** A change of a session, as {@linkcode Registry.watch} reports it. */
export interface RegistryChange {
  /** The session that changed. */
  id: string;
  /** Its record now, or null when it is gone. */
  record: SessionRecord | null;
}

/**
 * The shared directory of sessions and the bus between servers. Every method may be called by
 * any server of the registry; `server` names the caller.
 */
export interface Registry {
  /** This server's name in the registry, unique among its servers. */
  readonly server: string;
  /** A new client id, unique among the servers of the registry (`c1`, `c2`...). */
  newClientId(): Promise<string>;
  /**
   * Makes this server the session's owner (creating its record when there is none), with these
   * facts: true, or who owns it instead. A session another server owns, or whose tracer is
   * awaited (its record keeps its key), goes only to a claim with `takeover` whose facts carry
   * the same key.
   */
  claim(id: string, facts: SessionFacts, options?: ClaimOptions): Promise<true | ClaimRefused>;
  /**
   * This server hands a session it owns over (it is shutting down): it no longer owns it, its
   * clients there are forgotten, and the record stays for the session's tracer to take it to
   * another server with its key.
   */
  handOver(id: string): Promise<void>;
  /** The owner tells new facts (its tracer came or went, ...). Ignored from anyone else. */
  update(id: string, facts: Partial<SessionFacts>): Promise<void>;
  /** Says who is attached to the session on this server (the record is made if need be). */
  present(id: string, clients: ClientInfo[]): Promise<void>;
  /**
   * This server lets go of the session: its clients there are forgotten, and when it is the
   * owner, the record goes (the session ended).
   */
  release(id: string): Promise<void>;
  /** The record of one session. */
  find(id: string): Promise<SessionRecord | undefined>;
  /** Every session's record. */
  list(): Promise<SessionRecord[]>;
  /** The rules of group `group` (breakpoints set on all its members), oldest first. */
  groupRules(group: string): Promise<GroupRule[]>;
  /**
   * Adds a rule to a group, with a new id (`GROUP#N`): the rule, or undefined when the group
   * holds {@linkcode MAX_GROUP_RULES} already.
   */
  addGroupRule(group: string, set: Record<string, unknown>): Promise<GroupRule | undefined>;
  /** Removes a group's rule: false when it had none of that id. */
  removeGroupRule(group: string, rule: string): Promise<boolean>;
  /** Calls `listener` with every change of any session until `signal` aborts. */
  watch(listener: (change: RegistryChange) => void, signal: AbortSignal): void;
  /**
   * Sends `text` to every subscriber of `topic` (on any server), in order. Resolves with how
   * many servers' subscriptions got it (0: nobody listens, and the text is gone).
   */
  publish(topic: string, text: string): Promise<number>;
  /**
   * Calls `listener` with what is published to `topic` until `signal` aborts. Resolves once the
   * subscription holds: what is published after that reaches it.
   */
  subscribe(topic: string, listener: (text: string) => void, signal: AbortSignal): Promise<void>;
  /** Leaves the registry: what this server owned and attended is released. Idempotent. */
  close(): Promise<void>;
}

/** A session as `GET /sessions` lists it, from its record. */
export function sessionInfo(record: SessionRecord): SessionInfo {
  return {
    id: record.id,
    created: record.created,
    clients: record.clients.length,
    tracer: record.tracer,
    ...(record.parent !== undefined ? { parent: record.parent } : {}),
  };
}

/** What a {@linkcode MemoryRegistry} holds of one session. */
interface Entry {
  facts: SessionFacts;
  owner: string | null;
  /** Clients by the server they are attached to. */
  presence: Map<string, ClientInfo[]>;
}

/** What the servers of one {@linkcode MemoryRegistry} share. */
class MemoryStore {
  readonly sessions = new Map<string, Entry>();
  readonly watchers = new Set<(change: RegistryChange) => void>();
  readonly topics = new Map<string, Set<(text: string) => void>>();
  readonly groups = new Map<string, { next: number; rules: Map<string, GroupRule> }>();
  nextClient = 1;
  nextServer = 1;

  record(id: string): SessionRecord | undefined {
    const entry = this.sessions.get(id);
    if (!entry) return undefined;
    return {
      id,
      ...structuredClone(entry.facts),
      owner: entry.owner,
      clients: [...entry.presence.values()].flat().map((c) => ({ ...c })),
    };
  }

  /**
   * Tells every watcher, each a little later (as a broker would: never inside the caller's own
   * call, always in order).
   */
  changed(id: string): void {
    const change = { id, record: this.record(id) ?? null };
    for (const watcher of [...this.watchers]) {
      queueMicrotask(() => {
        if (this.watchers.has(watcher)) watcher(structuredClone(change));
      });
    }
  }
}

/**
 * The registry in memory: one server's, or shared by several servers of one process (pass
 * {@linkcode MemoryRegistry.join} of the first to the others). Changes are seen at once.
 */
export class MemoryRegistry implements Registry {
  readonly server: string;
  readonly #store: MemoryStore;
  #closed = false;

  /** A registry of its own (one server). */
  constructor(store: MemoryStore = new MemoryStore()) {
    this.#store = store;
    this.server = `s${store.nextServer++}`;
  }

  /** Another server's view of this registry: the two share every session. */
  join(): MemoryRegistry {
    return new MemoryRegistry(this.#store);
  }

  newClientId(): Promise<string> {
    return Promise.resolve(`c${this.#store.nextClient++}`);
  }

  claim(
    id: string,
    facts: SessionFacts,
    options: ClaimOptions = {},
  ): Promise<true | ClaimRefused> {
    const entry = this.#store.sessions.get(id);
    const proved = options.takeover === true && facts.keys !== undefined &&
      entry?.facts.keys?.resume === facts.keys.resume;
    const held = entry !== undefined && entry.owner !== this.server &&
      (entry.owner !== null || entry.facts.keys !== undefined);
    if (held && !proved) return Promise.resolve({ owner: entry.owner });
    if (entry) {
      entry.owner = this.server;
      entry.facts = structuredClone(facts);
    } else {
      this.#store.sessions.set(id, {
        facts: structuredClone(facts),
        owner: this.server,
        presence: new Map(),
      });
    }
    this.#store.changed(id);
    return Promise.resolve(true);
  }

  handOver(id: string): Promise<void> {
    const entry = this.#store.sessions.get(id);
    if (!entry) return Promise.resolve();
    if (entry.owner === this.server) entry.owner = null;
    entry.presence.delete(this.server);
    this.#store.changed(id);
    return Promise.resolve();
  }

  update(id: string, facts: Partial<SessionFacts>): Promise<void> {
    const entry = this.#store.sessions.get(id);
    if (entry?.owner === this.server) {
      entry.facts = { ...entry.facts, ...structuredClone(facts) };
      this.#store.changed(id);
    }
    return Promise.resolve();
  }

  present(id: string, clients: ClientInfo[]): Promise<void> {
    let entry = this.#store.sessions.get(id);
    if (!entry) {
      if (clients.length === 0) return Promise.resolve();
      entry = {
        facts: { created: new Date().toISOString(), tracer: null },
        owner: null,
        presence: new Map(),
      };
      this.#store.sessions.set(id, entry);
    }
    if (clients.length > 0) entry.presence.set(this.server, clients.map((c) => ({ ...c })));
    else entry.presence.delete(this.server);
    if (entry.owner === null && entry.presence.size === 0 && entry.facts.keys === undefined) {
      this.#store.sessions.delete(id);
    }
    this.#store.changed(id);
    return Promise.resolve();
  }

  release(id: string): Promise<void> {
    const entry = this.#store.sessions.get(id);
    if (!entry) return Promise.resolve();
    entry.presence.delete(this.server);
    const unattended = entry.owner === null && entry.presence.size === 0 &&
      entry.facts.keys === undefined;
    if (entry.owner === this.server || unattended) this.#store.sessions.delete(id);
    this.#store.changed(id);
    return Promise.resolve();
  }

  find(id: string): Promise<SessionRecord | undefined> {
    return Promise.resolve(this.#store.record(id));
  }

  list(): Promise<SessionRecord[]> {
    const ids = [...this.#store.sessions.keys()];
    return Promise.resolve(ids.map((id) => this.#store.record(id)!));
  }

  groupRules(group: string): Promise<GroupRule[]> {
    return Promise.resolve(
      structuredClone([...this.#store.groups.get(group)?.rules.values() ?? []]),
    );
  }

  addGroupRule(group: string, set: Record<string, unknown>): Promise<GroupRule | undefined> {
    let entry = this.#store.groups.get(group);
    if (!entry) this.#store.groups.set(group, entry = { next: 1, rules: new Map() });
    if (entry.rules.size >= MAX_GROUP_RULES) return Promise.resolve(undefined);
    const rule = { rule: `${group}#${entry.next++}`, set: structuredClone(set) };
    entry.rules.set(rule.rule, rule);
    return Promise.resolve(structuredClone(rule));
  }

  removeGroupRule(group: string, rule: string): Promise<boolean> {
    return Promise.resolve(this.#store.groups.get(group)?.rules.delete(rule) ?? false);
  }

  watch(listener: (change: RegistryChange) => void, signal: AbortSignal): void {
    if (signal.aborted) return;
    this.#store.watchers.add(listener);
    signal.addEventListener("abort", () => this.#store.watchers.delete(listener), { once: true });
  }

  publish(topic: string, text: string): Promise<number> {
    const listeners = this.#store.topics.get(topic);
    for (const listener of [...listeners ?? []]) {
      queueMicrotask(() => {
        if (listeners!.has(listener)) listener(text);
      });
    }
    return Promise.resolve(listeners?.size ?? 0);
  }

  subscribe(topic: string, listener: (text: string) => void, signal: AbortSignal): Promise<void> {
    if (signal.aborted) return Promise.resolve();
    const topics = this.#store.topics;
    let set = topics.get(topic);
    if (!set) topics.set(topic, set = new Set());
    set.add(listener);
    signal.addEventListener("abort", () => {
      set.delete(listener);
      if (set.size === 0 && topics.get(topic) === set) topics.delete(topic);
    }, { once: true });
    return Promise.resolve();
  }

  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    for (const [id, entry] of [...this.#store.sessions]) {
      if (entry.owner === this.server || entry.presence.has(this.server)) void this.release(id);
    }
    return Promise.resolve();
  }
}
