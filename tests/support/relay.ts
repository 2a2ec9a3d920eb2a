/**
 * A TCP relay between a peer and the server, whose connections a test can cut as a network
 * failure would.
 *
 * @module
 */

/** A relay to `target`: `url` (tcp://) and `port` to connect to, `cut()` to break the links. */
export function relay(target: { hostname: string; port: number }): {
  url: string;
  port: number;
  cut(): void;
  close(): Promise<void>;
} {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const live = new Set<Deno.Conn>();
  const pipe = async (from: Deno.Conn, to: Deno.Conn) => {
    try {
      await from.readable.pipeTo(to.writable);
    } catch {
      // Cut.
    }
    for (const conn of [from, to]) {
      try {
        conn.close();
      } catch {
        // Already closed.
      }
      live.delete(conn);
    }
  };
  const loop = (async () => {
    for await (const conn of listener) {
      const upstream = await Deno.connect(target);
      live.add(conn);
      live.add(upstream);
      pipe(conn, upstream);
      pipe(upstream, conn);
    }
  })().catch(() => {});
  return {
    url: `tcp://127.0.0.1:${listener.addr.port}`,
    port: listener.addr.port,
    /** Breaks every connection, as a network failure would. */
    cut() {
      for (const conn of live) {
        try {
          conn.close();
        } catch {
          // Already closed.
        }
      }
      live.clear();
    },
    async close() {
      this.cut();
      listener.close();
      await loop;
    },
  };
}
