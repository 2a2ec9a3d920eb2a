/**
 * In-memory transports: a linked pair, for tests and for joining parts of one process
 * without a socket.
 *
 * @example
 * ```ts
 * import { memoryPair } from "./memory.ts";
 * const [a, b] = memoryPair();
 * a.send({ e: "step" });
 * for await (const item of b.incoming) {
 *   console.log(item); // { message: { e: "step" } }
 *   break;
 * }
 * a.close();
 * ```
 * @module
 */

import type { Message } from "../protocol/mod.ts";
import { AsyncQueue } from "./async_queue.ts";
import type { Incoming, MessageTransport } from "./transport.ts";

class MemoryTransport implements MessageTransport {
  /** Each item's size, to count what the peer sent and this side has not taken yet. */
  readonly #sizes = new WeakMap<Incoming, number>();
  readonly incoming: AsyncQueue<Incoming> = new AsyncQueue<Incoming>({
    onTake: (item) => {
      if (this.peer) this.peer.#queued -= this.#sizes.get(item) ?? 0;
    },
  });
  readonly remote: string;
  peer: MemoryTransport | undefined;
  #closed = false;
  /** Bytes (of JSON) sent and not yet taken by the peer's consumer. */
  #queued = 0;
  #resolveClosed!: () => void;
  readonly closed = new Promise<void>((resolve) => this.#resolveClosed = resolve);

  constructor(remote: string) {
    this.remote = remote;
  }

  get isClosed(): boolean {
    return this.#closed;
  }

  /** Bytes (of JSON) sent and not yet taken by the peer's consumer, as a socket's buffer. */
  get queuedBytes(): number {
    return this.#queued;
  }

  send(msg: Message): boolean {
    if (this.#closed || !this.peer || this.peer.isClosed) return false;
    // A structured clone, as a real link would serialise it: the receiver cannot alias ours.
    const item = { message: structuredClone(msg) };
    const size = JSON.stringify(msg).length;
    this.peer.#sizes.set(item, size);
    this.#queued += size;
    this.peer.incoming.push(item);
    return true;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.incoming.end();
    this.#resolveClosed();
    this.peer?.close();
  }

  [Symbol.asyncDispose](): Promise<void> {
    this.close();
    return this.closed;
  }
}

/** Two transports linked to each other: what one sends, the other receives. */
export function memoryPair(names: [string, string] = ["memory:a", "memory:b"]): [
  MessageTransport,
  MessageTransport,
] {
  const a = new MemoryTransport(names[1]);
  const b = new MemoryTransport(names[0]);
  a.peer = b;
  b.peer = a;
  return [a, b];
}
