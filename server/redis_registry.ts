/**
 * The registry in Redis: servers on several machines share one set of sessions through one
 * Redis server (6.2 or later; not Redis Cluster), with the `@redis/client` package (no RESP of
 * qdb's own).
 *
 * Keys, under a prefix (default `qdb`):
 * - `P:servers` and `P:clients`: counters that name servers (`s7`) and clients (`c42`);
 * - `P:server:NAME`: a server's heartbeat, renewed every third of `leaseMs`: a server whose
 *   heartbeat expired is gone, and its clients are no longer listed;
 * - `P:lease:ID`: the name of the server that owns session ID (holds its tracer), renewed with
 *   the heartbeat: when it expires (the server died), the session has no owner;
 * - `P:session:ID`: a hash: `facts` (JSON: created, tracer, parent) and `p:NAME` (JSON: the
 *   clients attached through server NAME), expiring three leases after the last server that
 *   owns or attends it stopped renewing it;
 * - `P:sessions`: the set of session ids.
 *
 * Every change is announced on the channel `P:changes` (the session id); topics are the channels
 * `P:t:TOPIC`. Pub/sub, not streams: what one server publishes to a channel reaches every
 * subscriber in order while both are connected, and every topic's traffic is paced by its
 * session (see `bus.ts`), so nothing accumulates in Redis; what a server misses while it is cut
 * off from Redis is lost, and the sessions it serves go on locally meanwhile.
 *
 * What is read from Redis is checked like any peer's input: a record that does not parse is
 * left out, with a log line.
 *
 * @module
 */

import { createClient, type RedisClientType } from "@redis/client";
import {
  type ClientInfo,
  clientInfoSchema,
  type GroupRule,
  groupRuleSchema,
  isPlainObject,
  tracerInfoSchema,
} from "../protocol/mod.ts";
import {
  type ClaimOptions,
  type ClaimRefused,
  MAX_GROUP_RULES,
  type Registry,
  type RegistryChange,
  type SessionFacts,
  type SessionRecord,
} from "./registry.ts";

/** Options of {@linkcode RedisRegistry.connect}. */
export interface RedisRegistryOptions {
  /** `redis://[:PASSWORD@]HOST:PORT[/DB]` or `rediss://` (TLS). */
  url: string;
  /** The password, when it is not in the URL. */
  password?: string | undefined;
  /** The prefix of every key and channel. Default `qdb`. */
  prefix?: string;
  /** How long a server's heartbeat and leases last without renewal, in ms. Default 10 000. */
  leaseMs?: number;
  /** Receives a line when Redis goes away or comes back, and when a record is bad. */
  log?: (line: string) => void;
}

/**
 * Makes this server a session's owner, unless another server owns it or a tracer of it is
 * awaited (the record keeps the hash of its resume key): then only that tracer, showing the key
 * whose hash the record holds, takes it over. Refused: the owner, or '' when none.
 */
const CLAIM = `
local owner = redis.call('GET', KEYS[1])
if owner ~= ARGV[1] then
  local stored = redis.call('HGET', KEYS[2], 'resume')
  if owner or stored then
    local proved = ARGV[6] ~= '' and stored == ARGV[6]
    if not proved then return owner or '' end
  end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('HSET', KEYS[2], 'facts', ARGV[3])
if ARGV[7] ~= '' then redis.call('HSET', KEYS[2], 'resume', ARGV[7]) end
redis.call('PEXPIRE', KEYS[2], ARGV[2] * 3)
redis.call('SADD', KEYS[3], ARGV[4])
redis.call('PUBLISH', ARGV[5], ARGV[4])
return 1`;

/**
 * This server hands a session it owns over: its lease goes (the record stays, with the hash of
 * the resume key, for the tracer to take it to another server), and so do its clients there.
 */
const HAND_OVER = `
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
redis.call('HDEL', KEYS[2], ARGV[2])
redis.call('PUBLISH', ARGV[4], ARGV[3])
return 1`;

/** The owner's new facts (anyone else's are ignored). */
const UPDATE = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[2], 'facts', ARGV[2])
redis.call('PUBLISH', ARGV[3], ARGV[4])
return 1`;

/**
 * Lua: a session (KEYS[2], id ARGV[3] in the set KEYS[3]) that nobody owns (no lease, KEYS[1]),
 * nobody attends (no `p:` field) and whose tracer is not awaited (no `resume`) goes.
 */
const FORGET_UNATTENDED = `
if redis.call('EXISTS', KEYS[1]) == 0 then
  local attended = false
  for _, field in ipairs(redis.call('HKEYS', KEYS[2])) do
    if string.sub(field, 1, 2) == 'p:' or field == 'resume' then attended = true end
  end
  if not attended then
    redis.call('DEL', KEYS[2])
    redis.call('SREM', KEYS[3], ARGV[3])
  end
end`;

/**
 * Who is attached through this server (none: the field goes); a session nobody owns or attends
 * any more, and whose tracer is not awaited, goes.
 */
const PRESENT = `
if ARGV[2] == '' then
  redis.call('HDEL', KEYS[2], ARGV[1])
else
  if redis.call('HEXISTS', KEYS[2], 'facts') == 0 then redis.call('HSET', KEYS[2], 'facts', ARGV[5]) end
  redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
  redis.call('PEXPIRE', KEYS[2], ARGV[6])
  redis.call('SADD', KEYS[3], ARGV[3])
end
${FORGET_UNATTENDED}
redis.call('PUBLISH', ARGV[4], ARGV[3])
return 1`;

/** This server lets go: the session goes when it owned it, else only its clients there. */
const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1], KEYS[2])
  redis.call('SREM', KEYS[3], ARGV[3])
else
  redis.call('HDEL', KEYS[2], ARGV[2])
  ${FORGET_UNATTENDED}
end
redis.call('PUBLISH', ARGV[4], ARGV[3])
return 1`;

/**
 * Adds a group's rule under the group's next number, unless the group holds ARGV[1] rules:
 * the number, or 0.
 */
const ADD_RULE = `
if redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[1]) then return 0 end
local n = redis.call('INCR', KEYS[2])
redis.call('HSET', KEYS[1], ARGV[2] .. '#' .. n, ARGV[3])
return n`;

/** Raises a counter to at least ARGV[1]. */
const RAISE = `
local now = tonumber(redis.call('GET', KEYS[1]) or '0')
if now < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], ARGV[1]) end
return 1`;

/** Renews this server's lease of a session, and the record's life; 0 when it lost the lease. */
const RENEW = `
redis.call('PEXPIRE', KEYS[2], ARGV[2] * 3)
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1`;

type Client = RedisClientType;

/** The registry in Redis; see the module's doc. */
export class RedisRegistry implements Registry {
  readonly server: string;
  readonly #client: Client;
  readonly #subscriber: Client;
  readonly #prefix: string;
  readonly #leaseMs: number;
  readonly #log: (line: string) => void;
  /** Facts of the sessions this server owns (an update sends them whole). */
  readonly #owned = new Map<string, SessionFacts>();
  /** Sessions this server attends, with its clients there. */
  readonly #attended = new Map<string, ClientInfo[]>();
  /** The highest client number this server was given (raised again after Redis restarts). */
  #lastClient = 0;
  readonly #watchers = new Set<(change: RegistryChange) => void>();
  /** Subscriptions asked for while Redis was away. */
  readonly #pending = new Set<
    { channel: string; each: (text: string) => void; signal: AbortSignal }
  >();
  readonly #renewer: ReturnType<typeof setInterval>;
  #closing: Promise<void> | undefined;

  private constructor(
    client: Client,
    subscriber: Client,
    server: string,
    options: RedisRegistryOptions,
  ) {
    this.#client = client;
    this.#subscriber = subscriber;
    this.server = server;
    this.#prefix = options.prefix ?? "qdb";
    this.#leaseMs = options.leaseMs ?? 10_000;
    this.#log = options.log ?? (() => {});
    this.#renewer = setInterval(() => void this.#renew(), Math.ceil(this.#leaseMs / 3));
  }

  /** Connects to Redis and joins its registry under a new server name. */
  static async connect(options: RedisRegistryOptions): Promise<RedisRegistry> {
    const log = options.log ?? (() => {});
    const prefix = options.prefix ?? "qdb";
    let registry: RedisRegistry | undefined;
    const make = () => {
      // The first connection fails at once (a wrong address is said, not retried for ever);
      // once connected, a lost connection is retried until Redis is back.
      let connected = false;
      const client = createClient({
        url: options.url,
        ...(options.password !== undefined ? { password: options.password } : {}),
        // A call while Redis is away fails at once: the server goes on locally.
        disableOfflineQueue: true,
        socket: {
          reconnectStrategy: (retries: number, cause: Error) =>
            connected ? Math.min(100 * 2 ** retries, 2000) : cause,
        },
      }) as Client;
      let down = false;
      client.on("error", (error: Error) => {
        if (!down && connected) log(`redis: ${error.message}; reconnecting`);
        down = true;
      });
      client.on("ready", () => {
        if (down && connected && registry) {
          if (client === command) void registry.#rejoin();
          else void registry.#subscribePending();
        }
        down = false;
        connected = true;
      });
      return client;
    };
    let command: Client | undefined;
    const client = command = make();
    const subscriber = make();
    try {
      await client.connect();
      await subscriber.connect();
      const n = await client.incr(`${prefix}:servers`);
      const server = `s${n}`;
      const joined = registry = new RedisRegistry(client, subscriber, server, options);
      await joined.#heartbeat();
      await subscriber.subscribe(`${prefix}:changes`, (id) => void joined.#changed(id));
      return joined;
    } catch (error) {
      client.destroy();
      subscriber.destroy();
      throw error;
    }
  }

  #key(kind: string, id?: string): string {
    return id === undefined ? `${this.#prefix}:${kind}` : `${this.#prefix}:${kind}:${id}`;
  }

  #eval(script: string, keys: string[], args: (string | number)[]): Promise<unknown> {
    return this.#client.sendCommand([
      "EVAL",
      script,
      String(keys.length),
      ...keys,
      ...args.map(String),
    ]);
  }

  #heartbeat(): Promise<unknown> {
    return this.#client.set(this.#key("server", this.server), "1", { PX: this.#leaseMs });
  }

  /** Renews the heartbeat, the leases of owned sessions and the life of attended records. */
  async #renew(): Promise<void> {
    try {
      await this.#heartbeat();
      for (const id of new Set([...this.#owned.keys(), ...this.#attended.keys()])) {
        const held = await this.#eval(
          RENEW,
          [this.#key("lease", id), this.#key("session", id)],
          [this.server, this.#leaseMs],
        );
        if (held === 0 && this.#owned.delete(id)) {
          this.#log(`redis: this server lost its lease of session ${id}`);
        }
      }
    } catch {
      // Redis is away: the client's error handler said so; renewed when it is back.
    }
  }

  async newClientId(): Promise<string> {
    const n = await this.#client.incr(this.#key("clients"));
    this.#lastClient = Math.max(this.#lastClient, n);
    return `c${n}`;
  }

  /**
   * Redis is back (perhaps empty, after a restart): the counters are raised past what this
   * server was given, and what it owns and attends is registered again.
   */
  async #rejoin(): Promise<void> {
    try {
      const server = Number(this.server.slice(1));
      await this.#eval(RAISE, [this.#key("servers")], [server]);
      await this.#eval(RAISE, [this.#key("clients")], [this.#lastClient]);
      await this.#heartbeat();
      for (const [id, facts] of [...this.#owned]) {
        const claimed = await this.claim(id, facts);
        if (claimed !== true) {
          this.#owned.delete(id);
          this.#log(`redis: session ${id} is owned by server ${claimed.owner} now`);
        }
      }
      for (const [id, clients] of [...this.#attended]) await this.present(id, clients);
      const sessions = new Set([...this.#owned.keys(), ...this.#attended.keys()]).size;
      this.#log(`redis: connected again; ${sessions} sessions registered again`);
    } catch (error) {
      this.#log(`redis: registering again failed (${error}); trying when it is back`);
    }
  }

  async claim(
    id: string,
    facts: SessionFacts,
    options: ClaimOptions = {},
  ): Promise<true | ClaimRefused> {
    // Known before Redis answers: when it is away, the claim is made again once it is back.
    const mine = !this.#owned.has(id);
    this.#owned.set(id, structuredClone(facts));
    const owner = await this.#eval(
      CLAIM,
      [this.#key("lease", id), this.#key("session", id), this.#key("sessions")],
      [
        this.server,
        this.#leaseMs,
        JSON.stringify(facts),
        id,
        this.#key("changes"),
        options.takeover ? facts.keys?.resume ?? "" : "",
        facts.keys?.resume ?? "",
      ],
    );
    if (owner === 1) return true;
    if (mine) this.#owned.delete(id);
    return { owner: typeof owner === "string" && owner !== "" ? owner : null };
  }

  async handOver(id: string): Promise<void> {
    this.#owned.delete(id);
    this.#attended.delete(id);
    await this.#eval(
      HAND_OVER,
      [this.#key("lease", id), this.#key("session", id)],
      [this.server, `p:${this.server}`, id, this.#key("changes")],
    );
  }

  async update(id: string, facts: Partial<SessionFacts>): Promise<void> {
    const known = this.#owned.get(id);
    if (!known) return;
    const merged = { ...known, ...structuredClone(facts) };
    this.#owned.set(id, merged);
    await this.#eval(
      UPDATE,
      [this.#key("lease", id), this.#key("session", id)],
      [this.server, JSON.stringify(merged), this.#key("changes"), id],
    );
  }

  async present(id: string, clients: ClientInfo[]): Promise<void> {
    if (clients.length > 0) this.#attended.set(id, structuredClone(clients));
    else this.#attended.delete(id);
    const created = JSON.stringify({ created: new Date().toISOString(), tracer: null });
    await this.#eval(
      PRESENT,
      [this.#key("lease", id), this.#key("session", id), this.#key("sessions")],
      [
        `p:${this.server}`,
        clients.length > 0 ? JSON.stringify(clients) : "",
        id,
        this.#key("changes"),
        created,
        this.#leaseMs * 3,
      ],
    );
  }

  async release(id: string): Promise<void> {
    this.#owned.delete(id);
    this.#attended.delete(id);
    await this.#eval(
      RELEASE,
      [this.#key("lease", id), this.#key("session", id), this.#key("sessions")],
      [this.server, `p:${this.server}`, id, this.#key("changes")],
    );
  }

  async find(id: string): Promise<SessionRecord | undefined> {
    const [fields, owner] = await Promise.all([
      this.#client.hGetAll(this.#key("session", id)),
      this.#client.get(this.#key("lease", id)),
    ]);
    if (!fields || fields.facts === undefined) return undefined;
    const presence = Object.entries(fields).filter(([name]) => name.startsWith("p:"));
    // Clients of servers whose heartbeat stopped are gone.
    const servers = presence.map(([name]) => name.slice(2));
    const alive = servers.length === 0
      ? []
      : await this.#client.mGet(servers.map((s) => this.#key("server", s)));
    try {
      const facts = checkFacts(JSON.parse(fields.facts));
      const clients = presence.flatMap(([, json], i) =>
        alive[i] === null ? [] : checkClients(JSON.parse(json))
      );
      return {
        id,
        ...facts,
        ...(owner === null ? { tracer: null } : {}),
        owner: typeof owner === "string" ? owner : null,
        clients,
      };
    } catch (error) {
      this.#log(`redis: the record of session ${JSON.stringify(id)} is not valid: ${error}`);
      return undefined;
    }
  }

  async list(): Promise<SessionRecord[]> {
    const ids = await this.#client.sMembers(this.#key("sessions"));
    const records = await Promise.all(ids.map((id) => this.find(id)));
    const gone = ids.filter((_, i) => records[i] === undefined);
    // Records that expired (their servers died) leave the set too.
    if (gone.length > 0) await this.#client.sRem(this.#key("sessions"), gone);
    return records.filter((r): r is SessionRecord => r !== undefined)
      .sort((a, b) => a.created.localeCompare(b.created) || a.id.localeCompare(b.id));
  }

  async groupRules(group: string): Promise<GroupRule[]> {
    const all = await this.#client.hGetAll(this.#key("rules", group));
    const rules: GroupRule[] = [];
    for (const [rule, text] of Object.entries(all)) {
      try {
        // Read back like peer input: a rule another process wrote there wrong is skipped.
        rules.push(groupRuleSchema.check({ rule, set: JSON.parse(text) }, "rule"));
      } catch {
        this.#log(`registry: a malformed rule ${JSON.stringify(rule.slice(0, 80))} was skipped`);
      }
    }
    const n = (r: GroupRule) => Number(r.rule.slice(r.rule.lastIndexOf("#") + 1));
    return rules.sort((a, b) => n(a) - n(b));
  }

  async addGroupRule(
    group: string,
    set: Record<string, unknown>,
  ): Promise<GroupRule | undefined> {
    const key = this.#key("rules", group);
    const n = await this.#eval(
      ADD_RULE,
      [key, this.#key("rule-ids", group)],
      [String(MAX_GROUP_RULES), group, JSON.stringify(set)],
    );
    if (typeof n !== "number" || n < 1) return undefined;
    return { rule: `${group}#${n}`, set: structuredClone(set) };
  }

  async removeGroupRule(group: string, rule: string): Promise<boolean> {
    return await this.#client.hDel(this.#key("rules", group), rule) > 0;
  }

  async #changed(id: string): Promise<void> {
    if (this.#watchers.size === 0) return;
    let record: SessionRecord | null;
    try {
      record = (await this.find(id)) ?? null;
    } catch {
      return;
    }
    for (const watcher of [...this.#watchers]) watcher(structuredClone({ id, record }));
  }

  watch(listener: (change: RegistryChange) => void, signal: AbortSignal): void {
    if (signal.aborted) return;
    this.#watchers.add(listener);
    signal.addEventListener("abort", () => this.#watchers.delete(listener), { once: true });
  }

  publish(topic: string, text: string): Promise<number> {
    return this.#client.publish(this.#key("t", topic), text);
  }

  /**
   * See {@linkcode Registry.subscribe}. While Redis is away, the subscription is made once it
   * is back (and resolves at once).
   */
  async subscribe(
    topic: string,
    listener: (text: string) => void,
    signal: AbortSignal,
  ): Promise<void> {
    if (signal.aborted) return;
    const channel = this.#key("t", topic);
    const each = (text: string) => {
      if (!signal.aborted) listener(text);
    };
    const pending = { channel, each, signal };
    signal.addEventListener("abort", () => {
      this.#pending.delete(pending);
      this.#subscriber.unsubscribe(channel, each).catch(() => {});
    }, { once: true });
    try {
      await this.#subscriber.subscribe(channel, each);
    } catch {
      if (!signal.aborted) this.#pending.add(pending);
    }
  }

  /** Makes the subscriptions asked for while Redis was away. */
  async #subscribePending(): Promise<void> {
    for (const pending of [...this.#pending]) {
      try {
        await this.#subscriber.subscribe(pending.channel, pending.each);
        this.#pending.delete(pending);
      } catch {
        return;
      }
    }
  }

  close(): Promise<void> {
    return this.#closing ??= (async () => {
      clearInterval(this.#renewer);
      this.#watchers.clear();
      try {
        for (const id of new Set([...this.#owned.keys(), ...this.#attended.keys()])) {
          await this.release(id);
        }
        await this.#client.del(this.#key("server", this.server));
      } catch {
        // Redis is away: leases and heartbeat expire by themselves.
      }
      this.#client.destroy();
      this.#subscriber.destroy();
    })();
  }
}

/** Facts read from Redis, checked. */
function checkFacts(value: unknown): SessionFacts {
  if (!isPlainObject(value) || typeof value.created !== "string") throw new Error("no facts");
  const tracer = value.tracer === null ? null : tracerInfoSchema.check(value.tracer, "tracer");
  const { parent, ancestors, keys } = value;
  if (parent !== undefined && typeof parent !== "string") throw new Error("a parent");
  const strings = (v: unknown): v is string[] =>
    Array.isArray(v) && v.length <= 64 && v.every((s) => typeof s === "string");
  if (ancestors !== undefined && !strings(ancestors)) throw new Error("ancestors");
  let checkedKeys: SessionFacts["keys"];
  if (keys !== undefined) {
    if (!isPlainObject(keys)) throw new Error("keys");
    const { resume, tree } = keys;
    if (typeof resume !== "string" || typeof tree !== "string") throw new Error("keys");
    checkedKeys = { resume, tree };
  }
  return {
    created: value.created,
    tracer,
    ...(parent !== undefined ? { parent } : {}),
    ...(ancestors !== undefined ? { ancestors } : {}),
    ...(checkedKeys ? { keys: checkedKeys } : {}),
  };
}

/** A server's clients read from Redis, checked. */
function checkClients(value: unknown): ClientInfo[] {
  if (!Array.isArray(value) || value.length > 10_000) throw new Error("no client list");
  return value.map((c, i) => clientInfoSchema.check(c, `clients[${i}]`));
}
