/**
 * Admission: what every link goes through before it is a client or a tracer. The connection
 * limits (in all, and per address before authentication), the small message size allowed until
 * then, the wait for `start`, the auth function, and the slowing of guessers.
 *
 * @module
 */

import {
  DEFAULT_MAX_FRAME_SIZE,
  errorEvent,
  MAX_CLIENT_MESSAGE_LENGTH,
  ProtocolError,
} from "../protocol/mod.ts";
import type { Incoming, MessageTransport } from "../transport/transport.ts";
import { type Access, accessOf, type AuthRequest } from "./auth.ts";
import { refuse, type ServerContext } from "./context.ts";
import { addressHost } from "./limits.ts";
import { seconds, SESSION_ID_PATTERN } from "./options.ts";

/** The admission of one server's links. */
export class Admission {
  readonly #ctx: ServerContext;
  /** Links not yet authenticated, with the address whose pending slot each holds. */
  readonly #unauthenticated = new Map<MessageTransport, string>();

  /** The admission of the server of `ctx`. */
  constructor(ctx: ServerContext) {
    this.#ctx = ctx;
  }

  /**
   * Serves one link, tracked until it ends, once the connection limits let it in. A bug must
   * not take the server down: the peer is told (`error` type `internal`) and dropped.
   */
  async serve(
    role: "client" | "tracer",
    transport: MessageTransport,
    serve: () => Promise<void>,
  ): Promise<void> {
    const { pending, book, settings, log } = this.#ctx;
    const max = settings.limits.maxConnections;
    if (pending.size >= max) {
      return refuse(transport, new ProtocolError("limit", `Too many connections (${max})`));
    }
    const host = addressHost(transport.remote);
    const refusal = book.admit(host);
    if (refusal !== undefined) return refuse(transport, new ProtocolError("limit", refusal));
    this.#unauthenticated.set(transport, host);
    transport.setMaxMessageSize?.(settings.limits.maxPreAuthMessage);
    pending.add(transport);
    try {
      await serve();
    } catch (error) {
      log(`${role} ${transport.remote}: internal error: ${error}`);
      transport.send(errorEvent(new ProtocolError("internal", String(error).slice(0, 500))));
      transport.close();
    } finally {
      pending.delete(transport);
      if (this.#unauthenticated.delete(transport)) book.release(host);
    }
  }

  /**
   * The first message of a new link, waited for up to the auth timeout. Undefined when there is
   * none (the link was closed, or refused when time ran out).
   */
  async first(
    transport: MessageTransport,
    incoming: AsyncIterator<Incoming>,
  ): Promise<Incoming | undefined> {
    if (this.#ctx.closed) {
      refuse(transport, new ProtocolError("tracer", "The server is shutting down"));
      return undefined;
    }
    const ms = this.#ctx.settings.authTimeout;
    const first = await firstMessage(incoming, ms);
    if (first === "timeout") {
      refuse(transport, new ProtocolError("auth", `No start message within ${seconds(ms)}`));
      return undefined;
    }
    if (first === undefined) transport.close();
    return first;
  }

  /** Whether `id` may name a session; refuses the link when not. */
  validSessionId(transport: MessageTransport, id: string): boolean {
    if (SESSION_ID_PATTERN.test(id)) return true;
    refuse(
      transport,
      new ProtocolError(
        "session",
        `Session id ${JSON.stringify(id)} is not valid: use 1 to 128 letters, digits or ._:@~- ` +
          "(a child's id adds /PID to its parent's)",
      ),
    );
    return false;
  }

  /** The access an auth function grants, or undefined when it refuses (or fails). */
  async authorize(request: AuthRequest): Promise<Access | undefined> {
    const { settings, log } = this.#ctx;
    const fn = request.role === "tracer" ? settings.tracerAuth : settings.clientAuth;
    try {
      return accessOf(await fn(request));
    } catch (error) {
      log(`auth function failed (refusing): ${error}`);
      return undefined;
    }
  }

  /** Marks a link authenticated: its pending slot is freed and full-size messages allowed. */
  authenticated(transport: MessageTransport, role: "client" | "tracer"): void {
    const host = this.#unauthenticated.get(transport);
    if (host !== undefined) {
      this.#unauthenticated.delete(transport);
      this.#ctx.book.release(host);
    }
    transport.setMaxMessageSize?.(
      role === "client" ? MAX_CLIENT_MESSAGE_LENGTH : DEFAULT_MAX_FRAME_SIZE,
    );
  }

  /**
   * Refuses a link that failed to authenticate. The log says so, but not a thousand times a
   * second; past the address's allowance the answer comes late, which slows a guesser (and
   * only a guesser: a right token is never waited on).
   */
  async failed(transport: MessageTransport, what: string): Promise<void> {
    const { log, suppressed, delay } = this.#ctx.book.fail(addressHost(transport.remote));
    if (log) {
      const more = suppressed > 0 ? ` (and ${suppressed} more from that address)` : "";
      this.#ctx.log(`${what} ${transport.remote} failed to authenticate${more}`);
    }
    if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay));
    const why = delay > 0
      ? `Authentication failed (answered ${
        seconds(delay)
      } late: too many failures from this address)`
      : "Authentication failed";
    refuse(transport, new ProtocolError("auth", why));
  }
}

/** First message of a link, or undefined when the link closed or time ran out. */
async function firstMessage(
  incoming: AsyncIterator<Incoming>,
  ms: number,
): Promise<Incoming | undefined | "timeout"> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<"timeout">((resolve) => timer = setTimeout(resolve, ms, "timeout"));
  try {
    const result = await Promise.race([incoming.next(), timeout]);
    if (result === "timeout") return result;
    return result.done ? undefined : result.value;
  } finally {
    clearTimeout(timer);
  }
}
