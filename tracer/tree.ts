/**
 * The sessions of one launch (the program's and its children's), as the tracer relays them.
 *
 * @module
 */

import { COMMANDS, type Message } from "../protocol/mod.ts";

/** A relayed session, as the tree knows it. */
export interface TreeMember {
  /** Its session id. */
  readonly session: string;
  /** Sends a command to its core, as a client would (without an id: no reply). */
  send(command: Message): void;
}

/**
 * The sessions of one launch, by id, with their parents: a command a client sends one of them
 * with `children: true` (`set_break`) reaches its live descendants too.
 */
export class SessionTree<T extends TreeMember = TreeMember> {
  /** Each live session, with the ids it descends from (its parent first), kept when it joined. */
  readonly #relays = new Map<string, { relay: T; ancestors: string[] }>();

  /** A session joins, with its parent's id (none for the program's). */
  add(relay: T, parent: string | undefined): void {
    const ancestors = parent === undefined
      ? []
      : [parent, ...(this.#relays.get(parent)?.ancestors ?? [])];
    this.#relays.set(relay.session, { relay, ancestors });
  }

  /** A session ended (its descendants stay descendants of its ancestors). */
  remove(relay: T): void {
    if (this.#relays.get(relay.session)?.relay === relay) this.#relays.delete(relay.session);
  }

  /** The live sessions that descend from `session`. */
  descendants(session: string): T[] {
    return [...this.#relays.values()]
      .filter(({ ancestors }) => ancestors.includes(session))
      .map(({ relay }) => relay);
  }

  /**
   * A client's command to `session`, before it goes to its core: a `set_break` for the
   * children too goes to each live descendant as well (without the client's id: the child's
   * answer is its own clients'). Returns the command for `session` itself.
   */
  command(session: string, command: Message): Message {
    if (command.e !== "set_break") return command;
    let spec;
    try {
      // Checked by the server already; read again here, typed.
      spec = COMMANDS.set_break.payload.check(command.p, "payload");
    } catch {
      return command; // its core refuses it, saying why
    }
    const { children, ...p } = spec;
    if (children === undefined) return command;
    if (children === true) {
      for (const relay of this.descendants(session)) relay.send({ e: "set_break", p });
    }
    return { ...command, p };
  }
}
