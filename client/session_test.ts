import { assertEquals } from "../tests/support/assert.ts";
import { SessionModel } from "./session.ts";

const stop = (line: number) => ({
  index: 0,
  stack: [{ file: "/src/app.py", line, func: "<module>", code: "x = 1" }],
  thread: { id: 1, name: "MainThread" },
  reason: "breakpoint" as const,
});

Deno.test("the model follows a session: attach, stop, resume, stop, end", () => {
  const model = new SessionModel({ startId: 0 });
  assertEquals(model.running, undefined);
  model.apply({
    e: "attached",
    p: {
      session: "s",
      protocol: 2,
      server: "qdb",
      tracer: null,
      clients: [{ id: "c1", name: "ana", address: "x" }],
      you: "c1",
    },
  });
  model.apply({ e: "clients", p: { joined: { id: "c2", name: "bo", address: "y" } } });
  assertEquals([...model.clients.keys()], ["c1", "c2"]);
  model.apply({ e: "clients", p: { left: { id: "c2", name: "bo", address: "y" } } });
  assertEquals([model.you, model.protocol, model.clients.size], ["c1", 2, 1]);

  model.apply({ e: "exception", p: { type: "E", value: "v", traceback: "t" } });
  assertEquals(model.apply({ e: "stack", p: stop(3) }), "changed");
  assertEquals([model.running, model.stop?.stack[0]?.line, model.exception?.type], [false, 3, "E"]);
  // The same stop again (another client attached): not news.
  assertEquals(model.apply({ e: "stack", p: stop(3) }), "same");

  model.resumed();
  assertEquals([model.running, model.stop, model.exception], [true, undefined, undefined]);
  // The answer to this client's start, sent before the resume: stale.
  assertEquals(model.apply({ e: "stack", p: stop(3), id: 0 }), "stale");
  model.apply({ e: "running" });
  assertEquals(model.apply({ e: "stack", p: stop(5) }), "changed");

  model.apply({
    e: "breakpoints",
    p: [{
      id: 1,
      file: "/src/app.py",
      line: 5,
      temp: false,
      cond: null,
      func: null,
      enabled: true,
      ignore: 0,
      hits: 1,
    }],
  });
  model.apply({ e: "watchlist", p: [{ expr: "x", exc: false, value: "1" }] });
  assertEquals([model.breakpoints.length, model.watches[0]?.value], [1, "1"]);

  model.apply({ e: "exited", p: { code: 3 } });
  model.apply({ e: "disabled", p: { reason: "The program exited with code 3" } });
  assertEquals([model.exit?.code, model.ended, model.stop], [3, true, undefined]);
});
