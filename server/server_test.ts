// The routing core, driven through in-memory transports: no sockets, no timing assumptions
// beyond the short timeouts the tests configure themselves.
import { assert, assertEquals, assertMatch } from "../tests/support/assert.ts";
import { Inbox } from "../tests/support/inbox.ts";
import type { Message } from "../protocol/mod.ts";
import { memoryPair } from "../transport/memory.ts";
import { createServer, MemoryRegistry, type QdbServer, type ServerOptions } from "./server.ts";
import { PACE_BYTES, Session } from "./session.ts";

const TRACER_START = {
  protocol: 1,
  engine: "test",
  program: "demo.py",
  argv: ["demo.py"],
  pid: 4242,
  host: "worker",
  cwd: "/srv",
};

function tracer(server: QdbServer, session: string, extra: Record<string, unknown> = {}) {
  const [mine, theirs] = memoryPair(["tracer", "server"]);
  server.acceptTracer(theirs);
  mine.send({ e: "start", p: { ...TRACER_START, session, ...extra } });
  return new Inbox(mine);
}

function client(server: QdbServer, session: string, start?: Message) {
  const [mine, theirs] = memoryPair(["client", "server"]);
  server.acceptClient(theirs, session);
  if (start) mine.send(start);
  return new Inbox(mine);
}

async function withServer(
  options: ServerOptions,
  fn: (s: QdbServer, logs: string[]) => Promise<void>,
) {
  const logs: string[] = [];
  const server = createServer({ inactivityTimeout: 0, log: (line) => logs.push(line), ...options });
  try {
    await fn(server, logs);
  } finally {
    await server.close();
  }
}

Deno.test("commands route to the tracer and events reach every client, ids echoed to the sender only", async () => {
  await withServer({}, async (server) => {
    const t = tracer(server, "s1");
    await t.expect("started");
    const a = client(server, "s1", { e: "start", p: { name: "ana" }, id: "a0" });
    const attached = await a.expect("attached");
    assertEquals(attached.p.session, "s1");
    assertEquals(attached.p.tracer.pid, 4242);
    assertEquals(attached.p.you, "c1");
    // The tracer gets the client's start without its auth, with a server id.
    const start = await t.expect("start");
    assertEquals(start.p, { client: "c1" });
    assertEquals(typeof start.id, "number");
    t.transport.send({ e: "stack", p: { index: 0, stack: [] }, id: start.id! });
    assertEquals((await a.expect("stack")).id, "a0");

    const b = client(server, "s1", { e: "start", p: "", id: 1 });
    await b.expect("attached");
    const joined = await a.expect("clients");
    assertEquals(joined.p.joined.id, "c2");

    a.transport.send({ e: "eval", p: "x + 1", id: "mine" });
    const routed = await t.expect("eval");
    assertEquals(routed.p, "x + 1");
    assert(typeof routed.id === "number" && routed.id !== start.id);
    // b is told that a sent it.
    const seen = await b.expect("command");
    assertEquals(seen.p, {
      client: { id: "c1", name: "ana", address: "client" },
      e: "eval",
      p: "x + 1",
    });

    t.transport.send({ e: "print", p: { input: "x + 1", exc: false, output: "2" }, id: routed.id });
    const forA = await a.expect("print");
    const forB = await b.expect("print");
    assertEquals(forA.id, "mine");
    assertEquals(forB.id, undefined);
    assertEquals(forB.p, forA.p);

    // Events the tracer sends on its own go to everyone without an id.
    t.transport.send({ e: "print", p: { input: "<stdout>", exc: false, output: "hi\n" } });
    assertEquals((await a.expect("print")).p.output, "hi\n");
    assertEquals((await b.expect("print")).p.output, "hi\n");
  });
});

Deno.test("bad client messages get an error naming the problem and the session lives on", async () => {
  await withServer({}, async (server) => {
    const t = tracer(server, "s2");
    // The tracer first: a client that comes before it would be told "no tracer yet".
    await t.expect("started");
    const c = client(server, "s2", { e: "start" });
    await c.expect("attached");
    c.transport.send({ e: "leap", id: 1 });
    const unknown = await c.expect("error");
    assertEquals(unknown.p.type, "event");
    assertEquals(unknown.id, 1);
    c.transport.send({ e: "set_break", p: { line: "four" }, id: 2 });
    const payload = await c.expect("error");
    assertEquals(payload.p.type, "payload");
    assertEquals(payload.p.command, "set_break");
    assertMatch(payload.p.data, /payload\.line must be an integer >= 1, got "four"/);
    c.transport.send({ e: "step" });
    await t.expect("step");
    // Nothing invalid reached the tracer.
    assertEquals(t.seen.filter((m) => m.e === "leap" || m.e === "set_break").length, 0);
  });
});

Deno.test("auth: a token is required on both links, constant-time compared", async () => {
  await withServer({ token: "s3cret" }, async (server) => {
    const badTracer = tracer(server, "s3", { auth: "wrong" });
    const refusal = await badTracer.expect("error");
    assertEquals(refusal.p, { type: "auth", data: "Authentication failed" });
    await badTracer.expect("disable");
    await badTracer.closed();

    const t = tracer(server, "s3", { auth: "s3cret" });
    await t.expect("started");
    const bad = client(server, "s3", { e: "start", p: "nope" });
    assertEquals((await bad.expect("error")).p.type, "auth");
    await bad.expect("disable");
    await bad.closed();
    const good = client(server, "s3", { e: "start", p: { auth: "s3cret" } });
    await good.expect("attached");
    assertEquals((await server.sessions()).sessions[0]!.clients, 1);
  });
});

Deno.test("auth: an async auth function sees the role, session and start payload", async () => {
  const asked: string[] = [];
  await withServer({
    auth: async (r) => {
      await Promise.resolve();
      asked.push(`${r.role}:${r.session}:${r.auth}`);
      return r.auth === "ok";
    },
  }, async (server) => {
    const t = tracer(server, "s4", { auth: "ok" });
    await t.expect("started");
    const c = client(server, "s4", { e: "start", p: "ok" });
    await c.expect("attached");
    assertEquals(asked, ["tracer:s4:ok", "client:s4:ok"]);
  });
});

Deno.test("auth timeout: no start in time means error auth, then disable, then close", async () => {
  await withServer({ authTimeout: 30 }, async (server) => {
    const c = client(server, "s5");
    const error = await c.expect("error");
    assertEquals(error.p.type, "auth");
    assertMatch(error.p.data, /No start message within/);
    await c.expect("disable");
    await c.closed();
    const [mine, theirs] = memoryPair();
    server.acceptTracer(theirs);
    const t = new Inbox(mine);
    assertEquals((await t.expect("error")).p.type, "auth");
    await t.expect("disable");
    await t.closed();
  });
});

Deno.test("first message must be start", async () => {
  await withServer({}, async (server) => {
    const c = client(server, "s6", { e: "step" });
    const error = await c.expect("error");
    assertEquals(error.p.type, "auth");
    assertMatch(error.p.data, /First message must be a valid "start"/);
    await c.closed();
  });
});

Deno.test("a second tracer for a live session is refused, the first keeps working", async () => {
  await withServer({}, async (server) => {
    const first = tracer(server, "dup");
    await first.expect("started");
    const second = tracer(server, "dup", { pid: 99 });
    const error = await second.expect("error");
    assertEquals(error.p.type, "session");
    assertMatch(error.p.data, /already has a live tracer \(pid 4242 on worker\)/);
    await second.closed();
    const c = client(server, "dup", { e: "start" });
    assertEquals((await c.expect("attached")).p.tracer.pid, 4242);
    c.transport.send({ e: "next" });
    await first.expect("next");
  });
});

Deno.test("with no tracer grace, when the tracer drops, clients get disable and are closed", async () => {
  await withServer({ tracerGrace: 0 }, async (server) => {
    const t = tracer(server, "s7");
    const a = client(server, "s7", { e: "start" });
    const b = client(server, "s7", { e: "start" });
    await a.expect("attached");
    await b.expect("attached");
    t.transport.close();
    for (const c of [a, b]) {
      assertEquals((await c.expect("error")).p.type, "tracer");
      assertEquals((await c.expect("disable")).p.reason, "The tracer disconnected");
      await c.closed();
    }
    assertEquals((await server.sessions()).sessions, []);
  });
});

Deno.test("when the tracer drops, clients are told at once, and the session ends after the grace", async () => {
  await withServer({ tracerGrace: 100 }, async (server) => {
    const t = tracer(server, "s7");
    const c = client(server, "s7", { e: "start" });
    await c.expect("attached");
    t.transport.close();
    assertMatch((await c.expect("error")).p.data, /link was lost; waiting 0\.1 s/);
    assertEquals((await server.sessions()).sessions.length, 1);
    assertEquals((await c.expect("error")).p.data, "The tracer did not reconnect in time");
    assertEquals(
      (await c.expect("disable")).p.reason,
      "The tracer disconnected and did not come back",
    );
    await c.closed();
    assertEquals((await server.sessions()).sessions, []);
  });
});

Deno.test("when the program exits, clients see exited, disabled, then disable with the code", async () => {
  await withServer({}, async (server) => {
    const t = tracer(server, "s8");
    const c = client(server, "s8", { e: "start" });
    await c.expect("attached");
    t.transport.send({ e: "exited", p: { code: 3 } });
    t.transport.send({ e: "disabled" });
    t.transport.close();
    assertEquals((await c.expect("exited")).p.code, 3);
    await c.expect("disabled");
    assertEquals((await c.expect("disable")).p.reason, "The program exited with code 3");
    await c.closed();
    await t.closed();
  });
});

Deno.test("after a hard disable, clients still get the exit status the tracer sends next", async () => {
  await withServer({}, async (server) => {
    const t = tracer(server, "hard");
    // The tracer first: a client that comes before it would be told "no tracer yet".
    await t.expect("started");
    const c = client(server, "hard", { e: "start" });
    await c.expect("attached");
    c.transport.send({ e: "disable", p: "hard", id: 1 });
    const disable = await t.expect("disable");
    t.transport.send({ e: "disabled", p: { mode: "hard" }, id: disable.id! });
    assertEquals((await c.expect("disabled")).id, 1);
    t.transport.send({ e: "exited", p: { code: null, signal: "SIGKILL" } });
    t.transport.close();
    assertEquals((await c.expect("exited")).p.signal, "SIGKILL");
    assertEquals((await c.expect("disable")).p.reason, "The program was ended by SIGKILL");
    await c.closed();
  });
});

Deno.test("a client that drops may attach again and the tracer is asked for its state", async () => {
  await withServer({}, async (server) => {
    const t = tracer(server, "s9");
    const a = client(server, "s9", { e: "start" });
    await a.expect("attached");
    await t.expect("start");
    a.transport.close();
    await a.closed();
    const again = client(server, "s9", { e: "start", id: "re" });
    await again.expect("attached");
    const start = await t.expect("start");
    t.transport.send({ e: "breakpoints", p: [], id: start.id! });
    assertEquals((await again.expect("breakpoints")).id, "re");
    assertEquals((await server.sessions()).sessions[0]!.clients, 1);
  });
});

Deno.test("commands before a tracer attaches are refused with error tracer", async () => {
  await withServer({}, async (server) => {
    const c = client(server, "early", { e: "start", id: "s" });
    const attached = await c.expect("attached");
    assertEquals(attached.p.tracer, null);
    c.transport.send({ e: "step", id: 5 });
    const error = await c.expect("error");
    assertEquals(error.p.type, "tracer");
    assertEquals(error.id, 5);
    // The tracer arrives: the waiting client is told and the tracer asked for its state.
    const t = tracer(server, "early");
    assertEquals((await c.expect("attached")).p.tracer.program, "demo.py");
    const start = await t.expect("start");
    assertEquals(start.p, { client: "c1" });
    // The state the tracer sends back carries the id of the client's start.
    t.transport.send({ e: "breakpoints", p: [], id: start.id! });
    assertEquals((await c.expect("breakpoints")).id, "s");
  });
});

Deno.test("attach timeout: a client waiting for a tracer gives up", async () => {
  await withServer({ attachTimeout: 30 }, async (server) => {
    const c = client(server, "lonely", { e: "start" });
    await c.expect("attached");
    const error = await c.expect("error");
    assertEquals(error.p.type, "tracer");
    assertMatch(error.p.data, /No tracer attached to session "lonely"/);
    await c.expect("disable");
    await c.closed();
  });
});

Deno.test("attach timeout: a tracer waiting for a client is disabled", async () => {
  await withServer({ attachTimeout: 30, timeoutDisableMode: "hard" }, async (server) => {
    const t = tracer(server, "alone");
    await t.expect("started");
    assertEquals((await t.expect("error")).p.type, "client");
    assertEquals((await t.expect("disable")).p, "hard");
    await t.closed();
    assertEquals((await server.sessions()).sessions, []);
  });
});

Deno.test("orphans: with no attach timeout a tracer waits for its client", async () => {
  await withServer({ attachTimeout: 0 }, async (server) => {
    const t = tracer(server, "orphan");
    await t.expect("started");
    // Let every pending timer of the event loop run once; the session must still be there.
    await new Promise((r) => setTimeout(r, 20));
    assertEquals((await server.sessions()).sessions.map((s) => s.id), ["orphan"]);
    const c = client(server, "orphan", { e: "start" });
    await c.expect("attached");
    await t.expect("start");
  });
});

for (const mode of ["soft", "hard"] as const) {
  Deno.test(`inactivity timeout (${mode}) disables the tracer and closes clients`, async () => {
    await withServer({ inactivityTimeout: 40, timeoutDisableMode: mode }, async (server) => {
      const t = tracer(server, `idle-${mode}`);
      const c = client(server, `idle-${mode}`, { e: "start" });
      await c.expect("attached");
      assertEquals((await t.expect("disable")).p, mode);
      assertMatch((await c.expect("disable")).p.reason, /No client activity/);
      await c.closed();
      await t.closed();
    });
  });
}

Deno.test("a client asking for a newer protocol is refused", async () => {
  await withServer({}, async (server) => {
    const c = client(server, "v", { e: "start", p: { protocol: 99 } });
    const error = await c.expect("error");
    assertEquals(error.p.type, "version");
    assertMatch(error.p.data, /speaks protocol 2; the client asked for 99/);
  });
});

Deno.test("invalid session ids are refused", async () => {
  await withServer({}, async (server) => {
    const c = client(server, "has space", { e: "start" });
    assertEquals((await c.expect("error")).p.type, "session");
    for (const id of ["a//b", "a/..", "/a", "a/"]) {
      const t = tracer(server, id);
      assertEquals((await t.expect("error")).p.type, "session", id);
    }
    // A child's id adds /PID to its parent's.
    const child = tracer(server, "a/1234");
    await child.expect("started");
  });
});

Deno.test("GET /sessions lists sessions; with a token it needs the bearer", async () => {
  await withServer({ token: "tok" }, async (server) => {
    const t = tracer(server, "listed", { auth: "tok" });
    await t.expect("started");
    const denied = await server.handler(new Request("http://127.0.0.1/sessions"));
    assertEquals(denied.status, 401);
    await denied.body?.cancel();
    const res = await server.handler(
      new Request("http://127.0.0.1/sessions", { headers: { authorization: "Bearer tok" } }),
    );
    assertEquals(res.status, 200);
    const body = await res.json();
    assertEquals(body.sessions.length, 1);
    assertEquals(body.sessions[0].id, "listed");
    assertEquals(body.sessions[0].tracer.argv, ["demo.py"]);
    const notWs = await server.handler(new Request("http://127.0.0.1/listed"));
    assertEquals(notWs.status, 426);
    await notWs.body?.cancel();
  });
});

Deno.test("the handler honours its base path", async () => {
  await withServer({ basePath: "/debug" }, async (server) => {
    const outside = await server.handler(new Request("http://127.0.0.1/sessions"));
    assertEquals(outside.status, 404);
    await outside.body?.cancel();
    const inside = await server.handler(new Request("http://127.0.0.1/debug/sessions"));
    assertEquals((await inside.json()).sessions, []);
  });
});

Deno.test("what a client types into the program is not shown to the other clients", async () => {
  await withServer({}, async (server) => {
    const t = tracer(server, "typing");
    // The tracer first: a client that comes before it would be told "no tracer yet".
    await t.expect("started");
    const a = client(server, "typing", { e: "start" });
    const b = client(server, "typing", { e: "start" });
    await a.expect("attached");
    await b.expect("attached");
    a.transport.send({ e: "input", p: "hunter2\n" });
    a.transport.send({ e: "step" });
    assertEquals((await t.expect("input")).p, "hunter2\n");
    // b sees the step, and nothing of the input.
    assertEquals((await b.expect("command")).p.e, "step");
    assertEquals(b.seen.filter((m) => JSON.stringify(m).includes("hunter2")), []);
  });
});

Deno.test("issue 9 item 15: what the program printed before anyone attached goes to the first client", async () => {
  await withServer({}, async (server) => {
    const t = tracer(server, "early");
    await t.expect("started");
    const out = (text: string, input = "<stdout>") => ({
      e: "print",
      p: { input, exc: false, output: text },
    });
    t.transport.send(out("2 3 5 "));
    t.transport.send(out("warning\n", "<stderr>"));
    t.transport.send({ e: "running" });
    t.transport.send(out("7\n"));
    await processed(t);
    const first = client(server, "early", { e: "start" });
    await first.expect("attached");
    const replayed = [];
    for (let i = 0; i < 3; i++) replayed.push((await first.expect("print")).p.output);
    assertEquals(replayed, ["2 3 5 ", "warning\n", "7\n"]);
    // Later output goes to everyone; the early output only ever to the first client.
    const second = client(server, "early", { e: "start" });
    await second.expect("attached");
    t.transport.send(out("11\n"));
    assertEquals((await second.expect("print")).p.output, "11\n");
    assertEquals(second.seen.filter((m) => m.e === "print").length, 1);
    await first.expect("print", (p) => p.output === "11\n");
  });
});

Deno.test("the output kept for the first client is bounded, and it is told what was dropped", async () => {
  await withServer({}, async (server) => {
    const t = tracer(server, "chatty");
    await t.expect("started");
    const line = "x".repeat(1000) + "\n";
    for (let i = 0; i < 1500; i++) {
      t.transport.send({
        e: "print",
        p: { input: "<stdout>", exc: false, output: `${i} ${line}` },
      });
    }
    t.transport.send({ e: "print", p: { input: "<stdout>", exc: false, output: "last\n" } });
    await processed(t);
    const c = client(server, "chatty", { e: "start" });
    await c.expect("attached");
    const notice = await c.expect("error");
    assertEquals(notice.p.type, "limit");
    assertMatch(notice.p.data, /^\d+ messages of the program's output .* were dropped/);
    await c.expect("print", (p) => p.output === "last\n");
    const kept = c.seen.filter((m) => m.e === "print");
    assert(kept.length < 1100 && kept.length > 900, String(kept.length));
  });
});

/** Resolves once the server has handled everything the tracer sent so far (it answers in order). */
async function processed(t: ReturnType<typeof tracer>): Promise<void> {
  t.transport.send({ e: "not-an-event" });
  await t.expect("error", (p) => String(p.data).includes("not-an-event"));
}

Deno.test("issue 9 item 12: a client's own reads (source, stack, breakpoints) are not echoed to others", async () => {
  await withServer({}, async (server) => {
    const t = tracer(server, "quiet");
    await t.expect("started");
    const a = client(server, "quiet", { e: "start", p: { name: "ana" } });
    const b = client(server, "quiet", { e: "start", p: { name: "bo" } });
    await a.expect("attached");
    await b.expect("attached");
    a.transport.send({ e: "list", p: { file: "app.py" }, id: 1 });
    a.transport.send({ e: "stack", id: 2 });
    a.transport.send({ e: "breakpoints", id: 3 });
    a.transport.send({ e: "complete", p: "pri", id: 4 });
    a.transport.send({ e: "eval", p: "x", id: 5 });
    // Commands reach the tracer in order; b hears only of the eval.
    await t.expect("eval");
    assertEquals((await b.expect("command")).p.e, "eval");
    assertEquals(b.seen.filter((m) => m.e === "command").length, 1);
  });
});

Deno.test("protocol 2: a reply goes to its client only, checked against its command's result", async () => {
  await withServer({}, async (server) => {
    const t = tracer(server, "s1", { protocol: 2 });
    await t.expect("started");
    const ana = client(server, "s1", { e: "start", p: { protocol: 2 } });
    assertEquals((await ana.expect("attached")).p.protocol, 2);
    await t.expect("start");
    const bo = client(server, "s1", { e: "start", p: { protocol: 1 } });
    assertEquals((await bo.expect("attached")).p.protocol, 1);
    await t.expect("start");

    ana.transport.send({ e: "threads", id: "t1" });
    const asked = await t.expect("threads");
    t.transport.send({ e: "ok", p: { threads: "many" }, id: asked.id! });
    const bad = await ana.expect("error");
    assertEquals([bad.id, bad.p.type, bad.p.command], ["t1", "internal", "threads"]);
    assertMatch(bad.p.data, /The tracer's answer to "threads" is not valid: result.threads/);

    ana.transport.send({ e: "threads", id: "t2" });
    const again = await t.expect("threads");
    const threads = [{ id: 1, name: "MainThread", state: "stopped" }];
    t.transport.send({ e: "ok", p: { threads }, id: again.id! });
    assertEquals(await ana.expect("ok"), { e: "ok", p: { threads }, id: "t2" });
    // The protocol 1 client saw neither reply, and may not ask.
    bo.transport.send({ e: "threads", id: 9 });
    assertEquals((await bo.expect("error")).p.type, "protocol");
    assertEquals(bo.seen.filter((m) => m.e === "ok"), []);
  });
});

/**
 * A client of `clientOn` that reads nothing while a tracer of `tracerOn` prints 3,000 lines of
 * 1 KB: at most `bound` bytes are queued for it after `turns` turns of the event loop (the
 * servers route all they will); then it reads, and every line arrives, in order.
 */
async function floodUnreadClient(
  tracerOn: QdbServer,
  clientOn: QdbServer,
  turns: number,
  bound: (filler: number) => number,
): Promise<void> {
  const t = tracer(tracerOn, "paced");
  await t.expect("started");
  // A client that reads nothing for now (no Inbox draining it).
  const [mine, theirs] = memoryPair(["client", "server"]);
  clientOn.acceptClient(theirs, "paced");
  mine.send({ e: "start", p: {}, id: 0 });
  await t.expect("start");
  const lines = 3000;
  const filler = "x".repeat(1000);
  for (let i = 0; i < lines; i++) {
    t.transport.send({
      e: "print",
      p: { input: "<stdout>", exc: false, output: `${i} ${filler}` },
    });
  }
  // Let the servers route all they will while the client reads nothing.
  for (let i = 0; i < turns; i++) await new Promise((resolve) => setTimeout(resolve, 0));
  const queued = theirs.queuedBytes ?? 0;
  assert(queued < bound(filler.length), `${queued} bytes queued for the client`);
  // Then it reads: every line arrives, in order.
  let next = 0;
  for await (const item of mine.incoming) {
    if (!("message" in item) || item.message.e !== "print") continue;
    const p = item.message.p as { output: string };
    assertEquals(Number(p.output.slice(0, p.output.indexOf(" "))), next++);
    if (next === lines) break;
  }
  mine.close();
}

Deno.test("a tracer's events are taken at the pace of its clients: none queues without bound, none is lost", async () => {
  await withServer(
    {},
    (server) => floodUnreadClient(server, server, 20, (filler) => PACE_BYTES + 2 * filler),
  );
});

Deno.test("past the budget of unread bytes for all clients, sessions wait for their clients; none that reads is dropped", async () => {
  let pressed!: () => void;
  const pressure = new Promise<void>((resolve) => pressed = resolve);
  const log = (line: string) => {
    if (/sessions wait for them/.test(line)) pressed();
  };
  await withServer({ limits: { maxQueuedTotal: 100_000 }, log }, async (server) => {
    const t = tracer(server, "budget");
    await t.expect("started");
    const reader = client(server, "budget", { e: "start", p: {}, id: 0 });
    await reader.expect("attached");
    // A second client that reads nothing for now: far behind the first.
    const [slow, theirs] = memoryPair(["client", "server"]);
    server.acceptClient(theirs, "budget");
    slow.send({ e: "start", p: {}, id: 0 });
    await reader.expect("clients", (p) => p.joined !== undefined);
    const filler = "x".repeat(1000);
    const send = (from: number, to: number) => {
      for (let i = from; i < to; i++) {
        t.transport.send({
          e: "print",
          p: { input: "<stdout>", exc: false, output: `${i} ${filler}` },
        });
      }
    };
    // 150 KB: the reader takes them; they wait for the other, over the budget of 100 KB.
    send(0, 150);
    for (let i = 0; i < 150; i++) {
      await reader.expect("print", (p) => p.output.startsWith(`${i} `));
    }
    await pressure;
    // From now on the session takes nothing more from its tracer until the slow client catches
    // up (but the one it was already waiting for).
    send(150, 300);
    for (let i = 0; i < 20; i++) await new Promise((resolve) => setTimeout(resolve, 0));
    assert(
      !reader.seen.some((m) =>
        m.e === "print" && /^151 /.test(String((m.p as { output: string }).output))
      ),
    );
    assert(
      (t.transport.queuedBytes ?? 0) > 100_000,
      `${t.transport.queuedBytes} bytes unread by the server`,
    );
    // It reads: every line reaches both clients, in order, and nobody was dropped.
    let next = 0;
    for await (const item of slow.incoming) {
      if (!("message" in item) || item.message.e !== "print") continue;
      const p = item.message.p as { output: string };
      assertEquals(Number(p.output.slice(0, p.output.indexOf(" "))), next++);
      if (next === 300) break;
    }
    for (let i = 150; i < 300; i++) {
      await reader.expect("print", (p) => p.output.startsWith(`${i} `));
    }
    assert(!reader.seen.some((m) => m.e === "clients" && (m.p as { left?: unknown }).left));
    slow.close();
  });
});

Deno.test("past the budget of unread bytes for all clients, read-only clients furthest behind are dropped", async () => {
  const clientAuth = (r: { auth: string }) =>
    r.auth === "watch" ? { access: "read-only" as const } : true;
  await withServer({ clientAuth, limits: { maxQueuedTotal: 100_000 } }, async (server) => {
    const t = tracer(server, "budget");
    await t.expect("started");
    const reader = client(server, "budget", { e: "start", p: {}, id: 0 });
    await reader.expect("attached");
    // A read-only client that reads nothing: it never holds the session back.
    const [watcher, theirs] = memoryPair(["watcher", "server"]);
    server.acceptClient(theirs, "budget");
    watcher.send({ e: "start", p: { auth: "watch" } });
    await reader.expect("clients", (p) => p.joined !== undefined);
    const filler = "x".repeat(1000);
    for (let i = 0; i < 150; i++) {
      t.transport.send({
        e: "print",
        p: { input: "<stdout>", exc: false, output: `${i} ${filler}` },
      });
    }
    // The reader gets every line; 150 KB wait for the watcher, over the budget of 100 KB: it goes.
    for (let i = 0; i < 150; i++) {
      await reader.expect("print", (p) => p.output.startsWith(`${i} `));
    }
    const left = await reader.expect("clients", (p) => p.left !== undefined);
    assertEquals(left.p.left.id, "c2");
    watcher.close();
  });
});

Deno.test("a session tree: ancestors' clients hear of children, which outlive their parent", async () => {
  await withServer({ limits: { maxChildrenPerTree: 2 } }, async (server) => {
    const root = tracer(server, "job");
    const tree = (await root.expect("started")).p.tree;
    const a = client(server, "job", { e: "start", p: {}, id: 0 });
    await a.expect("attached");
    const kid = tracer(server, "job/10", { parent: "job", pid: 10, tree });
    await kid.expect("started");
    assertEquals((await a.expect("child")).p, {
      session: "job/10",
      parent: "job",
      pid: 10,
      argv: ["demo.py"],
      state: "running",
    });
    // A grandchild: the program's clients hear of it too.
    const grandkid = tracer(server, "job/10/11", { parent: "job/10", pid: 11, tree });
    await grandkid.expect("started");
    assertEquals((await a.expect("child")).p.parent, "job/10");
    // A child names itself after its parent: a session elsewhere cannot claim to be one.
    const stranger = tracer(server, "other/13", { parent: "job", pid: 13, tree });
    assertEquals((await stranger.expect("error")).p.type, "session");
    // The tree holds two children: a third is refused, and runs untraced.
    const third = tracer(server, "job/12", { parent: "job", pid: 12, tree });
    const refused = await third.expect("error");
    assertEquals(refused.p.type, "limit");
    assertMatch(refused.p.data, /most child sessions it takes \(2\)/);
    // A stop, then a resume: told once each, with where it stopped.
    kid.transport.send({
      e: "stack",
      p: {
        index: 0,
        stack: [{ file: "/w.py", line: 3, func: "work", code: "" }],
        reason: "breakpoint",
      },
    });
    const stopped = await a.expect("child", (p) => p.state === "stopped");
    assertEquals(stopped.p.where, { file: "/w.py", line: 3, func: "work", reason: "breakpoint" });
    kid.transport.send({ e: "running" });
    await a.expect("child", (p) => p.state === "running" && p.session === "job/10");
    // A client attaching to the program's session learns of its live children.
    const b = client(server, "job", { e: "start", p: {}, id: 0 });
    const attached = await b.expect("attached");
    assertEquals(attached.p.children.map((c: { session: string }) => c.session), [
      "job/10",
      "job/10/11",
    ]);
    const k = client(server, "job/10", { e: "start", p: {}, id: 0 });
    assertEquals((await k.expect("attached")).p.parent, "job");
    // The program ends; its children live on.
    root.transport.send({ e: "exited", p: { code: 0 } });
    root.transport.send({ e: "disabled" });
    root.transport.close();
    await a.expect("disable");
    const listed = (await server.sessions()).sessions.map((s) => [s.id, s.parent ?? null]);
    assertEquals(listed, [["job/10", "job"], ["job/10/11", "job/10"]]);
    grandkid.transport.send({ e: "exited", p: { code: 3 } });
    grandkid.transport.send({ e: "disabled" });
    grandkid.transport.close();
    const ended = await k.expect("child", (p) => p.state === "ended");
    assertEquals([ended.p.session, ended.p.reason], [
      "job/10/11",
      "The program exited with code 3",
    ]);
  });
});

Deno.test("round 2 findings 7 and 8: a child proves its tree; the tracer token alone adds none", async () => {
  await withServer({ limits: { maxChildrenPerTree: 2 } }, async (server, logs) => {
    const victim = tracer(server, "victim");
    const tree = (await victim.expect("started")).p.tree;
    const watcher = client(server, "victim", { e: "start", p: {}, id: 0 });
    await watcher.expect("attached");
    // Without the tree's key, or with another tree's, no child joins (finding 7: an attacker's
    // fake children used up the quota, and the real ones ran untraced).
    const other = tracer(server, "attacker");
    const otherTree = (await other.expect("started")).p.tree;
    for (const key of [undefined, "guess", otherTree]) {
      const fake = tracer(server, `victim/${Math.floor(Math.random() * 1e6)}`, {
        parent: "victim",
        argv: ["evil"],
        ...(key === undefined ? {} : { tree: key }),
      });
      const refused = await fake.expect("error");
      assertEquals(refused.p.type, "session");
      assertMatch(refused.p.data, /tree's key/);
    }
    // Finding 8: a session a client opened first cannot be joined as someone's child.
    const early = client(server, "evil-y", { e: "start", p: {}, id: 0 });
    await early.expect("attached");
    const joiner = tracer(server, "evil-y", { parent: "victim" });
    assertEquals((await joiner.expect("error")).p.type, "session");
    // The real children still fit in the quota.
    for (const pid of [10, 11]) {
      const kid = tracer(server, `victim/${pid}`, { parent: "victim", pid, tree });
      await kid.expect("started");
    }
    await watcher.expect("child", (p) => p.session === "victim/11");
    assertEquals(watcher.seen.filter((m) => m.e === "child").length, 2);
    const listed = (await server.sessions()).sessions.filter((s) => s.parent !== undefined);
    assertEquals(listed.map((s) => s.id), ["victim/10", "victim/11"]);
    assert(logs.some((l) => /refused a child tracer/.test(l)));
  });
});

Deno.test("the web client's pages: the sessions, a session, its assets; never a script of a peer's", async () => {
  await withServer({}, async (server) => {
    const get = (path: string) => server.handler(new Request(`http://127.0.0.1${path}`));
    const list = await get("/");
    assertEquals(list.status, 200);
    assertMatch(list.headers.get("content-type")!, /^text\/html/);
    assertMatch(list.headers.get("content-security-policy")!, /script-src 'self'/);
    assertMatch(list.headers.get("content-security-policy")!, /frame-ancestors 'none'/);
    assert(!(await list.text()).includes("data-session"));
    const one = await get("/s/job%2F1234");
    assertMatch(await one.text(), /<body data-base="\/" data-session="job\/1234">/);
    // An id that is no session id is not put in a page.
    const bad = await get("/s/%22%3E%3Cscript%3E");
    assertEquals(bad.status, 404);
    await bad.body?.cancel();
    const app = await get("/assets/app.js");
    assertMatch(app.headers.get("content-type")!, /javascript/);
    assertEquals(app.headers.get("x-content-type-options"), "nosniff");
    await app.body?.cancel();
    const css = await get("/assets/style.css");
    assertMatch(css.headers.get("content-type")!, /text\/css/);
    await css.body?.cancel();
  });
  // Without the web client: the text that says where to connect.
  await withServer({ web: false }, async (server) => {
    const text = await (await server.handler(new Request("http://127.0.0.1/"))).text();
    assertMatch(text, /open a WebSocket/);
  });
});

Deno.test("round 2 finding 5: a read-only client never paces the program, and attends nothing", async () => {
  const clientAuth = (r: { auth: string }) =>
    r.auth === "watch" ? { access: "read-only" as const } : true;
  await withServer({ clientAuth, clientStall: 0, inactivityTimeout: 2000 }, async (server) => {
    const t = tracer(server, "s1");
    await t.expect("started");
    // A read-only client that never takes what it is sent.
    const [watcher, theirs] = memoryPair(["watcher", "server"]);
    server.acceptClient(theirs, "s1");
    watcher.send({ e: "start", p: { auth: "watch" } });
    // 2 MiB of output, eight times what a client may leave unread before the session waits:
    // the server goes on reading the tracer all the same.
    const output = "z".repeat(64 * 1024);
    for (let i = 0; i < 32; i++) {
      t.transport.send({ e: "print", p: { input: "<stdout>", exc: false, output } });
    }
    await processed(t);
    assert((watcher as { queuedBytes?: number }).queuedBytes !== undefined);
    // Its `start`, sent again and again, does not keep the session from its inactivity timeout.
    const again = setInterval(() => watcher.send({ e: "start", p: { auth: "watch" } }), 100);
    try {
      await t.expect("disable");
    } finally {
      clearInterval(again);
    }
  });
});

Deno.test("round 2 finding 10: what peers chose is logged without control characters; JSON is not sniffed nor cached", async () => {
  await withServer({}, async (server, logs) => {
    const t = tracer(server, "s1", { argv: ["\x1b]0;owned\x07", "line\nqdb serve: forged"] });
    await t.expect("started");
    const line = logs.find((l) => l.includes("tracer attached"))!;
    // deno-lint-ignore no-control-regex
    assert(!/[\x00-\x1f]/.test(line), line);
    assertMatch(line, /\\x1b\]0;owned\\x07 line\\x0aqdb serve: forged/);
    const list = await server.handler(new Request("http://127.0.0.1/sessions"));
    assertEquals(list.headers.get("x-content-type-options"), "nosniff");
    assertEquals(list.headers.get("cache-control"), "no-store");
    const denied = await createServer({ token: "t" }).handler(
      new Request("http://127.0.0.1/sessions"),
    );
    assertEquals(denied.status, 401);
    assertEquals(denied.headers.get("x-content-type-options"), "nosniff");
  });
});

Deno.test("round 2 finding 4: all sessions' replay buffers together stay within the server's budget", () => {
  const budget = { used: 0, max: 10_000 };
  const a = new Session("a", { replayBudget: budget });
  const b = new Session("b", { replayBudget: budget });
  const print = { e: "print", p: { input: "<stdout>", exc: false, output: "x".repeat(500) } };
  for (let i = 0; i < 100; i++) {
    a.broadcast(print);
    b.broadcast(print);
    assert(budget.used <= budget.max, String(budget.used));
  }
  const taken = a.takeEarly();
  assert(taken.dropped > 0 && taken.texts.length > 0);
  // Their scrollbacks (the last output, for pages opened beside others) count too.
  assert(a.scrollback().length > 0);
  a.dropReplay();
  b.dropReplay();
  assertEquals(budget.used, 0);
});

Deno.test("two servers on one registry: each lists the other's sessions, client ids never repeat, and a session id has one tracer", async () => {
  const registry = new MemoryRegistry();
  const logs: string[] = [];
  const a = createServer({ inactivityTimeout: 0, registry, log: (l) => logs.push(`a: ${l}`) });
  const b = createServer({
    inactivityTimeout: 0,
    registry: registry.join(),
    log: (l) => logs.push(`b: ${l}`),
  });
  try {
    const t = tracer(a, "shared");
    await t.expect("started");
    const onA = client(a, "shared", { e: "start", p: { name: "ana" } });
    assertEquals((await onA.expect("attached")).p.you, "c1");
    // A client of server b waits there for a tracer (cross-server attach is not built yet).
    const onB = client(b, "elsewhere", { e: "start", p: { name: "bo" } });
    assertEquals((await onB.expect("attached")).p.you, "c2");
    for (const server of [a, b]) {
      const listed = (await server.sessions()).sessions.map((
        s,
      ) => [s.id, s.clients, s.tracer?.pid]);
      assertEquals(listed.sort(), [["elsewhere", 1, undefined], ["shared", 1, 4242]]);
    }
    // A second tracer of the session, on the other server, is refused.
    const second = tracer(b, "shared");
    const refused = await second.expect("error");
    assertMatch(refused.p.data, /live on another server/);
    await second.closed();
    assertMatch(logs.join("\n"), /b: session shared: refused a tracer: server s1 owns the session/);
    // Server a's view is untouched.
    assertEquals((await b.sessions()).sessions.find((s) => s.id === "shared")?.tracer?.pid, 4242);
  } finally {
    await a.close();
    await b.close();
    await registry.close();
  }
  // Both gone: the registry holds nothing of theirs.
  assertEquals(await registry.list(), []);
});

/** Two servers sharing one in-memory registry, closed after `fn`. */
async function withTwoServers(
  fn: (a: QdbServer, b: QdbServer, logs: string[]) => Promise<void>,
  options: ServerOptions = {},
): Promise<void> {
  const registry = new MemoryRegistry();
  const logs: string[] = [];
  const make = (name: string, reg: MemoryRegistry) =>
    createServer({
      inactivityTimeout: 0,
      registry: reg,
      log: (line) => logs.push(`${name}: ${line}`),
      ...options,
    });
  const a = make("a", registry);
  const b = make("b", registry.join());
  try {
    await fn(a, b, logs);
  } finally {
    await a.close();
    await b.close();
    await registry.close();
  }
}

Deno.test("cluster: a client on another server attaches to a session, commands reach its tracer and events come back in order", async () => {
  await withTwoServers(async (a, b) => {
    const t = tracer(a, "s1");
    await t.expect("started");
    const ana = client(a, "s1", { e: "start", p: { name: "ana" } });
    await ana.expect("attached");
    await t.expect("start");
    // bo attaches through server b: the owner (a) sends attached, and asks the tracer for bo.
    const bo = client(b, "s1", { e: "start", p: { name: "bo" }, id: "b0" });
    const attached = await bo.expect("attached");
    assertEquals([attached.p.session, attached.p.tracer.pid, attached.p.you], ["s1", 4242, "c2"]);
    assertEquals(attached.p.clients.map((c: { name: string }) => c.name), ["ana", "bo"]);
    assertEquals((await ana.expect("clients")).p.joined.name, "bo");
    const start = await t.expect("start");
    assertEquals(start.p, { client: "c2" });
    t.transport.send({ e: "stack", p: { index: 0, stack: [] }, id: start.id! });
    assertEquals((await bo.expect("stack")).id, "b0");
    // bo's command goes to the tracer; its answer comes back to bo with bo's id.
    bo.transport.send({ e: "eval", p: "x", id: 7 });
    const routed = await t.expect("eval");
    assertEquals(routed.p, "x");
    assertEquals((await ana.expect("command")).p.client.name, "bo");
    t.transport.send({ e: "print", p: { input: "x", exc: false, output: "1" }, id: routed.id! });
    assertEquals((await bo.expect("print")).id, 7);
    // A flood of output reaches both, in order, none lost.
    for (let i = 0; i < 500; i++) {
      t.transport.send({ e: "print", p: { input: "<stdout>", exc: false, output: `${i}` } });
    }
    for (const inbox of [ana, bo]) {
      for (let i = 0; i < 500; i++) {
        assertEquals((await inbox.expect("print", (p) => p.input === "<stdout>")).p.output, `${i}`);
      }
    }
    // Every server lists bo among the session's clients.
    for (const server of [a, b]) {
      assertEquals((await server.sessions()).sessions.map((s) => [s.id, s.clients]), [["s1", 2]]);
    }
    // bo leaves: ana is told.
    bo.transport.close();
    assertEquals((await ana.expect("clients")).p.left.name, "bo");
  });
});

Deno.test("cluster: clients waiting on one server move to the server their tracer came to", async () => {
  await withTwoServers(async (a, b, logs) => {
    const bo = client(b, "later", { e: "start", p: { name: "bo" } });
    assertEquals((await bo.expect("attached")).p.tracer, null);
    const t = tracer(a, "later");
    await t.expect("started");
    const attached = await bo.expect("attached");
    assertEquals(attached.p.tracer.pid, 4242);
    assertEquals((await t.expect("start")).p, { client: attached.p.you });
    bo.transport.send({ e: "step" });
    await t.expect("step");
    assertMatch(logs.join("\n"), /b: session later: its tracer is on server s1/);
    assertEquals((await b.sessions()).sessions.map((s) => [s.id, s.clients]), [["later", 1]]);
  });
});

Deno.test("cluster: read-only holds across the hop, and the session's end reaches every server's clients", async () => {
  await withTwoServers(async (a, b) => {
    const t = tracer(a, "s1");
    await t.expect("started");
    const viewer = client(b, "s1", { e: "start", p: { name: "viewer", auth: "ro" } });
    await viewer.expect("attached");
    await t.expect("start");
    viewer.transport.send({ e: "eval", p: "1", id: 1 });
    assertEquals((await viewer.expect("error")).p.type, "permission");
    t.transport.send({ e: "exited", p: { code: 3 } });
    t.transport.close();
    assertMatch((await viewer.expect("disable")).p.reason, /exited with code 3/);
    await viewer.closed();
  }, {
    clientAuth: ({ auth }) => auth === "ro" ? { access: "read-only" as const } : true,
  });
});

Deno.test("cluster: a client on another server that reads nothing paces the tracer, and then gets every line", async () => {
  await withTwoServers((a, b) => floodUnreadClient(a, b, 50, () => 2 * PACE_BYTES));
});

Deno.test("cluster: a tracer handed over finds its session on another server even when a client waits there first", async () => {
  await withTwoServers(async (a, b, logs) => {
    const t = tracer(a, "moving");
    const started = await t.expect("started");
    await a.handOver();
    await t.closed();
    // A client comes to b before the tracer does: it waits for it there.
    const bo = client(b, "moving", { e: "start", p: { name: "bo" } });
    assertEquals((await bo.expect("attached")).p.tracer, null);
    // The tracer comes to b with its key: the session is its own again, not refused.
    const back = tracer(b, "moving", { resume: started.p.resume });
    await back.expect("started");
    assertEquals((await bo.expect("attached")).p.tracer.pid, 4242);
    await back.expect("start");
    assertMatch(logs.join("\n"), /b: session moving: tracer came back/);
  });
});

Deno.test("cluster: a group spans servers: its client on one server sets rules on members of both, and hears from each", async () => {
  await withTwoServers(async (a, b) => {
    const onA = tracer(a, "m-a", { protocol: 2, groups: ["jobs"] });
    const onB = tracer(b, "m-b", { protocol: 2, groups: ["jobs"] });
    await Promise.all([onA.expect("started"), onB.expect("started")]);
    const [mine, theirs] = memoryPair(["client", "server"]);
    b.acceptClient(theirs, "", "jobs");
    mine.send({ e: "start", id: 0 });
    const g = new Inbox(mine);
    const state = await g.expect("group");
    assertEquals(state.p.members.map((m: { session: string }) => m.session).sort(), ["m-a", "m-b"]);
    mine.send({ e: "set_break", p: { line: 3, snapshot: true }, id: 1 });
    for (const t of [onA, onB]) {
      const set = await t.expect("set_break");
      assertEquals(set.p.rule, "jobs#1");
      t.transport.send({ e: "breakpoints", p: [], id: set.id! });
    }
    assertEquals((await g.expectId(1, ["applied"])).p.sessions, 2);
    // The member on the other server's snapshot comes through its owner, numbered there.
    onA.transport.send({
      e: "snapshot",
      p: { breakpoint: 1, time: "2026-12-06T10:00:00.000Z", stack: [] },
    });
    const snap = await g.expect("snapshot");
    assertEquals([snap.p.session, snap.p.id], ["m-a", 1]);
    mine.send({ e: "snapshots", id: 2 });
    assertEquals(
      (await g.expectId(2, ["snapshots"])).p.map((s: { session: string }) => s.session),
      [
        "m-a",
      ],
    );
  });
});
