/**
 * A session's replay buffer: what the program printed (and its uncaught exception) while nobody
 * was attached, kept as JSON text for the next client, bounded per session and, through a
 * shared {@linkcode ReplayBudget}, across all sessions of a server.
 *
 * @module
 */

import type { Message } from "../protocol/mod.ts";

/** The bytes kept in all sessions' replay buffers together, shared by the sessions of a server. */
export interface ReplayBudget {
  /** Bytes kept now. */
  used: number;
  /** The most kept at once. */
  readonly max: number;
}

/**
 * Most bytes of output kept while nobody is attached, for the next client (past it, the oldest
 * go): one session's replay buffer.
 */
export const MAX_EARLY_BYTES = 1024 * 1024;
/**
 * Most bytes of recent output a session keeps for a client that asks for it when it attaches
 * beside others (a web page opened while a terminal is attached): its scrollback.
 */
export const MAX_SCROLLBACK_BYTES = 64 * 1024;
/** What one kept message costs besides its JSON text (a string's header, its slot). */
const REPLAY_OVERHEAD_BYTES = 48;

/** One session's replay buffer. */
export class ReplayBuffer {
  /** Messages as JSON text, from `#head` on (a queue without `shift`). */
  #items: { json: string; size: number }[] = [];
  #head = 0;
  #bytes = 0;
  #dropped = 0;
  readonly #budget: ReplayBudget;
  readonly #max: number;

  /**
   * A buffer that counts what it keeps against `budget` (default: its own bound only), at most
   * `max` bytes of it.
   */
  constructor(budget: ReplayBudget = { used: 0, max: Infinity }, max = MAX_EARLY_BYTES) {
    this.#budget = budget;
    this.#max = max;
  }

  /**
   * Keeps `msg` when it is output (a `print` of stdout or stderr) or an `exception`; the oldest
   * kept go past the bounds. `text` is its JSON (`{e, p}`), when the caller has it. Returns the
   * JSON kept, or undefined when it was not kept.
   */
  keep(msg: Message, text?: string): string | undefined {
    const p = typeof msg.p === "object" && msg.p !== null ? msg.p : undefined;
    const input = p && "input" in p ? p.input : undefined;
    const printed = p && "output" in p ? p.output : undefined;
    const output = msg.e === "print" && (input === "<stdout>" || input === "<stderr>");
    if (!output && msg.e !== "exception") return undefined;
    // A print larger than the whole buffer is not even serialised.
    if (output && typeof printed === "string" && printed.length > this.#max) {
      this.#dropped++;
      return undefined;
    }
    // Kept as text: a parsed event costs several objects and strings, three to four times its
    // JSON for a short line, and the budget counts what is held.
    const json = text ?? JSON.stringify({ e: msg.e, p: msg.p });
    const size = json.length + REPLAY_OVERHEAD_BYTES;
    this.#items.push({ json, size });
    this.#bytes += size;
    this.#budget.used += size;
    while (
      (this.#bytes > this.#max || this.#budget.used > this.#budget.max) &&
      this.#head < this.#items.length
    ) {
      const dropped = this.#items[this.#head]!.size;
      this.#items[this.#head++] = { json: "", size: 0 };
      this.#bytes -= dropped;
      this.#budget.used -= dropped;
      this.#dropped++;
    }
    if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return json;
  }

  /**
   * Everything kept (each a message's JSON text), and how many messages were dropped past the
   * bounds; the buffer is empty after.
   */
  take(): { texts: string[]; dropped: number } {
    const texts = this.peek();
    this.drop();
    const dropped = this.#dropped;
    this.#dropped = 0;
    return { texts, dropped };
  }

  /** Everything kept (each a message's JSON text), which stays kept. */
  peek(): string[] {
    return this.#items.slice(this.#head).map((item) => item.json);
  }

  /** Lets go of everything kept. Idempotent. */
  drop(): void {
    this.#items = [];
    this.#head = 0;
    this.#budget.used -= this.#bytes;
    this.#bytes = 0;
  }
}
