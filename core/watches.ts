/**
 * The watchlist, kept by the core for every engine: expressions the clients watch, and their
 * values at the last stop. The engine only evaluates (`evaluate` in the `watch` context); when to
 * refresh and what clients are sent is decided here.
 *
 * @example
 * ```ts
 * import { Watches } from "./watches.ts";
 * const watches = new Watches();
 * watches.add(["total"]);
 * await watches.refresh((exprs) => Promise.resolve(exprs.map(() => ({ exc: false, value: "42" }))));
 * watches.list(); // [{ expr: "total", exc: false, value: "42" }]
 * ```
 * @module
 */

import type { Watch } from "../protocol/mod.ts";

/** Most watched expressions at once. */
export const MAX_WATCHES = 100;

/** What a watch shows until the program stops again. */
export const NOT_EVALUATED = "<not evaluated yet: the program runs>";

/** A watch the engine gave no value for. */
const NO_ANSWER = { exc: true, value: "<qdb: the engine gave no value>" };

/** Thrown by {@linkcode Watches.add} past {@linkcode MAX_WATCHES}. */
export class WatchLimitError extends RangeError {
  /** `count` watches are set already. */
  constructor(count: number) {
    super(`At most ${MAX_WATCHES} watched expressions; ${count} are set`);
    this.name = "WatchLimitError";
  }
}

/** The watched expressions, in the order they were added, with their last values. */
export class Watches {
  readonly #values = new Map<string, { exc: boolean; value: string }>();

  /** How many expressions are watched. */
  get size(): number {
    return this.#values.size;
  }

  /**
   * Watches these expressions too (ones already watched are not added twice).
   *
   * @throws {WatchLimitError} when that would be more than {@linkcode MAX_WATCHES}.
   */
  add(exprs: readonly string[]): void {
    const fresh = [...new Set(exprs)].filter((expr) => !this.#values.has(expr));
    if (this.#values.size + fresh.length > MAX_WATCHES) {
      throw new WatchLimitError(this.#values.size);
    }
    for (const expr of fresh) this.#values.set(expr, { exc: false, value: NOT_EVALUATED });
  }

  /** Stops watching these expressions (unknown ones are ignored). */
  remove(exprs: readonly string[]): void {
    for (const expr of exprs) this.#values.delete(expr);
  }

  /** The watched expressions, in order. */
  exprs(): string[] {
    return [...this.#values.keys()];
  }

  /**
   * Takes values the engine computed for `exprs` (at a stop, before sending it); false when
   * they are not for the current watches (the list changed meanwhile), and nothing is taken.
   */
  take(exprs: readonly string[], values: readonly { exc: boolean; value: string }[]): boolean {
    const mine = this.exprs();
    if (exprs.length !== mine.length || exprs.some((e, i) => e !== mine[i])) return false;
    if (values.length !== exprs.length) return false;
    exprs.forEach((expr, i) => this.#values.set(expr, values[i]!));
    return true;
  }

  /**
   * Evaluates every watch again with `evaluate`, which takes them all (one round trip to the
   * engine per stop, not one per watch) and says for each the value or the exception.
   */
  async refresh(
    evaluate: (exprs: string[]) => Promise<{ exc: boolean; value: string }[]>,
  ): Promise<void> {
    const exprs = [...this.#values.keys()];
    if (exprs.length === 0) return;
    const results = await evaluate(exprs);
    exprs.forEach((expr, i) => {
      // A watch removed meanwhile stays removed.
      if (this.#values.has(expr)) this.#values.set(expr, results[i] ?? NO_ANSWER);
    });
  }

  /** The watchlist as clients get it. */
  list(): Watch[] {
    return [...this.#values].map(([expr, { exc, value }]) => ({ expr, exc, value }));
  }
}
