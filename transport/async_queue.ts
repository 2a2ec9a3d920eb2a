/**
 * A single-consumer async queue: push items, end it, iterate them in order. The link between
 * code that produces messages as they arrive and code that consumes them with `for await`.
 *
 * @example
 * ```ts
 * import { AsyncQueue } from "./async_queue.ts";
 * const queue = new AsyncQueue<number>();
 * queue.push(1);
 * queue.end();
 * for await (const n of queue) console.log(n); // 1
 * ```
 * @module
 */

/** Options of an {@linkcode AsyncQueue}. */
export interface AsyncQueueOptions<T> {
  /**
   * The weight of items held (each counts 1 unless pushed with a weight, such as its bytes)
   * before {@linkcode AsyncQueue.room} makes producers wait (they resume once the consumer has
   * taken it down to half). Default: no limit.
   */
  highWater?: number;
  /** Called with each item the consumer takes. */
  onTake?: (item: T) => void;
}

/** A single-consumer async queue: push items, end it, iterate them in order. */
export class AsyncQueue<T> implements AsyncIterable<T> {
  #items: T[] = [];
  /** The weight of each item in `#items`, in the same order. */
  #weights: number[] = [];
  #weight = 0;
  #ended = false;
  #waiter: ((result: IteratorResult<T>) => void) | undefined;
  readonly #highWater: number;
  readonly #onTake: ((item: T) => void) | undefined;
  #roomWaiters: (() => void)[] = [];

  /** A queue; `options.highWater` bounds what producers that wait for {@linkcode room} add. */
  constructor(options: AsyncQueueOptions<T> = {}) {
    this.#highWater = options.highWater ?? Infinity;
    this.#onTake = options.onTake;
  }

  /**
   * Resolves when a producer may push more: at once below the high-water mark, else once the
   * consumer has taken the queue down to half of it, or the queue has ended. Producers that
   * await it before each push (reading a socket or a pipe) keep the queue bounded, and the
   * waiting propagates to whoever writes to them.
   */
  room(): Promise<void> {
    if (this.#weight < this.#highWater || this.#ended) return Promise.resolve();
    return new Promise((resolve) => this.#roomWaiters.push(resolve));
  }

  /**
   * Adds an item of a `weight` (default 1; bytes, for a queue bounded in bytes); ignored after
   * {@linkcode end}.
   */
  push(item: T, weight = 1): void {
    if (this.#ended) return;
    const waiter = this.#waiter;
    if (waiter) {
      this.#waiter = undefined;
      this.#onTake?.(item);
      waiter({ value: item, done: false });
    } else {
      this.#items.push(item);
      this.#weights.push(weight);
      this.#weight += weight;
    }
  }

  /** The weight of the items pushed and not yet taken. */
  get weight(): number {
    return this.#weight;
  }

  /** Ends the queue: items already pushed are still delivered. Idempotent. */
  end(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#wakeProducers();
    const waiter = this.#waiter;
    this.#waiter = undefined;
    waiter?.({ value: undefined, done: true });
  }

  /** True once ended. */
  get ended(): boolean {
    return this.#ended;
  }

  /** Items pushed but not yet taken. */
  get size(): number {
    return this.#items.length;
  }

  /** The next item, or done when ended and drained. */
  next(): Promise<IteratorResult<T>> {
    if (this.#items.length > 0) {
      const item = this.#items.shift()!;
      this.#weight -= this.#weights.shift()!;
      this.#onTake?.(item);
      if (this.#roomWaiters.length > 0 && this.#weight <= this.#highWater / 2) {
        this.#wakeProducers();
      }
      return Promise.resolve({ value: item, done: false });
    }
    if (this.#ended) return Promise.resolve({ value: undefined, done: true });
    if (this.#waiter) throw new Error("AsyncQueue has a single consumer");
    return new Promise((resolve) => this.#waiter = resolve);
  }

  #wakeProducers(): void {
    for (const resolve of this.#roomWaiters.splice(0)) resolve();
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    return {
      next: () => this.next(),
      return: () => {
        this.end();
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }
}
