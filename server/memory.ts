/**
 * Giving memory back. V8 collects large garbage lazily: a tracer that sends big prints leaves
 * hundreds of megabytes of dead strings and buffers that only a full collection frees, and none
 * comes while the server is idle, so what a burst took is kept after its session ended. So the
 * server asks V8 for a collection after every {@linkcode RECLAIM_AFTER_BYTES} of large messages
 * and shortly after a session ends or a client is dropped, at most four times a second, and
 * never more than one twentieth of the time: a collection is timed, and the next waits twenty
 * times as long (one of a small heap takes milliseconds; of a heap a flood grew, a second, and
 * back to back they would leave the server no time for anything else). After the collection,
 * the C library is asked to give its free pages back. The reader of large messages waits for
 * that collection, so a burst's peak does not depend on when V8 or the pause lets one run
 * (measured: 40 prints of 15 MiB peaked at 335 MiB with the pause alone, 250 with the wait). Measured by
 * `tests/liveness_test.ts` and `bench/capacity.ts`.
 *
 * @module
 */

import v8 from "node:v8";
import vm from "node:vm";

/**
 * Bytes of large messages after which a collection is asked for, and their reader waits for it
 * (each such message leaves three or four copies of itself as garbage: the bytes read, the text
 * decoded, the string parsed, the one sent on).
 */
export const RECLAIM_AFTER_BYTES = 16 * 1024 * 1024;
/** The shortest time between two collections, in ms. */
const MIN_INTERVAL_MS = 250;
/** The time after a collection before the next, as a multiple of how long it took. */
const PAUSE_FACTOR = 20;

/** Asks V8 for a full collection when much has become garbage; see the module's doc. */
export class Reclaimer {
  readonly #gc: (() => void) | null;
  readonly #now: () => number;
  #bytes = 0;
  /** The earliest time the next collection may start. */
  #next = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** Settled by the next collection (or close), for readers that wait for it. */
  #collected: PromiseWithResolvers<void> | undefined;

  /**
   * A reclaimer using `gc` (default: the runtime's full collection, when it exposes one, then
   * the C library's trim; `null`: none), timed by `now` (default `performance.now`, in ms).
   */
  constructor(
    gc: (() => void) | null = collectAndTrim() ?? null,
    now: () => number = () => performance.now(),
  ) {
    this.#gc = gc;
    this.#now = now;
  }

  /**
   * Notes a large message of `bytes` (now garbage, or soon). Returns a promise when
   * {@linkcode RECLAIM_AFTER_BYTES} of them wait for a collection: their reader awaits it, so
   * what they leave is bounded whatever the pace of collections (settled by the collection, or
   * by {@linkcode Reclaimer.close}).
   */
  note(bytes: number): Promise<void> | undefined {
    if (!this.#gc) return undefined;
    this.#bytes += bytes;
    if (this.#bytes >= RECLAIM_AFTER_BYTES) this.soon(0);
    if (this.#bytes < RECLAIM_AFTER_BYTES || this.#timer === undefined) return undefined;
    this.#collected ??= Promise.withResolvers<void>();
    return this.#collected.promise;
  }

  /**
   * Asks for a collection in `delay` ms (a session ended, a client was dropped), or later when
   * the last one was recent or slow. Returns the ms until it runs (undefined without `gc`, or
   * when one is asked for already).
   */
  soon(delay: number = MIN_INTERVAL_MS): number | undefined {
    if (!this.#gc || this.#timer !== undefined) return undefined;
    const wait = Math.max(delay, this.#next - this.#now(), 0);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#bytes = 0;
      const start = this.#now();
      this.#gc!();
      const end = this.#now();
      this.#next = end + Math.max(MIN_INTERVAL_MS, PAUSE_FACTOR * (end - start));
      this.#settle();
    }, wait);
    // Never what keeps a process alive.
    Deno.unrefTimer(this.#timer as unknown as number);
    return wait;
  }

  /** Cancels a collection asked for, and lets every reader waiting for one go on. Idempotent. */
  close(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#settle();
  }

  #settle(): void {
    this.#collected?.resolve();
    this.#collected = undefined;
  }
}

/**
 * A full collection, then glibc's `malloc_trim(0)` where there is one (Linux, with the FFI
 * permission `qdb serve` has): the buffers a flood allocated through the C library are freed by
 * the collection, but the allocator keeps the pages (measured: 648 MB resident with 11 MB of
 * heap, 64 MB after a trim).
 */
function collectAndTrim(): (() => void) | undefined {
  const gc = exposedGc();
  if (!gc) return undefined;
  const trim = mallocTrim();
  return trim
    ? () => {
      gc();
      trim();
    }
    : gc;
}

/** glibc's `malloc_trim(0)`, or undefined where it cannot be had. */
function mallocTrim(): (() => void) | undefined {
  if (Deno.build.os !== "linux") return undefined;
  try {
    const libc = Deno.dlopen("libc.so.6", {
      malloc_trim: { parameters: ["usize"], result: "i32" },
    });
    return () => void libc.symbols.malloc_trim(0n);
  } catch {
    // No glibc (musl), or no FFI permission.
    return undefined;
  }
}

/**
 * The runtime's `gc`: the global one when the process was started with `--expose-gc`, else
 * one taken from a new `node:vm` context after setting the flag (as Node programs do). Undefined
 * where neither works.
 */
function exposedGc(): (() => void) | undefined {
  const global = (globalThis as { gc?: unknown }).gc;
  if (typeof global === "function") return global as () => void;
  try {
    v8.setFlagsFromString("--expose-gc");
    const gc = vm.runInNewContext("gc");
    return typeof gc === "function" ? gc as () => void : undefined;
  } catch {
    return undefined;
  }
}
