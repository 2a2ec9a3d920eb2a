/**
 * The snapshots a session keeps: what its snapshot breakpoints captured (stack and values taken
 * at a hit while the program ran on), numbered by the server, listed and fetched by clients
 * that attach later. Bounded per session (count and bytes) and across the server (a budget all
 * sessions share): past a bound the session's oldest go first; a snapshot bigger than a
 * session may keep is sent to the clients there and then, and not kept.
 *
 * @module
 */

import type { Snapshot, SnapshotSummary } from "../protocol/mod.ts";

/** Most snapshots one session keeps. */
export const MAX_SNAPSHOTS_PER_SESSION = 100;
/** Most bytes (of their JSON) one session's snapshots take. */
export const MAX_SNAPSHOT_BYTES_PER_SESSION = 4 * 1024 * 1024;
/** Most bytes all sessions' snapshots take together. */
export const SNAPSHOT_BUDGET_BYTES = 128 * 1024 * 1024;

/** The bytes all sessions' snapshots hold, shared by the stores of one server. */
export interface SnapshotBudget {
  /** Bytes held now. */
  used: number;
  /** The most they may. */
  readonly max: number;
}

interface Kept {
  snapshot: Snapshot;
  bytes: number;
}

/** One session's snapshots. */
export class SnapshotStore {
  readonly #session: string;
  readonly #budget: SnapshotBudget;
  readonly #kept: Kept[] = [];
  #bytes = 0;
  #next = 1;

  /** The store of `session`, drawing on `budget`. */
  constructor(session: string, budget: SnapshotBudget = { used: 0, max: SNAPSHOT_BUDGET_BYTES }) {
    this.#session = session;
    this.#budget = budget;
  }

  /** How many are kept, and their bytes. */
  get size(): { count: number; bytes: number } {
    return { count: this.#kept.length, bytes: this.#bytes };
  }

  /**
   * Numbers a snapshot the tracer sent and keeps it (when it fits): the snapshot as clients
   * get it, with its `id` and `session`.
   */
  add(sent: Snapshot): Snapshot {
    const snapshot: Snapshot = { ...sent, id: this.#next++, session: this.#session };
    const bytes = JSON.stringify(snapshot).length;
    if (bytes > MAX_SNAPSHOT_BYTES_PER_SESSION) return snapshot;
    while (
      this.#kept.length > 0 &&
      (this.#kept.length >= MAX_SNAPSHOTS_PER_SESSION ||
        this.#bytes + bytes > MAX_SNAPSHOT_BYTES_PER_SESSION ||
        this.#budget.used + bytes > this.#budget.max)
    ) this.#dropOldest();
    if (this.#budget.used + bytes > this.#budget.max) return snapshot;
    this.#kept.push({ snapshot, bytes });
    this.#bytes += bytes;
    this.#budget.used += bytes;
    return snapshot;
  }

  /** Every kept snapshot without its values, oldest first. */
  list(): SnapshotSummary[] {
    return this.#kept.map(({ snapshot }) => {
      const top = snapshot.stack[snapshot.stack.length - 1];
      return {
        id: snapshot.id!,
        session: this.#session,
        breakpoint: snapshot.breakpoint,
        time: snapshot.time,
        where: top
          ? { file: top.file, line: top.line, func: top.func }
          : { file: "", line: 0, func: "" },
        ...(snapshot.rule !== undefined ? { rule: snapshot.rule } : {}),
      };
    });
  }

  /** One kept snapshot, whole. */
  get(id: number): Snapshot | undefined {
    return this.#kept.find((k) => k.snapshot.id === id)?.snapshot;
  }

  /** Lets every snapshot go (the session is over here). Idempotent. */
  clear(): void {
    this.#budget.used -= this.#bytes;
    this.#bytes = 0;
    this.#kept.length = 0;
  }

  #dropOldest(): void {
    const gone = this.#kept.shift()!;
    this.#bytes -= gone.bytes;
    this.#budget.used -= gone.bytes;
  }
}
