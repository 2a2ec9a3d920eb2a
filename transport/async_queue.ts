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

/** A single-consumer async queue: push items, end it, iterate them in order. */
export class AsyncQueue<T> implements AsyncIterable<T> {
  #items: T[] = [];
  #ended = false;
  #waiter: ((result: IteratorResult<T>) => void) | undefined;

  /** Adds an item; ignored after {@linkcode end}. */
  push(item: T): void {
    if (this.#ended) return;
    const waiter = this.#waiter;
    if (waiter) {
      this.#waiter = undefined;
      waiter({ value: item, done: false });
    } else this.#items.push(item);
  }

  /** Ends the queue: items already pushed are still delivered. Idempotent. */
  end(): void {
    if (this.#ended) return;
    this.#ended = true;
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
      return Promise.resolve({ value: this.#items.shift()!, done: false });
    }
    if (this.#ended) return Promise.resolve({ value: undefined, done: true });
    if (this.#waiter) throw new Error("AsyncQueue has a single consumer");
    return new Promise((resolve) => this.#waiter = resolve);
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
