/**
 * The accept loop both ports share: a failed accept (out of file descriptors, a connection reset
 * before it was accepted) never ends it. It tries again with a growing delay (at most 1 s), while
 * connections wait in the kernel's backlog, and serves them once descriptors free up.
 *
 * @module
 */

/**
 * Accepts connections on `listener` and hands each to `handle`, until the listener closes or
 * `closed()` says so. `failed` hears of each accept that failed (to log it, sparingly).
 */
export async function acceptEach(
  listener: Deno.Listener,
  handle: (conn: Deno.Conn) => void,
  failed: (error: unknown) => void,
  closed: () => boolean,
): Promise<void> {
  let backoff = 10;
  while (!closed()) {
    let conn: Deno.Conn;
    try {
      conn = await listener.accept();
    } catch (error) {
      if (closed() || error instanceof Deno.errors.BadResource) return;
      failed(error);
      await new Promise((resolve) => setTimeout(resolve, backoff));
      backoff = Math.min(backoff * 2, 1000);
      continue;
    }
    backoff = 10;
    handle(conn);
  }
}
