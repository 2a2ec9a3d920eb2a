// The web client's state logic without a browser: a scripted link answers its requests.
import { assertEquals, assertRejects } from "../../tests/support/assert.ts";
import type { ErrorPayload, Message } from "../../protocol/mod.ts";
import { checkClientEvent } from "../../protocol/validate.ts";
import { CommandError, QdbClient } from "../client.ts";
import { memoryPair } from "../../transport/memory.ts";
import {
  type Change,
  MAX_OUTPUT_LINES,
  PAGE,
  RequestError,
  type StateLink,
  WebState,
} from "./state.ts";

const FILE = "/src/app.py";

/**
 * A state whose requests a function answers (as the tracer would, through the server), over a
 * link that is the session's client as far as the state can tell.
 */
function scripted(answer: (msg: Message) => { e: "ok" | "error"; p: unknown } | undefined) {
  const sent: Message[] = [];
  const changes: Change[] = [];
  let nextId = 1;
  const link: StateLink = {
    request: ((command: string, args?: unknown) => {
      const msg: Message = args === undefined ? { e: command } : { e: command, p: args };
      sent.push(msg);
      const reply = answer(msg);
      return new Promise<unknown>((resolve, reject) => {
        if (!reply) return; // never answered
        queueMicrotask(() =>
          reply.e === "ok"
            ? resolve(reply.p)
            : reject(new CommandError(command, reply.p as ErrorPayload))
        );
      });
    }) as StateLink["request"],
    send(e, p) {
      sent.push(p === undefined ? { e } : { e, p });
      return nextId++;
    },
    isAnswer: () => false,
  };
  const state: WebState = new WebState(() => link);
  const deliver = (msg: Message) => {
    const event = checkClientEvent(msg);
    if (!event) throw new Error(`not an event: ${msg.e}`);
    state.receive(event);
  };
  state.onChange = (change) => changes.push(change);
  return { state, sent, changes, deliver };
}

/** Resolves once `done()` holds, checked after each change. */
function until(state: WebState, done: () => boolean): Promise<void> {
  return new Promise((resolve) => {
    const before = state.onChange;
    state.onChange = (change) => {
      before(change);
      if (done()) resolve();
    };
  });
}

const items = (from: number, n: number) =>
  Array.from({ length: n }, (_, i) => ({
    name: `[${from + i}]`,
    value: String(from + i),
    type: "int",
    ref: 0,
    named: 0,
    indexed: 0,
  }));

function tracer(msg: Message) {
  const p = msg.p as Record<string, number>;
  switch (msg.e) {
    case "threads":
      return {
        e: "ok" as const,
        p: { threads: [{ id: 7, name: "MainThread", state: "stopped" }] },
      };
    case "stack_trace":
      return {
        e: "ok" as const,
        p: {
          frames: [
            { id: 11, func: "f", file: FILE, line: 3, code: "x = 1" },
            { id: 12, func: "<module>", file: FILE, line: 9, code: "f()" },
          ],
          total: 2,
        },
      };
    case "scopes":
      return {
        e: "ok" as const,
        p: { scopes: [{ name: "Locals", kind: "locals", ref: 20 + p.frame!, named: 1 }] },
      };
    case "source":
      return { e: "ok" as const, p: { path: FILE, text: "a\nb\nx = 1\n", hash: "h" } };
    case "variables":
      return {
        e: "ok" as const,
        p: { variables: items(p.start ?? 0, Math.min(p.count ?? PAGE, 250 - (p.start ?? 0))) },
      };
    case "evaluate":
      return msg.p && (msg.p as { expr: string }).expr === "boom"
        ? { e: "error" as const, p: { type: "eval", data: "ZeroDivisionError: division by zero" } }
        : { e: "ok" as const, p: { value: "500", type: "int", ref: 0, named: 0, indexed: 0 } };
  }
  return undefined;
}

const stop = {
  e: "stack",
  p: {
    index: 1,
    stack: [{ file: FILE, line: 9, func: "<module>", code: "f()" }, {
      file: FILE,
      line: 3,
      func: "f",
      code: "x = 1",
    }],
    thread: { id: 7, name: "MainThread" },
    reason: "breakpoint",
  },
};

Deno.test("a stop loads the threads, the stopped thread's frames, its scopes and source", async () => {
  const { state, sent, deliver } = scripted(tracer);
  const loaded = until(state, () => state.scopes.length > 0 && state.sources.has(FILE));
  deliver(stop);
  await loaded;
  assertEquals(sent.map((m) => m.e), ["threads", "stack_trace", "scopes", "source"]);
  assertEquals(state.thread, 7);
  assertEquals(state.frame?.id, 11);
  assertEquals(state.sources.get(FILE), { lines: ["a", "b", "x = 1"] });
  // Another frame: its own scopes.
  await state.selectFrame(12);
  assertEquals(state.scopes[0]!.ref, 32);
  // Running: what belonged to the stop is gone.
  deliver({ e: "running" });
  assertEquals([state.frames.length, state.scopes.length, state.frame], [0, 0, undefined]);
});

Deno.test("a value's children are paged, a hundred at a time", async () => {
  const { state } = scripted(tracer);
  await state.expand(5, 250);
  assertEquals(state.children.get(5)!.items.length, PAGE);
  await state.more(5);
  await state.more(5);
  const known = state.children.get(5)!;
  assertEquals([known.items.length, known.total], [250, 250]);
  assertEquals(known.items.at(-1)!.name, "[249]");
  state.collapse(5);
  assertEquals(state.expanded.has(5), false);
});

Deno.test("the console: results, errors, history", async () => {
  const { state } = scripted(tracer);
  await state.evaluate("len(x) * 2");
  await state.evaluate("boom");
  await state.evaluate("boom");
  assertEquals(state.console, [
    { kind: "input", text: "len(x) * 2" },
    { kind: "result", text: "500" },
    { kind: "input", text: "boom" },
    { kind: "error", text: "ZeroDivisionError: division by zero" },
    { kind: "input", text: "boom" },
    { kind: "error", text: "ZeroDivisionError: division by zero" },
  ]);
  // The same line twice in a row is one history entry.
  assertEquals(state.history, ["len(x) * 2", "boom"]);
});

/** A real client (QdbClient) over an in-memory link to a scripted server. */
async function overClient(answer: (msg: Message) => Message | undefined) {
  const [mine, server] = memoryPair(["page", "server"]);
  void (async () => {
    for await (const item of server.incoming) {
      if (!("message" in item)) continue;
      const msg = item.message;
      const reply = msg.e === "start"
        ? {
          e: "attached",
          p: {
            session: "s",
            protocol: 2,
            server: "qdb test",
            tracer: null,
            clients: [],
            you: "c1",
          },
        }
        : answer(msg);
      if (reply) server.send({ ...reply, id: msg.id! });
    }
  })();
  const client = await QdbClient.connect("ws://qdb.test", {
    session: "s",
    connect: () => Promise.resolve(mine),
  });
  const state = new WebState(() => client);
  const pump = (async () => {
    for await (const event of client.events) state.receive(event);
  })();
  return { state, client, server, pump };
}

Deno.test("through a real client: results are checked, refusals are RequestErrors and are not said twice", async () => {
  const { state, client, pump } = await overClient((msg) =>
    msg.e === "threads"
      ? { e: "ok", p: { threads: [{ id: 7, name: "MainThread", state: "stopped" }] } }
      : msg.e === "evaluate"
      ? { e: "error", p: { type: "eval", data: "NameError: name 'y' is not defined" } }
      : msg.e === "scopes"
      ? { e: "ok", p: { scopes: "not a list" } } // a result that does not check
      : undefined
  );
  assertEquals((await state.request("threads")).threads[0]!.id, 7);
  await state.evaluate("y");
  assertEquals(state.console, [
    { kind: "input", text: "y" },
    { kind: "error", text: "NameError: name 'y' is not defined" },
  ]);
  const bad = await assertRejects(() => state.request("scopes", { frame: 1 }), RequestError);
  assertEquals(bad.type, "tracer");
  client.close();
  await pump;
  // The awaited refusal went to the console once (the state did not log its event again).
  assertEquals(state.console.length, 2);
});

Deno.test("requests in flight fail when the link closes", async () => {
  const { state, server, pump } = await overClient(() => undefined);
  const pending = state.request("threads");
  server.close();
  const error = await assertRejects(() => pending, RequestError);
  assertEquals(error.type, "tracer");
  await pump;
  // Not linked: refused at once, saying so.
  const unlinked = new WebState(() => undefined);
  assertEquals(
    (await assertRejects(() => unlinked.request("threads"), RequestError)).type,
    "tracer",
  );
});

Deno.test("output is kept by lines, partial lines joined, and bounded", () => {
  const { state, deliver } = scripted(() => undefined);
  const print = (input: string, output: string) =>
    deliver({ e: "print", p: { input, exc: false, output } });
  print("<stdout>", "one\ntw");
  print("<stdout>", "o\nthree");
  print("<stderr>", "oops\n");
  assertEquals(state.output, [
    { stream: "stdout", text: "one\n" },
    { stream: "stdout", text: "two\n" },
    { stream: "stdout", text: "three" },
    { stream: "stderr", text: "oops\n" },
  ]);
  // An eval's output is the console's, not the program's.
  print("x", "1");
  assertEquals(state.output.length, 4);
  for (let i = 0; i < MAX_OUTPUT_LINES + 10; i++) print("<stdout>", `${i}\n`);
  assertEquals(state.output.length, MAX_OUTPUT_LINES);
  assertEquals(state.output.at(-1)!.text, `${MAX_OUTPUT_LINES + 9}\n`);
});

Deno.test("the gutter toggles breakpoints; the editor replaces one", () => {
  const { state, sent, deliver } = scripted(() => undefined);
  state.toggleBreakpoint(FILE, 3);
  assertEquals(sent.at(-1)!.e, "set_break");
  assertEquals(sent.at(-1)!.p, { file: FILE, line: 3 });
  const bp = {
    id: 4,
    file: FILE,
    line: 3,
    temp: false,
    cond: null,
    func: null,
    enabled: true,
    ignore: 0,
    hits: 0,
  };
  deliver({ e: "breakpoints", p: [bp] });
  state.toggleBreakpoint(FILE, 3);
  assertEquals(sent.at(-1)!.e, "clear_break");
  assertEquals(sent.at(-1)!.p, { id: 4 });
  state.editBreakpoint(FILE, 3, { cond: "x > 1", hit_condition: ">= 2", log: null });
  assertEquals(sent.slice(-2).map((m) => [m.e, m.p]), [
    ["clear_break", { id: 4 }],
    ["set_break", { file: FILE, line: 3, cond: "x > 1", hit_condition: ">= 2" }],
  ]);
});

Deno.test("what other clients do is listed", () => {
  const { state, deliver, changes } = scripted(() => undefined);
  deliver({
    e: "command",
    p: { client: { id: "c2", name: "ana", address: "h" }, e: "set_break", p: { line: 3 } },
  });
  assertEquals(state.peers, ['ana: set_break {"line":3}']);
  assertEquals(changes, ["peers"]);
});

Deno.test("a command the server refuses is said in the console, not dropped", () => {
  const { state, deliver } = scripted(() => undefined);
  state.command("set_watch", "not a list");
  deliver({
    e: "error",
    p: { type: "payload", data: "payload must be an array", command: "set_watch" },
    id: 1,
  });
  assertEquals(state.console, [{ kind: "error", text: "set_watch: payload must be an array" }]);
});
