/**
 * Reads a transport in the background and lets a test wait for the next message matching a
 * name and predicate. Waiting has a hang guard (so a broken test fails instead of hanging);
 * it is not a speed assertion.
 *
 * @module
 */
import type { Message, MessageId } from "../../protocol/mod.ts";
import type { MessageTransport } from "../../transport/transport.ts";

/** How long `expect` waits before failing the test with what it saw. */
export const HANG_GUARD_MS = 30_000;

/** A received message, its payload loosely typed for assertions. */
export interface Received {
  e: string;
  // deno-lint-ignore no-explicit-any
  p?: any;
  id?: MessageId;
}

/** Messages received on a transport, with a cursor for `expect`. */
export class Inbox {
  readonly seen: Message[] = [];
  readonly errors: string[] = [];
  #cursor = 0;
  readonly #waiters = new Set<() => void>();
  #ended = false;
  readonly done: Promise<void>;

  constructor(readonly transport: MessageTransport) {
    this.done = (async () => {
      for await (const item of transport.incoming) {
        if ("error" in item) this.errors.push(item.error.message);
        else this.seen.push(item.message);
        this.#wakeAll();
      }
      this.#ended = true;
      this.#wakeAll();
    })();
  }

  /** True once the transport has closed and every message was read. */
  get ended(): boolean {
    return this.#ended;
  }

  /**
   * The next message after the cursor named `e` (and matching `where`); moves the cursor past
   * it. Rejects if the link ends first or after the hang guard.
   */
  async expect(
    e: string | string[],
    // deno-lint-ignore no-explicit-any
    where: (p: any) => boolean = () => true,
  ): Promise<Received> {
    const deadline = Date.now() + HANG_GUARD_MS;
    while (true) {
      for (let i = this.#cursor; i < this.seen.length; i++) {
        const msg = this.seen[i]!;
        if ((typeof e === "string" ? msg.e === e : e.includes(msg.e)) && where(msg.p)) {
          this.#cursor = i + 1;
          return msg;
        }
      }
      if (this.#ended) throw new Error(`Link ended before "${e}"; saw ${this.#describe()}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`No "${e}" within the hang guard; saw ${this.#describe()}`);
      await this.#next(left);
    }
  }

  /**
   * The first message named one of `e` that carries `id`, wherever it is (the cursor does not
   * move: replies by id may come in any order). Rejects as `expect` does.
   */
  async expectId(id: MessageId, e: string[]): Promise<Received> {
    const deadline = Date.now() + HANG_GUARD_MS;
    while (true) {
      const found = this.seen.find((msg) => msg.id === id && e.includes(msg.e));
      if (found) return found;
      if (this.#ended) {
        throw new Error(`Link ended before a reply to ${id}; saw ${this.#describe()}`);
      }
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(`No reply to ${id} within the hang guard; saw ${this.#describe()}`);
      }
      await this.#next(left);
    }
  }

  /** Messages after the cursor, without moving it. */
  rest(): Message[] {
    return this.seen.slice(this.#cursor);
  }

  /** Waits until the link has closed. */
  async closed(): Promise<void> {
    await this.done;
  }

  /** Resolves at the next message, the end of the link, or after `ms`. */
  #next(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.#waiters.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.#waiters.add(wake);
    });
  }

  #wakeAll(): void {
    for (const wake of [...this.#waiters]) wake();
  }

  #describe(): string {
    return JSON.stringify(this.seen.slice(-15)).slice(0, 3000);
  }
}
