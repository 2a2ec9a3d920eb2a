// The core alone, over a scripted engine in memory: no Python.
import { assertEquals } from "../tests/support/assert.ts";
import type { Message } from "../protocol/mod.ts";
import { AsyncQueue } from "../transport/async_queue.ts";
import { DebugCore } from "./core.ts";

/** An engine whose events the test pushes, and which records what it was sent. */
function fakeEngine() {
  const events = new AsyncQueue<Message>();
  const sent: Message[] = [];
  const waiting: (() => void)[] = [];
  return {
    events,
    sent,
    send(msg: Message) {
      sent.push(msg);
      for (const wake of waiting.splice(0)) wake();
    },
    /** Resolves once `n` messages have been sent to the engine. */
    async sentCount(n: number): Promise<Message[]> {
      while (sent.length < n) await new Promise<void>((wake) => waiting.push(wake));
      return sent;
    },
  };
}

async function take(iterator: AsyncIterator<Message>, n: number): Promise<Message[]> {
  const out: Message[] = [];
  while (out.length < n) {
    const next = await iterator.next();
    if (next.done) break;
    out.push(next.value);
  }
  return out;
}

Deno.test("a protocol 2 command becomes an engine request, and its answer the one reply", async () => {
  const engine = fakeEngine();
  const core = new DebugCore(engine);
  const out = core.events[Symbol.asyncIterator]();
  core.send({ e: "threads", id: 12 });
  core.send({ e: "source", p: { path: "/src/app.py" }, id: 13 });
  assertEquals(engine.sent, [
    { e: "request", id: "q1", p: { command: "threads", args: {} } },
    { e: "request", id: "q2", p: { command: "source", args: { path: "/src/app.py" } } },
  ]);
  // Answers in another order than asked, with an unrelated event between them.
  engine.events.push({ e: "response", id: "q2", p: { error: { type: "source", data: "no" } } });
  engine.events.push({ e: "print", p: { input: "<stdout>", exc: false, output: "hi\n" } });
  engine.events.push({
    e: "response",
    id: "q1",
    p: { result: { threads: [{ id: 1, name: "MainThread", state: "stopped" }] } },
  });
  assertEquals(await take(out, 3), [
    { e: "error", p: { type: "source", data: "no", command: "source" }, id: 13 },
    { e: "print", p: { input: "<stdout>", exc: false, output: "hi\n" } },
    { e: "ok", p: { threads: [{ id: 1, name: "MainThread", state: "stopped" }] }, id: 12 },
  ]);
  assertEquals(core.pending, 0);
});

Deno.test("protocol 1 commands pass through; a bad payload never reaches the engine", async () => {
  const engine = fakeEngine();
  const core = new DebugCore(engine);
  const out = core.events[Symbol.asyncIterator]();
  core.send({ e: "set_exception_break", p: "raised", id: 3 });
  core.send({ e: "variables", p: { ref: 0 }, id: 4 });
  // What the core translates for every engine is answered here: no stop, no frame to eval in.
  core.send({ e: "eval", p: "1 + 1", id: 5 });
  assertEquals(await engine.sentCount(1), [{ e: "set_exception_break", p: "raised", id: 3 }]);
  const [error, running] = await take(out, 2);
  assertEquals([error!.e, error!.id, (error!.p as { type: string }).type], ["error", 4, "payload"]);
  assertEquals([running!.id, (running!.p as { type: string }).type], [5, "running"]);
  assertEquals(engine.sent.length, 1);
});

Deno.test("an engine's malformed answer is an internal error, never relayed as ok", async () => {
  const engine = fakeEngine();
  const core = new DebugCore(engine);
  const out = core.events[Symbol.asyncIterator]();
  core.send({ e: "variables", p: { ref: 5 }, id: 1 });
  core.send({ e: "scopes", p: { frame: 2 }, id: 2 });
  core.send({ e: "threads", id: 3 });
  engine.events.push({ e: "response", id: "q1", p: { result: { variables: "lots" } } });
  engine.events.push({ e: "response", id: "q2", p: { error: { type: "rm -rf", data: 42 } } });
  engine.events.push({ e: "response", id: "q99", p: { result: {} } }); // Nobody asked: dropped.
  engine.events.push({ e: "error", id: "q3", p: { type: "tracer", data: "bridge gone" } });
  const replies = await take(out, 3);
  assertEquals(replies.map((m) => [m.e, m.id, (m.p as { type: string }).type]), [
    ["error", 1, "internal"],
    ["error", 2, "internal"],
    ["error", 3, "tracer"],
  ]);
  assertEquals(
    (replies[1]!.p as { data: string }).data,
    'The engine failed to answer "scopes"',
  );
});

Deno.test("requests still pending when the program ends are answered before `exited`", async () => {
  const engine = fakeEngine();
  const core = new DebugCore(engine);
  core.send({ e: "threads", id: 1 });
  engine.events.push({ e: "exited", p: { code: 0 } });
  engine.events.end();
  const all: Message[] = [];
  for await (const msg of core.events) all.push(msg);
  assertEquals(all.map((m) => m.e), ["error", "exited"]);
  assertEquals(all[0]!.id, 1);
  core.send({ e: "threads", id: 2 }); // After the end: nothing more reaches the engine.
  assertEquals(engine.sent.length, 1);
});

Deno.test("an engine event of the wrong shape, or one only the server may send, is refused", async () => {
  const engine = fakeEngine();
  const core = new DebugCore(engine);
  const out = core.events[Symbol.asyncIterator]();
  engine.events.push({ e: "stack", p: { bogus: 1 } });
  engine.events.push({ e: "attached", p: { session: "forged" } });
  engine.events.push({ e: "exited", p: { code: 3 } });
  const [bad, forged, exited] = await take(out, 3);
  assertEquals([bad!.e, (bad!.p as { type: string }).type], ["error", "internal"]);
  assertEquals([forged!.e, (forged!.p as { type: string }).type], ["error", "internal"]);
  assertEquals(exited, { e: "exited", p: { code: 3 } });
});

Deno.test("watches: evaluated through the engine at each stop, sent before the stop", async () => {
  const engine = fakeEngine();
  const core = new DebugCore(engine);
  const out = core.events[Symbol.asyncIterator]();
  // While the program runs a new watch is not evaluated yet.
  core.send({ e: "set_watch", p: ["n", "boom"], id: 1 });
  assertEquals(await take(out, 1), [{
    e: "watchlist",
    p: [
      { expr: "n", exc: false, value: "<not evaluated yet: the program runs>" },
      { expr: "boom", exc: false, value: "<not evaluated yet: the program runs>" },
    ],
    id: 1,
  }]);
  // A stop: the core asks the engine, then sends the watchlist, then the stop.
  const stop = { index: 0, stack: [{ file: "/a.py", line: 3, func: "f", code: "x" }] };
  engine.events.push({ e: "stack", p: stop });
  engine.events.push({ e: "print", p: { input: "<stdout>", exc: false, output: "later\n" } });
  const watchRequests = () =>
    engine.sent.filter((m) =>
      m.e === "request" && (m.p as { command: string }).command === "watch"
    );
  while (watchRequests().length < 1) await new Promise((r) => setTimeout(r, 0));
  // One request for all the watches of the stop (the engine sent no values of its own).
  const [asked] = watchRequests();
  assertEquals(asked!.p, { command: "watch", args: { exprs: ["n", "boom"] } });
  engine.events.push({
    e: "response",
    id: asked!.id!,
    p: {
      result: {
        values: [
          { exc: false, value: "7" },
          { exc: true, value: "NameError: name 'boom' is not defined" },
        ],
      },
    },
  });
  assertEquals(await take(out, 3), [
    {
      e: "watchlist",
      p: [
        { expr: "n", exc: false, value: "7" },
        { expr: "boom", exc: true, value: "NameError: name 'boom' is not defined" },
      ],
    },
    { e: "stack", p: stop },
    { e: "print", p: { input: "<stdout>", exc: false, output: "later\n" } },
  ]);
  // The same stop again for a new client's start: the values known, nothing evaluated.
  core.send({ e: "start", p: { client: "c2" }, id: 2 });
  engine.events.push({ e: "stack", p: stop, id: 2 });
  const again = await take(out, 3);
  assertEquals(again.map((m) => [m.e, m.id]), [["breakpoints", 2], ["watchlist", 2], ["stack", 2]]);
  assertEquals(watchRequests().length, 1);
  // The engine is told the watches, to evaluate them itself at the next stops.
  assertEquals(
    engine.sent.filter((m) => (m.p as { command?: string })?.command === "set_stop_watches")
      .map((m) => (m.p as { args: unknown }).args),
    [{ exprs: ["n", "boom"] }],
  );
  // clear_watch answers at once.
  core.send({ e: "clear_watch", p: ["boom"], id: 3 });
  assertEquals((await take(out, 1))[0]!.p, [{ expr: "n", exc: false, value: "7" }]);
});

Deno.test("watches: at most 100", async () => {
  const engine = fakeEngine();
  const core = new DebugCore(engine);
  const out = core.events[Symbol.asyncIterator]();
  core.send({ e: "set_watch", p: Array.from({ length: 100 }, (_, i) => `x${i}`), id: 1 });
  await take(out, 1);
  core.send({ e: "set_watch", p: ["one_more"], id: 2 });
  const [refused] = await take(out, 1);
  assertEquals(refused, {
    e: "error",
    p: {
      type: "limit",
      data: "At most 100 watched expressions; 100 are set",
      command: "set_watch",
    },
    id: 2,
  });
});

Deno.test("watches: values the engine sent with a stop are used, with no round trip", async () => {
  const engine = fakeEngine();
  const core = new DebugCore(engine);
  const out = core.events[Symbol.asyncIterator]();
  core.send({ e: "set_watch", p: ["n"], id: 1 });
  await take(out, 1);
  const stop = { index: 0, stack: [{ file: "/a.py", line: 3, func: "f", code: "x" }] };
  engine.events.push({
    e: "watch_values",
    p: { exprs: ["n"], values: [{ exc: false, value: "5" }] },
  });
  engine.events.push({ e: "stack", p: stop });
  assertEquals(await take(out, 2), [
    { e: "watchlist", p: [{ expr: "n", exc: false, value: "5" }] },
    { e: "stack", p: stop },
  ]);
  const asked = engine.sent.filter((m) => (m.p as { command?: string })?.command === "watch");
  assertEquals(asked, []);
});

Deno.test("protocol 1's selected frame lives in the core: up, down, frame, and a held thread", async () => {
  const engine = fakeEngine();
  const core = new DebugCore(engine);
  const out = core.events[Symbol.asyncIterator]();
  const frame = (id: number, func: string) => ({ id, func, file: "/a.py", line: id, code: "" });
  const main = { id: 1, name: "MainThread" };
  engine.events.push({
    e: "stack",
    p: {
      index: 2,
      stack: [frame(11, "<module>"), frame(12, "f"), frame(13, "g")],
      thread: main,
      reason: "breakpoint",
    },
  });
  const [, stop] = await take(out, 2);
  assertEquals(stop!.e, "stack");

  // up: answered here, with no engine round trip (no watches to evaluate).
  core.send({ e: "up", id: "u" });
  const [watchlist, selected] = await take(out, 2);
  assertEquals([watchlist!.e, watchlist!.id], ["watchlist", "u"]);
  assertEquals(selected, {
    e: "stack",
    id: "u",
    p: {
      index: 1,
      stack: [frame(11, "<module>"), frame(12, "f"), frame(13, "g")],
      thread: main,
      reason: "select",
    },
  });
  // The commands that act on the selected frame carry its id to the engine.
  core.send({ e: "return", id: "e" });
  assertEquals((await engine.sentCount(1)).at(-1), { e: "return", id: "e", frame: 12 });
  // Errors as pdb words them.
  core.send({ e: "up", p: 5, id: "u2" });
  await take(out, 2);
  core.send({ e: "up", id: "u3" });
  const [oldest] = await take(out, 1);
  assertEquals([oldest!.e, oldest!.id, (oldest!.p as { data: string }).data], [
    "error",
    "u3",
    "Oldest frame",
  ]);
  core.send({ e: "frame", p: 7, id: "f" });
  const [noFrame] = await take(out, 1);
  assertEquals((noFrame!.p as { type: string }).type, "frame");
  // `where` shows the stop as selected, answered here.
  core.send({ e: "stack", id: "w" });
  const [where] = await take(out, 1);
  assertEquals([where!.id, (where!.p as { index: number }).index], ["w", 0]);
  assertEquals(engine.sent.length, 1);

  // Another stopped thread: its frames come from the engine, and `where` and `next` use them.
  core.send({ e: "frame", p: { thread: 2 }, id: "t" });
  const [, ask] = await engine.sentCount(2);
  assertEquals((ask as { p: unknown }).p, {
    command: "stack_trace",
    args: { thread: 2, levels: 1000 },
  });
  engine.events.push({
    e: "response",
    id: ask!.id!,
    p: { result: { frames: [frame(22, "spin"), frame(21, "run")], total: 2 } },
  });
  const [, , names] = await engine.sentCount(3);
  engine.events.push({
    e: "response",
    id: names!.id!,
    p: {
      result: {
        threads: [{ id: 1, name: "MainThread", state: "stopped" }, {
          id: 2,
          name: "spinner",
          state: "stopped",
        }],
      },
    },
  });
  const [, held] = await take(out, 2);
  assertEquals(held!.p, {
    index: 1,
    stack: [frame(21, "run"), frame(22, "spin")],
    thread: { id: 2, name: "spinner" },
    reason: "select",
  });
  core.send({ e: "stack", id: "w2" });
  const [heldWhere] = await take(out, 1);
  assertEquals((heldWhere!.p as { thread: unknown }).thread, { id: 2, name: "spinner" });
  core.send({ e: "next", id: "n" });
  assertEquals((await engine.sentCount(4)).at(-1), { e: "next", id: "n", frame: 22 });

  // Once the program runs there is nothing to select.
  engine.events.push({ e: "running", id: "n", p: { thread: { id: 2, name: "spinner" } } });
  await take(out, 1);
  core.send({ e: "down", id: "d" });
  const [running] = await take(out, 1);
  assertEquals([running!.e, (running!.p as { type: string }).type], ["error", "running"]);
});

/** An engine that answers each request at once with `answer(command, args)`. */
function answeringEngine(answer: (command: string, args: Record<string, unknown>) => unknown) {
  const engine = fakeEngine();
  const send = engine.send;
  engine.send = (msg: Message) => {
    send(msg);
    if (msg.e !== "request") return;
    const { command, args } = msg.p as { command: string; args: Record<string, unknown> };
    let p: unknown;
    try {
      p = { result: answer(command, args) };
    } catch (error) {
      p = { error: { type: "set_break", data: (error as Error).message } };
    }
    engine.events.push({ e: "response", id: msg.id!, p });
  };
  return engine;
}

Deno.test("the breakpoint table lives in the core: ids, commands, and what the engine reports", async () => {
  const placed = (bp: Record<string, unknown>) => ({
    id: bp.id,
    file: "/src/app.py",
    line: bp.line,
    temp: false,
    cond: bp.cond ?? null,
    func: null,
    enabled: true,
    ignore: 0,
    hits: 0,
    verified: true,
  });
  const engine = answeringEngine((command, args) => {
    switch (command) {
      case "set_breakpoint": {
        const bp = args.breakpoint as { line: number };
        if (bp.line > 100) throw new Error(`Cannot set breakpoint at "app.py:${bp.line}"`);
        return { breakpoint: placed(bp) };
      }
      case "locate":
        return { path: "/src/app.py", name: args.file ?? "app.py" };
      case "remove_breakpoints":
        return {};
    }
    throw new Error(`unexpected ${command}`);
  });
  const core = new DebugCore(engine);
  const out = core.events[Symbol.asyncIterator]();
  const requests = () =>
    engine.sent.filter((m) => m.e === "request").map((m) => m.p as { command: string });

  // Two set from the configuration, as the engine reports them before any client.
  engine.events.push({
    e: "breakpoint_state",
    p: {
      added: [placed({ id: 1, line: 3 }), placed({ id: 2, line: 4 })],
      changed: [],
      removed: [],
    },
  });
  assertEquals((await take(out, 1))[0]!.p, [
    placed({ id: 1, line: 3 }),
    placed({ id: 2, line: 4 }),
  ]);
  // A new one takes the next id; one refused by the engine takes none.
  core.send({ e: "set_break", p: { line: 500 }, id: "bad" });
  const [refused] = await take(out, 1);
  assertEquals([refused!.e, refused!.id, (refused!.p as { type: string }).type], [
    "error",
    "bad",
    "set_break",
  ]);
  core.send({ e: "set_break", p: { line: 7, cond: "x" }, id: "b" });
  const [list] = await take(out, 1);
  assertEquals(list!.id, "b");
  assertEquals((list!.p as { id: number }[]).map((b) => b.id), [1, 2, 3]);
  // An unknown id is refused without asking the engine.
  const asked = requests().length;
  core.send({ e: "clear_break", p: { id: 9 }, id: "c" });
  const [noSuch] = await take(out, 1);
  assertEquals((noSuch!.p as { data: string }).data, "No breakpoint 9");
  assertEquals(requests().length, asked);
  // Hit counts at a stop, and a temporary one gone.
  engine.events.push({
    e: "breakpoint_state",
    id: "run",
    p: { changed: [{ id: 1, hits: 4, ignore: 0 }, { id: 3, hits: 1, ignore: 0 }], removed: [2] },
  });
  const [afterHit] = await take(out, 1);
  assertEquals(afterHit!.id, "run");
  assertEquals((afterHit!.p as { id: number; hits: number }[]).map((b) => [b.id, b.hits]), [
    [1, 4],
    [3, 1],
  ]);
  // Cleared by file and line.
  core.send({ e: "clear_break", p: { file: "app.py", line: 7 }, id: "fl" });
  const [cleared] = await take(out, 1);
  assertEquals((cleared!.p as { id: number }[]).map((b) => b.id), [1]);
  // An editor's list for the file replaces its line breakpoints; a refused one has id 0.
  core.send({
    e: "set_breakpoints",
    p: { file: "app.py", breakpoints: [{ line: 10 }, { line: 200 }] },
    id: "ed",
  });
  const [broadcast, reply] = await take(out, 2);
  assertEquals((broadcast!.p as { id: number }[]).map((b) => b.id), [4]);
  assertEquals(reply!.e, "ok");
  assertEquals(
    (reply!.p as { breakpoints: { id: number; message?: string }[] }).breakpoints.map((
      b,
    ) => [b.id, b.message]),
    [[4, undefined], [0, 'Cannot set breakpoint at "app.py:200"']],
  );
  assertEquals(
    engine.sent.filter((m) => (m.p as { command?: string }).command === "remove_breakpoints")
      .map((m) => (m.p as { args: unknown }).args),
    [{ ids: [3] }, { ids: [1] }],
  );
});

Deno.test("an engine's stopped becomes protocol 1's stack, with the frames stack_trace gives", async () => {
  const engine = fakeEngine();
  const core = new DebugCore(engine);
  const out = core.events[Symbol.asyncIterator]();
  const frame = (id: number, func: string) => ({ id, func, file: "/a.py", line: id, code: "x" });
  engine.events.push({
    e: "stopped",
    id: 9,
    p: { thread: { id: 1, name: "MainThread" }, reason: "breakpoint", breakpoint: 2 },
  });
  const [ask] = await engine.sentCount(1);
  assertEquals((ask as { p: unknown }).p, {
    command: "stack_trace",
    args: { thread: 1, start: 0, levels: 1000 },
  });
  engine.events.push({
    e: "response",
    id: ask!.id!,
    p: { result: { frames: [frame(12, "f"), frame(11, "<module>")], total: 2 } },
  });
  const [, stop] = await take(out, 2);
  assertEquals(stop, {
    e: "stack",
    id: 9,
    p: {
      index: 1,
      stack: [frame(11, "<module>"), frame(12, "f")],
      thread: { id: 1, name: "MainThread" },
      reason: "breakpoint",
      breakpoint: 2,
    },
  });
  // A malformed one is an internal error, and no stop.
  engine.events.push({ e: "stopped", p: { thread: "main" } });
  const [bad] = await take(out, 1);
  assertEquals([bad!.e, (bad!.p as { type: string }).type], ["error", "internal"]);
});
