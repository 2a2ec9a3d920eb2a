/**
 * Who waits for a transport's write queue to shrink: the `drained(limit)` of every transport
 * that can say, in one place.
 *
 * @example
 * ```ts
 * import { DrainWaiters } from "./drain.ts";
 * let queued = 10;
 * const waiters = new DrainWaiters(() => queued);
 * const done = waiters.wait(5);
 * queued = 0;
 * waiters.wake();
 * await done;
 * ```
 * @module
 */

/**
 * Promises that resolve once the queued bytes are at most their limit, or the link closed. Those
 * who wait for the same limit without a signal share one promise; a wait with a signal is its
 * own, and is let go (resolved) when the signal aborts. A producer that looks again and again (a
 * paced session, every 100 ms) aborts its last look's waits: nothing piles up on a promise that
 * may stay pending for minutes.
 */
export class DrainWaiters {
  readonly #shared = new Map<number, { promise: Promise<void>; resolve: () => void }>();
  readonly #single = new Set<{ limit: number; resolve: () => void }>();
  readonly #queued: () => number;
  #closed = false;

  /** Waiters on `queued()`, the bytes queued now. */
  constructor(queued: () => number) {
    this.#queued = queued;
  }

  /**
   * Resolves once at most `limit` bytes are queued (at once if so already), on close, or when
   * `signal` aborts.
   */
  wait(limit: number, signal?: AbortSignal): Promise<void> {
    if (this.#closed || signal?.aborted || this.#queued() <= limit) return Promise.resolve();
    if (!signal) {
      let waiter = this.#shared.get(limit);
      if (!waiter) {
        const { promise, resolve } = Promise.withResolvers<void>();
        waiter = { promise, resolve };
        this.#shared.set(limit, waiter);
      }
      return waiter.promise;
    }
    const { promise, resolve } = Promise.withResolvers<void>();
    const entry = { limit, resolve };
    this.#single.add(entry);
    signal.addEventListener("abort", () => {
      if (this.#single.delete(entry)) resolve();
    }, { once: true });
    return promise;
  }

  /** Wakes those whose limit is now met (call when the queue shrank). */
  wake(): void {
    if (this.#shared.size === 0 && this.#single.size === 0) return;
    const queued = this.#queued();
    const met = (limit: number) => this.#closed || queued <= limit;
    for (const [limit, waiter] of this.#shared) {
      if (!met(limit)) continue;
      this.#shared.delete(limit);
      waiter.resolve();
    }
    for (const entry of this.#single) {
      if (!met(entry.limit)) continue;
      this.#single.delete(entry);
      entry.resolve();
    }
  }

  /** Wakes everyone: the link closed. Idempotent. */
  close(): void {
    this.#closed = true;
    this.wake();
  }

  /** How many waits are pending (those sharing a limit count once; for tests). */
  get size(): number {
    return this.#shared.size + this.#single.size;
  }
}
