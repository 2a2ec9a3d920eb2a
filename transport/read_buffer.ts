/**
 * A connection's read buffer that starts small and grows while reads fill it: an idle peer
 * (most clients: a command now and then) costs 4 KiB, not 64, and a busy one (a tracer in a
 * flood) reads 64 KiB at a time. A thousand sessions hold thousands of connections, each with
 * a read always pending on its buffer.
 *
 * @module
 */

/** The first size of a read buffer. */
export const FIRST_READ_SIZE = 4 * 1024;
/** The most a read buffer grows to. */
export const MAX_READ_SIZE = 64 * 1024;

/** A read buffer that doubles (up to {@linkcode MAX_READ_SIZE}) each time a read fills it. */
export class ReadBuffer {
  #bytes = new Uint8Array(FIRST_READ_SIZE);

  /** The buffer to read into next. */
  get bytes(): Uint8Array {
    return this.#bytes;
  }

  /**
   * The bytes a read of `n` filled in. Call before the next read: after a full read, the next
   * one is into a larger buffer (the view returned stays valid).
   */
  filled(n: number): Uint8Array {
    const view = this.#bytes.subarray(0, n);
    if (n === this.#bytes.length && n < MAX_READ_SIZE) {
      this.#bytes = new Uint8Array(Math.min(MAX_READ_SIZE, n * 2));
    }
    return view;
  }
}
