/**
 * Giving memory back. V8 collects large garbage lazily: a tracer that sends big prints leaves
 * hundreds of megabytes of dead strings and buffers that only a full collection frees, and none
 * comes while the server is idle, so what a burst took is kept after its session ended. So the
 * server asks V8 for a collection after every {@linkcode RECLAIM_AFTER_BYTES} of large messages
 * and shortly after a session ends or a client is dropped, at most four times a second (a full
 * collection of the server's small live heap takes milliseconds). Measured by
 * `tests/liveness_test.ts` and `bench/capacity.ts`.
 *
 * @module
 */

import v8 from "node:v8";
import vm from "node:vm";

/** Bytes of large messages after which a collection is asked for. */
export const RECLAIM_AFTER_BYTES = 32 * 1024 * 1024;
/** The shortest time between two collections, in ms. */
const MIN_INTERVAL_MS = 250;

/** Asks V8 for a full collection when much has become garbage; see the module's doc. */
export class Reclaimer {
  readonly #gc: (() => void) | undefined;
  #bytes = 0;
  #last = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;

  /** A reclaimer using `gc` (default: the global one, when the runtime exposes it). */
  constructor(gc: (() => void) | undefined = exposedGc()) {
    this.#gc = gc;
  }

  /** Notes a large message of `bytes` (now garbage, or soon). */
  note(bytes: number): void {
    if (!this.#gc) return;
    this.#bytes += bytes;
    if (this.#bytes >= RECLAIM_AFTER_BYTES) this.soon(0);
  }

  /** Asks for a collection in `delay` ms (a session ended, a client was dropped). */
  soon(delay = MIN_INTERVAL_MS): void {
    if (!this.#gc || this.#timer !== undefined) return;
    const wait = Math.max(delay, this.#last + MIN_INTERVAL_MS - Date.now(), 0);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#last = Date.now();
      this.#bytes = 0;
      this.#gc!();
    }, wait);
    // Never what keeps a process alive.
    Deno.unrefTimer(this.#timer as unknown as number);
  }

  /** Cancels a collection asked for. Idempotent. */
  close(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
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
