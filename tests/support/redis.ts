/**
 * A Redis server of a test's own: `redis-server` (Debian's, which `.ci/run` installs) on a free
 * port, with no persistence and nothing left behind. Tests that need one skip, saying why, where
 * there is none.
 *
 * @module
 */

/** A running Redis server. */
export interface TestRedis extends AsyncDisposable {
  /** `redis://127.0.0.1:PORT`. */
  readonly url: string;
  /** Its port. */
  readonly port: number;
  /** Stops it (as a crash would: nothing saved). Idempotent. */
  stop(): Promise<void>;
  /** Starts it again on the same port, empty. */
  restart(): Promise<void>;
}

/** Whether `redis-server` can be run here (printed once when it cannot). */
export const HAVE_REDIS: boolean = await (async () => {
  try {
    const out = await new Deno.Command("redis-server", { args: ["--version"], stdout: "null" })
      .output();
    if (out.success) return true;
  } catch {
    // Not installed.
  }
  console.warn("skip: redis-server not found (apt-get install redis-server)");
  return false;
})();

/** A free TCP port on 127.0.0.1 (free now: the kernel may give it away again, rarely). */
function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/** Starts a Redis server on a free port; resolves once it accepts connections. */
export async function startRedis(): Promise<TestRedis> {
  const port = freePort();
  let child: Deno.ChildProcess | undefined;
  const start = async () => {
    const command = new Deno.Command("redis-server", {
      args: [
        "--port",
        String(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--loglevel",
        "warning",
      ],
      stdout: "piped",
      stderr: "null",
    });
    child = command.spawn();
    // Ready once it accepts a connection.
    for (let i = 0;; i++) {
      try {
        const conn = await Deno.connect({ hostname: "127.0.0.1", port });
        conn.close();
        break;
      } catch (error) {
        if (i > 500) throw new Error(`redis-server did not start on ${port}: ${error}`);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    }
  };
  const stop = async () => {
    const running = child;
    child = undefined;
    if (!running) return;
    try {
      running.kill("SIGKILL");
    } catch {
      // Gone already.
    }
    await running.stdout.cancel();
    await running.status;
  };
  await start();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    stop,
    async restart() {
      await stop();
      await start();
    },
    [Symbol.asyncDispose]: stop,
  };
}
