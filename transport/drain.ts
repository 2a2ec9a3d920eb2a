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

/** Promises that resolve once the queued bytes are at most their limit, or the link closed. */
export class DrainWaiters {
  #waiters: { limit: number; resolve: () => void }[] = [];
  readonly #queued: () => number;
  #closed = false;

  /** Waiters on `queued()`, the bytes queued now. */
  constructor(queued: () => number) {
    this.#queued = queued;
  }

  /** Resolves once at most `limit` bytes are queued (at once if so already), or on close. */
  wait(limit: number): Promise<void> {
    if (this.#closed || this.#queued() <= limit) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push({ limit, resolve }));
  }

  /** Looks again: call it when the queue shrank. */
  wake(): void {
    if (this.#waiters.length === 0) return;
    const queued = this.#queued();
    this.#waiters = this.#waiters.filter((w) => {
      if (queued > w.limit && !this.#closed) return true;
      w.resolve();
      return false;
    });
  }

  /** The link closed: every waiter resolves, and later ones at once. Idempotent. */
  close(): void {
    this.#closed = true;
    this.wake();
  }
}
