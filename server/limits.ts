/**
 * The server's resource limits, with their defaults, and the per-address bookkeeping that
 * bounds what unauthenticated peers can cost: connections waiting to authenticate, failed
 * attempts, and the log lines they cause.
 *
 * @module
 */

/** Resource limits of a server; every field is optional and has a default. */
export interface ServerLimits {
  /** Most sessions at once. Default 256. */
  maxSessions?: number;
  /** Most clients attached to one session. Default 32. */
  maxClientsPerSession?: number;
  /**
   * Most live child sessions in one tree (a program's children, theirs...). Past it, a child
   * is refused (`limit`) and runs untraced. Default 128.
   */
  maxChildrenPerTree?: number;
  /**
   * Most connections at once, on both links, authenticated or not. Default 512: under the
   * usual limit of 1,024 open files, so the process never runs out of them.
   */
  maxConnections?: number;
  /** Most connections that have not authenticated yet, from all addresses. Default 64. */
  maxPending?: number;
  /** Most connections that have not authenticated yet, from one address. Default 16. */
  maxPendingPerAddress?: number;
  /** Largest message before authentication, in bytes (or characters). Default 8 KiB. */
  maxPreAuthMessage?: number;
  /**
   * Most bytes queued for one client that does not read; past it the client is dropped (the
   * others never wait). Default 16 MiB.
   */
  maxQueuedBytes?: number;
  /**
   * Most bytes queued for all clients together (a waiting message costs its characters and a
   * little more). Past it, sessions stop taking their tracers' events until their full-access
   * clients catch up (the programs wait, as for a slow terminal), and read-only clients furthest
   * behind are dropped: a flood across many sessions stays bounded, and no client that reads is
   * lost. Past twice it, the full-access clients furthest behind (never the one a session is
   * paced by) are dropped too. Default 256 MiB.
   */
  maxQueuedTotal?: number;
  /**
   * Failed authentications from one address in a window before its next failures are answered
   * late (a growing delay, up to 5 s): the guesser slows down, and a right token from the same
   * address is still accepted at once. Default 10.
   */
  maxAuthFailures?: number;
  /** The window failed authentications are counted in, in ms. Default 60 000. */
  authFailureWindow?: number;
}

/** The default limits. */
export const DEFAULT_LIMITS: Required<ServerLimits> = {
  maxSessions: 256,
  maxClientsPerSession: 32,
  maxChildrenPerTree: 128,
  maxConnections: 512,
  maxPending: 64,
  maxPendingPerAddress: 16,
  maxPreAuthMessage: 8 * 1024,
  maxQueuedBytes: 16 * 1024 * 1024,
  maxQueuedTotal: 256 * 1024 * 1024,
  maxAuthFailures: 10,
  authFailureWindow: 60_000,
};

/** The host part of `host:port`, `[v6]:port` or a bare host. */
export function addressHost(remote: string): string {
  const v6 = /^\[([^\]]+)\]/.exec(remote);
  if (v6) return v6[1]!;
  const colon = remote.lastIndexOf(":");
  return colon > 0 && remote.indexOf(":") === colon ? remote.slice(0, colon) : remote;
}

/** The longest a failed authentication is answered late, in ms. */
export const MAX_AUTH_DELAY_MS = 5000;

interface Failures {
  count: number;
  /** When the window started, in ms. */
  since: number;
  /** Log lines suppressed since the last one written. */
  suppressed: number;
}

/** Counts per address: connections waiting to authenticate and failed attempts. */
export class AddressBook {
  readonly #limits: Required<ServerLimits>;
  readonly #pending = new Map<string, number>();
  readonly #failures = new Map<string, Failures>();
  #pendingTotal = 0;

  /** Counts against these limits. */
  constructor(limits: Required<ServerLimits>) {
    this.#limits = limits;
  }

  /** Connections waiting to authenticate, in all. */
  get pending(): number {
    return this.#pendingTotal;
  }

  /**
   * Takes a pending slot for a new connection from `host`; returns why not when a limit is
   * reached. Give it back with {@linkcode AddressBook.release}.
   */
  admit(host: string): string | undefined {
    if (this.#pendingTotal >= this.#limits.maxPending) {
      return `Too many connections waiting to authenticate (${this.#limits.maxPending})`;
    }
    const mine = this.#pending.get(host) ?? 0;
    if (mine >= this.#limits.maxPendingPerAddress) {
      return `Too many connections from ${host} waiting to authenticate (${this.#limits.maxPendingPerAddress})`;
    }
    this.#pending.set(host, mine + 1);
    this.#pendingTotal++;
    return undefined;
  }

  /** Gives back a slot taken by {@linkcode AddressBook.admit}. */
  release(host: string): void {
    const mine = this.#pending.get(host) ?? 0;
    if (mine <= 1) this.#pending.delete(host);
    else this.#pending.set(host, mine - 1);
    this.#pendingTotal = Math.max(0, this.#pendingTotal - 1);
  }

  /**
   * Records a failed authentication from `host`. Returns whether it should be logged (the
   * first few of a window are, then one line in a hundred, saying how many were left out), and
   * how long to wait before answering it: nothing for the first `maxAuthFailures` of a window,
   * then 250 ms more for each, up to {@linkcode MAX_AUTH_DELAY_MS}.
   */
  fail(host: string, now = Date.now()): { log: boolean; suppressed: number; delay: number } {
    let f = this.#failures.get(host);
    if (!f || now - f.since > this.#limits.authFailureWindow) {
      f = { count: 0, since: now, suppressed: 0 };
      this.#failures.set(host, f);
      // Bound the table itself: forget the oldest address past a large number of them.
      if (this.#failures.size > 10_000) {
        this.#failures.delete(this.#failures.keys().next().value!);
      }
    }
    f.count++;
    const excess = f.count - this.#limits.maxAuthFailures;
    const delay = excess > 0 ? Math.min(excess * 250, MAX_AUTH_DELAY_MS) : 0;
    if (f.count <= 3 || f.suppressed >= 99) {
      const suppressed = f.suppressed;
      f.suppressed = 0;
      return { log: true, suppressed, delay };
    }
    f.suppressed++;
    return { log: false, suppressed: f.suppressed, delay };
  }
}
