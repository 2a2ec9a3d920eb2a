/**
 * A client's reply tracker, one for every kind of link (a session's, a group's): the commands
 * waiting for their reply, each resolved by the first checked event with its id and one of
 * the names it waits for, or rejected by an `error` with its id or the link's end.
 *
 * @module
 */

import type { ClientEvent, GroupLinkEvent } from "../protocol/mod.ts";
import { CommandError } from "./errors.ts";

interface Pending<E> {
  command: string;
  replies: ReadonlySet<string>;
  resolve: (msg: E) => void;
  reject: (error: Error) => void;
}

/** The commands of one link that wait for their reply. */
export class ReplyTracker<E extends ClientEvent | GroupLinkEvent> {
  readonly #pending = new Map<number, Pending<E>>();
  /** The events that answered a waiting command (its promise has them). */
  readonly #answers = new WeakSet<object>();

  /** Waits for the reply to the command sent with `id`: an event named in `replies`. */
  wait(id: number, command: string, replies: ReadonlySet<string>): Promise<E> {
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { command, replies, resolve, reject });
    });
  }

  /** The command sent with `id` will get no reply (it could not be sent): it fails so. */
  fail(id: number, error: Error): void {
    this.#pending.get(id)?.reject(error);
    this.#pending.delete(id);
  }

  /**
   * Takes an event: when it answers a waiting command (its reply, or an `error` with its id),
   * settles that command's promise and says so.
   */
  take(msg: E): boolean {
    if (typeof msg.id !== "number") return false;
    const pending = this.#pending.get(msg.id);
    if (!pending) return false;
    const known: ClientEvent | GroupLinkEvent = msg;
    if (known.e === "error" && known.p) {
      this.#pending.delete(msg.id);
      this.#answers.add(msg);
      pending.reject(new CommandError(pending.command, known.p));
      return true;
    }
    if (pending.replies.has(msg.e)) {
      this.#pending.delete(msg.id);
      this.#answers.add(msg);
      pending.resolve(msg);
      return true;
    }
    return false;
  }

  /** Whether `event` answered a waiting command. */
  isAnswer(event: object): boolean {
    return this.#answers.has(event);
  }

  /** The link ended: every waiting command fails with `error`. */
  close(error: Error): void {
    for (const pending of this.#pending.values()) pending.reject(error);
    this.#pending.clear();
  }
}
