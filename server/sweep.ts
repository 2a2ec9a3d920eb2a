/**
 * The sweep of unread bytes: every {@linkcode SWEEP_MS} while sessions exist, it drops clients
 * that stalled for `clientStall`, and holds all clients together to `maxQueuedTotal`.
 *
 * @module
 */

import type { ServerContext } from "./context.ts";
import { seconds } from "./options.ts";
import { type ClientPeer, PACE_BYTES, type Session } from "./session.ts";

/** How often the unread bytes of all clients are summed (`maxQueuedTotal`). */
const SWEEP_MS = 100;
const SECOND = 1000;

/** The sweep of one server's clients. */
export class QueueSweeper {
  readonly #ctx: ServerContext;
  #timer: ReturnType<typeof setInterval> | undefined;
  /** When the sweep last ran (ms), to tell how late the next one is. */
  #last = 0;
  /** When the pressure's last change was logged (at most one a second). */
  #logged = 0;

  /** The sweep of the sessions of `ctx`. */
  constructor(ctx: ServerContext) {
    this.#ctx = ctx;
  }

  /** Runs the sweep, unless it runs already; it stops itself when no session is left. */
  start(): void {
    this.#timer ??= setInterval(() => this.#sweep(), SWEEP_MS);
  }

  /** Stops the sweep. Idempotent. */
  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.#last = 0;
    this.#ctx.pressure.over = false;
  }

  /**
   * Drops stalled clients, and holds all clients together to `maxQueuedTotal`. Past it, sessions
   * wait for their full-access clients (the shared pressure flag, see `Session.paced`), so what
   * is queued only shrinks and no client that reads is lost; read-only clients, which never
   * hold a session back, are dropped furthest behind first. Only past twice the bound (large
   * messages taken just before the pressure was seen) are full-access clients dropped, furthest
   * behind first, never a session's least behind.
   */
  #sweep(): void {
    const ctx = this.#ctx;
    if (ctx.sessions.size === 0 || ctx.closed) return this.stop();
    const now = Date.now();
    // Time the server itself could not run (a flood, a long collection) is nobody's stall: the
    // stall clocks move on by it.
    const lag = this.#last === 0 ? 0 : Math.max(0, now - this.#last - 2 * SWEEP_MS);
    this.#last = now;
    let total = 0;
    const behind: { session: Session; client: ClientPeer; queued: number }[] = [];
    for (const session of ctx.sessions.values()) {
      const paced = session.leastBehind();
      for (const client of [...session.clients.values()]) {
        const queued = client.transport.queuedBytes ?? 0;
        if (lag > 0 && client.progress) client.progress.since += lag;
        if (this.#stalled(client, queued, now)) {
          this.#dropStalled(session, client, queued);
          continue;
        }
        total += queued;
        if (client !== paced && queued > 0) behind.push({ session, client, queued });
      }
    }
    this.#setPressure(total, now);
    const max = ctx.settings.limits.maxQueuedTotal;
    if (total <= max) return;
    behind.sort((a, b) => b.queued - a.queued);
    for (const { session, client, queued } of behind) {
      if (total <= max) break;
      if (client.access !== "read-only" && total <= 2 * max) continue;
      ctx.dropSlowClient(session, client, "all clients together");
      total -= queued;
    }
  }

  /** Sets the shared pressure flag from the clients' `total` unread, logging changes. */
  #setPressure(total: number, now: number): void {
    const { pressure, settings, log } = this.#ctx;
    const max = settings.limits.maxQueuedTotal;
    // Some room below the bound before sessions go on, so they do not flap at its edge.
    const over = total > (pressure.over ? max * 0.9 : max);
    if (over !== pressure.over && now - this.#logged >= SECOND) {
      this.#logged = now;
      log(
        over
          ? `clients have ${total} bytes unread together (limit ${max}): sessions wait for them`
          : `clients have ${total} bytes unread together: sessions go on`,
      );
    }
    pressure.over = over;
  }

  /**
   * Whether a client has made no progress for `clientStall`: it has enough unread to hold its
   * session back ({@linkcode PACE_BYTES}), and nothing more has been written to it (where its
   * transport can tell; else its unread bytes have not gone down). A peer that went to sleep,
   * lost its link without a reset, or never reads; never one that reads while the server queues
   * faster than it writes.
   */
  #stalled(client: ClientPeer, queued: number, now: number): boolean {
    const written = client.transport.writtenBytes;
    const progress = client.progress;
    // Only a client that holds the program back is judged: one with less unread than a
    // session waits for costs nobody anything (the heartbeat and TCP see to a dead one).
    if (queued < PACE_BYTES || !progress) {
      client.progress = { queued, written, kernel: undefined, since: now };
      return false;
    }
    // Read only when the rest says nothing moved (the kernel's table is read at most twice a
    // second, and only while some client looks stalled).
    const moved = written !== undefined ? written !== progress.written : queued < progress.queued;
    const kernel = moved ? undefined : client.transport.kernelQueuedBytes;
    if (
      moved ||
      (kernel !== undefined && progress.kernel !== undefined && kernel < progress.kernel)
    ) {
      // A slow reader: the kernel's queue for it goes down while the server's writes wait.
      client.progress = { queued, written, kernel, since: now };
      return false;
    }
    progress.kernel ??= kernel;
    progress.queued = queued;
    const stall = this.#ctx.settings.clientStall;
    return stall > 0 && now - progress.since >= stall;
  }

  /** Drops a stalled client; the program goes on, its output kept for the next to attach. */
  #dropStalled(session: Session, client: ClientPeer, queued: number): void {
    const stall = seconds(this.#ctx.settings.clientStall);
    this.#ctx.dropClient(
      session,
      client,
      `it read nothing for ${stall} (${queued} bytes unread)`,
      `This client read nothing for ${stall}: it was dropped so that the program goes on`,
    );
  }
}
