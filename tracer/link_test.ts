// The tracer's link to a real server, in this process.
import { assertEquals } from "../tests/support/assert.ts";
import { serve } from "../server.ts";
import { connectTracerLink } from "./link.ts";

const INFO = {
  engine: "python",
  program: "crowd.py",
  argv: ["crowd.py"],
  pid: 1,
  host: "test",
  cwd: "/",
};

Deno.test("a tracer that meets the server's limit of connections waiting to authenticate waits its turn", async () => {
  await using server = await serve({
    hostname: "127.0.0.1",
    clientPort: 0,
    tracerPort: 0,
    limits: { maxPendingPerAddress: 1 },
  });
  // Another tracer of this machine, still starting: it holds the address's only slot.
  const port = Number(new URL(server.tracerUrl).port);
  const starting = await Deno.connect({ hostname: "127.0.0.1", port });
  const retries: string[] = [];
  await using link = await connectTracerLink({
    server: server.tracerUrl,
    session: "crowd",
    info: INFO,
    retryDelay: 10,
    onRetry: (_, error) => {
      retries.push(error.message);
      // The other one is through: the slot is free.
      try {
        starting.close();
      } catch { /* closed */ }
    },
  });
  assertEquals(link.session, "crowd");
  assertEquals(retries, ["Too many connections from 127.0.0.1 waiting to authenticate (1)"]);
});
