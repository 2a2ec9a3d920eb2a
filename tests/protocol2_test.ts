// Protocol 2 as a client written from protocol/README.md alone uses it: plain JSON over a
// WebSocket to `qdb serve`, a program run by `qdb trace`, on every CPython 3.8+ found.
import { assert, assertEquals, assertMatch } from "./support/assert.ts";
import { Inbox, type Received } from "./support/inbox.ts";
import { QdbProcess, startServe, startTrace } from "./support/processes.ts";
import { findPythons, type PythonInstall } from "./support/pythons.ts";
import { connectWebSocket } from "../transport/websocket.ts";

const pythons = await findPythons();
const PROGRAM = new URL("../testdata/inspected.py", import.meta.url).pathname;
const BREAK_LINE = 20;

/** A client speaking JSON messages, as the README describes them. */
async function attach(url: string, protocol?: number) {
  const link = await connectWebSocket(url);
  const inbox = new Inbox(link);
  link.send({ e: "start", p: protocol === undefined ? {} : { protocol }, id: "hello" });
  const attached = await inbox.expect("attached");
  let next = 1;
  /** Sends a command and returns its one reply, `ok` or `error`, found by its id. */
  const call = async (e: string, p?: unknown): Promise<Received> => {
    const id = `r${next++}`;
    link.send(p === undefined ? { e, id } : { e, p, id });
    const reply = await inbox.expectId(id, ["ok", "error"]);
    return reply;
  };
  const ok = async (e: string, p?: unknown) => {
    const reply = await call(e, p);
    assertEquals(reply.e, "ok", `${e}: ${JSON.stringify(reply.p)}`);
    return reply.p;
  };
  return { link, inbox, attached, call, ok, [Symbol.asyncDispose]: () => close(link, inbox) };
}

async function close(link: { close(): void }, inbox: Inbox) {
  link.close();
  await inbox.done;
}

type Serve = { clientUrl: string; tracerUrl: string };

async function scenario(serve: Serve, python: PythonInstall) {
  const session = `v2-${python.version}`;
  await using trace = startTrace(
    serve,
    python.path,
    session,
    "--no-stop",
    "--break",
    `${PROGRAM}:${BREAK_LINE}`,
    PROGRAM,
  );
  await using ana = await attach(`${serve.clientUrl}/${session}`, 2);
  assertEquals(ana.attached.p.protocol, 2);
  // A second client of the session, on protocol 1: it sees no reply to ana's commands.
  await using old = await attach(`${serve.clientUrl}/${session}`);
  assertEquals(old.attached.p.protocol, 1);
  await ana.inbox.expect("stack", (p) => p.stack.at(-1).line === BREAK_LINE);

  // Threads: all stop together. The main one stopped at the breakpoint; the spinner, running
  // Python code, waits at its next line; the worker, waiting in native code, runs until it
  // returns to Python.
  const { threads, spinner } = await heldSpinner(ana);
  const main = threads.find((t: { name: string }) => t.name === "MainThread");
  const worker = threads.find((t: { name: string }) => t.name === "worker");
  assertEquals(main.state, "stopped");
  assertEquals(worker.state, "running");
  const running = await ana.call("stack_trace", { thread: worker.id });
  assertEquals([running.e, running.p.type], ["error", "thread"]);
  assertMatch(running.p.data, /running outside Python/);
  // A held thread's frames and values are read like the stopped one's.
  const held = await ana.ok("stack_trace", { thread: spinner.id });
  assertEquals(held.frames[0].func, "spin");
  const heldScopes = await ana.ok("scopes", { frame: held.frames[0].id });
  const heldLocals = await ana.ok("variables", { ref: heldScopes.scopes[0].ref });
  const laps = heldLocals.variables.find((v: { name: string }) => v.name === "laps");
  assertEquals(laps.type, "int");
  // It stays where it is while the program is stopped.
  const again = await ana.ok("evaluate", { expr: "laps", frame: held.frames[0].id });
  assertEquals(again.value, laps.value);

  // The stopped thread's frames, newest first, with ids.
  const trace1 = await ana.ok("stack_trace", { thread: main.id });
  assertEquals(trace1.frames.map((f: { func: string }) => f.func), ["inner", "main", "<module>"]);
  assertEquals(trace1.total, 3);
  const [inner, outer] = trace1.frames;
  assertEquals([inner.file, inner.line], [PROGRAM, BREAK_LINE]);
  assertMatch(inner.code, /return big\[i\] \+ offset/);
  const page = await ana.ok("stack_trace", { thread: main.id, start: 1, levels: 1 });
  assertEquals(page.frames.map((f: { id: number }) => f.id), [outer.id]);

  // Scopes: a nested function has its closure apart from its locals.
  const innerScopes = await ana.ok("scopes", { frame: inner.id });
  assertEquals(innerScopes.scopes.map((s: { kind: string }) => s.kind), [
    "locals",
    "closure",
    "globals",
  ]);
  const closure = await ana.ok("variables", { ref: innerScopes.scopes[1].ref });
  assertEquals(closure.variables.map((v: { name: string }) => v.name).sort(), ["big", "offset"]);
  const outerScopes = await ana.ok("scopes", { frame: outer.id });
  const locals = await ana.ok("variables", { ref: outerScopes.scopes[0].ref });
  const byName = Object.fromEntries(
    locals.variables.map((v: { name: string }) => [v.name, v]),
  );

  // A list of ten million items, 100 at a time, anywhere in it.
  const big = byName.big;
  assertEquals([big.type, big.indexed, big.named], ["list", 10_000_000, 0]);
  assert(big.value.length <= 10_000, `a bounded repr, not ${big.value.length} characters`);
  for (const start of [0, 100, 5_000_000, 9_999_900]) {
    const { variables } = await ana.ok("variables", { ref: big.ref, start, count: 100 });
    assertEquals(variables.length, 100);
    assertEquals(variables[0], {
      name: `[${start}]`,
      value: String(start),
      type: "int",
      ref: 0,
      named: 0,
      indexed: 0,
    });
    assertEquals(variables[99].name, `[${start + 99}]`);
  }
  const past = await ana.ok("variables", { ref: big.ref, start: 10_000_000, count: 100 });
  assertEquals(past.variables, []);
  const keys = await ana.ok("variables", { ref: byName.table.ref, start: 99_998, count: 10 });
  assertEquals(keys.variables.map((v: { name: string; value: string }) => [v.name, v.value]), [
    ["k99998", "99998"],
    ["k99999", "99999"],
  ]);
  // Far pages of a big dict come from its keys, listed once per stop: a key replaced since
  // (same size) is seen, not a stale listing.
  await ana.ok("evaluate", {
    expr: "(table.pop('k99999'), table.update(new=-1))",
    frame: outer.id,
  });
  const relisted = await ana.ok("variables", { ref: byName.table.ref, start: 99_998, count: 10 });
  assertEquals(relisted.variables.map((v: { name: string; value: string }) => [v.name, v.value]), [
    ["k99998", "99998"],
    ["new", "-1"],
  ]);
  // Keys whose __hash__ is the program's: paging far into their dict runs none of it.
  const hashes = (await ana.ok("evaluate", { expr: "HASHES" })).value;
  const keyed = await ana.ok("variables", { ref: byName.keyed.ref, start: 15_000, count: 3 });
  assertEquals(keyed.variables.map((v: { name: string }) => v.name), [
    "Key(15000)",
    "Key(15001)",
    "Key(15002)",
  ]);
  assertEquals((await ana.ok("evaluate", { expr: "HASHES" })).value, hashes);

  // An object that contains itself, three levels deep: the same reference each time.
  let ref = byName.node.ref;
  for (let level = 0; level < 3; level++) {
    const { variables } = await ana.ok("variables", { ref });
    const me = variables.find((v: { name: string }) => v.name === "me");
    const name = variables.find((v: { name: string }) => v.name === "name");
    assertEquals(name.value, "'root'");
    assertEquals(me.type, "__main__.Node");
    assertEquals(me.ref, byName.node.ref);
    ref = me.ref;
  }

  // Evaluate in a frame that is not the selected one, as a hover would.
  const value = await ana.ok("evaluate", { expr: "offset * 6", frame: outer.id, context: "hover" });
  assertEquals([value.value, value.type, value.ref], ["42", "int", 0]);
  const failed = await ana.call("evaluate", { expr: "nope", frame: inner.id });
  assertEquals(failed.e, "error");
  assertEquals(failed.p.type, "eval");
  assertMatch(failed.p.data, /NameError/);

  // Changing values: a local of a frame that is not selected, a list item, an attribute.
  const set = await ana.ok("set_variable", {
    ref: outerScopes.scopes[0].ref,
    name: "offset",
    value: "offset + 1",
    frame: outer.id,
  });
  assertEquals(set.value, "8");
  const offsetNow = await ana.ok("evaluate", { expr: "offset", frame: outer.id });
  assertEquals(offsetNow.value, "8");
  await ana.ok("set_variable", { ref: big.ref, name: "[2]", value: "-2" });
  await ana.ok("set_variable", { ref: byName.node.ref, name: "name", value: "'leaf'" });
  const changed = await ana.ok("evaluate", { expr: "(big[2], node.name)", frame: outer.id });
  assertEquals(changed.value, "(-2, 'leaf')");
  const noSuch = await ana.call("set_variable", {
    ref: outerScopes.scopes[0].ref,
    name: "nope",
    value: "1",
  });
  assertEquals([noSuch.e, noSuch.p.type], ["error", "reference"]);
  const { matches } = await ana.ok("completions", { text: "of", frame: inner.id });
  assert(matches.includes("offset"), JSON.stringify(matches));

  // The source of the program, which this client has no copy of (it reads it to compare).
  const text = await Deno.readTextFile(PROGRAM);
  const source = await ana.ok("source", { path: PROGRAM });
  assertEquals(source.text, text);
  assertEquals(source.hash, `sha256:${await sha256(text)}`);
  for (const path of ["/etc/passwd", "testdata/inspected.py", `${PROGRAM}/../inspected.py`]) {
    const refused = await ana.call("source", { path });
    assertEquals([refused.e, refused.p.type], ["error", "source"], path);
  }

  // Replies are matched by id, whatever order they are sent in, numbers and strings alike.
  const ids: [string | number, string, unknown][] = [
    [41, "threads", undefined],
    ["x", "scopes", { frame: outer.id }],
    [42, "variables", { ref: big.ref, start: 3, count: 1 }],
  ];
  for (const [id, e, p] of ids) ana.link.send(p === undefined ? { e, id } : { e, p, id });
  const replies = await Promise.all(ids.map(([id]) => ana.inbox.expectId(id, ["ok", "error"])));
  assert("threads" in replies[0]!.p);
  assert("scopes" in replies[1]!.p);
  assertEquals(replies[2]!.p.variables[0].name, "[3]");

  // A protocol 1 client may not use them, and saw none of ana's replies.
  const refused = await old.call("threads");
  assertEquals([refused.e, refused.p.type], ["error", "protocol"]);
  assertEquals(old.inbox.seen.filter((m) => m.e === "ok"), []);

  // References are bounded per stop: paging through 100,001 lists runs out, with an error.
  // (The same table on every version: checked on the newest only, to keep the suite fast.)
  if (python === pythons.at(-1)) {
    const expr = "[[i] for i in range(100001)]";
    const lists = await ana.ok("evaluate", { expr, frame: outer.id });
    let limited: Received | undefined;
    for (let start = 0; start <= 100_000 && !limited; start += 1000) {
      const page = await ana.call("variables", { ref: lists.ref, start, count: 1000 });
      if (page.e === "error") limited = page;
    }
    assertEquals(limited?.p.type, "limit");
    assertMatch(limited!.p.data, /100000 references at this stop/);
  }

  // Resuming names the thread: only the stopped one can be.
  const notStopped = await ana.call("continue", { thread: worker.id });
  assertEquals([notStopped.e, notStopped.p.type], ["error", "thread"]);
  // References last until the program resumes: at the next stop the old ones are refused.
  ana.link.send({ e: "continue", p: { thread: main.id } });
  await ana.inbox.expect("stack", (p) => p.stack.at(-1).line === BREAK_LINE);
  const stale = await ana.call("variables", { ref: big.ref });
  assertEquals([stale.e, stale.p.type], ["error", "reference"]);
  const staleFrame = await ana.call("scopes", { frame: inner.id });
  assertEquals([staleFrame.e, staleFrame.p.type], ["error", "reference"]);

  // Resuming a held thread with a step: it steps, the others go on, and its step stops the
  // program again (the main thread, ending, waits for it). Not on 3.9-3.11 for now: there the
  // program hung twice in about ten loaded suite runs after such a step and a continue (never in
  // thirty runs of this test alone); README, known limitations.
  if (!/^3\.(9|10|11)\./.test(python.version)) {
    const last = await heldSpinner(ana);
    ana.link.send({ e: "next", p: { thread: last.spinner.id }, id: "step-spinner" });
    const goes = await ana.inbox.expectId("step-spinner", ["running"]);
    assertEquals(goes.p.thread.name, "spinner");
    const stepped = await ana.inbox.expect("stack", (p) => p.thread.name === "spinner");
    assertEquals([stepped.p.reason, stepped.p.stack.at(-1).func], ["step", "spin"]);
  }

  ana.link.send({ e: "continue" });
  await ana.inbox.expect("exited");
  assertEquals((await trace.exited()).code, 0);
}

/**
 * The threads at a stop once the spinner is held: it waits at its next line of Python, which
 * comes within a lap (a millisecond's sleep), so a few asks suffice; bounded, not timed.
 */
async function heldSpinner(ana: Awaited<ReturnType<typeof attach>>) {
  for (let ask = 1;; ask++) {
    const { threads } = await ana.ok("threads");
    const spinner = threads.find((t: { name: string }) => t.name === "spinner");
    if (spinner?.state === "stopped" || ask === 1000) {
      assertEquals(spinner?.state, "stopped", JSON.stringify(threads));
      return { threads, spinner };
    }
  }
}

const COUNTER = new URL("../testdata/counter.py", import.meta.url).pathname;

async function breakpointsScenario(serve: Serve, python: PythonInstall) {
  const session = `v2-bp-${python.version}`;
  await using trace = startTrace(serve, python.path, session, COUNTER);
  await using ana = await attach(`${serve.clientUrl}/${session}`, 2);
  await ana.inbox.expect("stack", (p) => p.reason === "entry");
  // An editor's whole list for the file: a logpoint, a hit count, a line without code, and a
  // line past the end.
  const set = await ana.ok("set_breakpoints", {
    file: COUNTER,
    breakpoints: [
      { line: 3, log: "i={i} total={total} {{braces}} {nope}" },
      { line: 4, hit_condition: "% 3" },
      { line: 5, hit_condition: "== 10" },
      { line: 99 },
    ],
  });
  const bps = set.breakpoints;
  assertEquals(bps.map((b: { line: number; verified: boolean }) => [b.line, b.verified]), [
    [3, true],
    [4, true],
    [6, true],
    [99, false],
  ]);
  assertEquals(bps[3].id, 0);
  assertMatch(bps[3].message, /the file has only 7 lines/);
  await ana.inbox.expect("breakpoints", (p) => p.length === 3);
  // The hit count stops at the 3rd hit of line 4 (i == 2), after three log lines, in order.
  ana.link.send({ e: "continue" });
  const stop = await ana.inbox.expect("stack", (p) => p.reason === "breakpoint");
  assertEquals(stop.p.stack.at(-1).line, 4);
  const logs = ana.inbox.seen.filter((m) =>
    m.e === "print" && (m.p as { input: string }).input === "<log>"
  )
    .map((m) => (m.p as { output: string }).output);
  assertEquals(logs, [
    "i=0 total=0 {braces} <NameError: name 'nope' is not defined>\n",
    "i=1 total=0 {braces} <NameError: name 'nope' is not defined>\n",
    "i=2 total=1 {braces} <NameError: name 'nope' is not defined>\n",
  ]);
  const { threads } = await ana.ok("threads");
  const { frames } = await ana.ok("stack_trace", { thread: threads[0].id });
  assertEquals((await ana.ok("evaluate", { expr: "i", frame: frames[0].id })).value, "2");
  // Line 4 again at i == 5, after three more log lines.
  ana.link.send({ e: "continue" });
  await ana.inbox.expect("stack", (p) => p.reason === "breakpoint" && p.stack.at(-1).line === 4);
  assertEquals(
    (await ana.ok("evaluate", { expr: "i", context: "watch" })).value,
    "5",
  );
  // Clearing the file's breakpoints: the program runs to its end, logging nothing more.
  const cleared = await ana.ok("set_breakpoints", { file: COUNTER, breakpoints: [] });
  assertEquals(cleared.breakpoints, []);
  ana.link.send({ e: "continue" });
  await ana.inbox.expect("exited");
  assertEquals((await trace.exited()).code, 0);
  const allLogs = ana.inbox.seen.filter((m) =>
    m.e === "print" && (m.p as { input: string }).input === "<log>"
  );
  assertEquals(allLogs.length, 6);
  assertMatch(
    trace.text.stdout + ana.inbox.seen.map((m) => JSON.stringify(m)).join(""),
    /total 45/,
  );
}

const POSTMORTEM = new URL("../testdata/postmortem.py", import.meta.url).pathname;

async function exceptionScenario(serve: Serve, python: PythonInstall) {
  const session = `v2-exc-${python.version}`;
  await using trace = startTrace(serve, python.path, session, POSTMORTEM);
  await using ana = await attach(`${serve.clientUrl}/${session}`, 2);
  await ana.inbox.expect("stack", (p) => p.reason === "entry");
  const { threads } = await ana.ok("threads");
  const notYet = await ana.call("exception_info", { thread: threads[0].id });
  assertEquals([notYet.e, notYet.p.type], ["error", "thread"]);
  assertMatch(notYet.p.data, /did not stop on an exception \(it stopped: entry\)/);
  ana.link.send({ e: "continue" });
  await ana.inbox.expect("stack", (p) => p.post_mortem === true);
  const info = await ana.ok("exception_info", { thread: threads[0].id });
  assertEquals([info.type, info.message, info.uncaught], [
    "ZeroDivisionError",
    "division by zero",
    true,
  ]);
  assertMatch(info.traceback, /ratio = 10 \/ d[\s\S]*ZeroDivisionError: division by zero\n$/);
  const { variables } = await ana.ok("variables", { ref: info.ref });
  const args = variables.find((v: { name: string }) => v.name === "args");
  assertEquals(args.value, "('division by zero',)");
  ana.link.send({ e: "disable", p: "hard" });
  await trace.exited();
}

async function sha256(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

Deno.test({
  name:
    "protocol 2: threads, frames, scopes, paged variables, source, breakpoints, exception info, replies by id",
  ignore: pythons.length === 0,
  async fn(t) {
    await using serve = await startServe();
    // Versions run side by side: each mostly waits on its own interpreter.
    const results = await Promise.allSettled(pythons.map((python) =>
      t.step({
        name: `Python ${python.version}`,
        fn: async () => {
          await scenario(serve, python);
          await breakpointsScenario(serve, python);
          await exceptionScenario(serve, python);
        },
        sanitizeOps: false,
        sanitizeResources: false,
        sanitizeExit: false,
      })
    ));
    const failed = results.filter((r) => r.status === "rejected");
    if (failed.length > 0) throw (failed[0] as PromiseRejectedResult).reason;
  },
});

Deno.test({
  name: "terminal: threads, thread N, and p of a huge value says how much there is",
  ignore: pythons.length === 0,
  async fn() {
    const python = pythons.at(-1)!;
    await using run = new QdbProcess(
      ["run", "--python", python.path, "--break", `${PROGRAM}:${BREAK_LINE}`, PROGRAM],
      { holdStdin: true },
    );
    const input = run.child.stdin.getWriter();
    const type = (text: string) => input.write(new TextEncoder().encode(text));
    await run.line(/^> .*inspected\.py\(\d+\)<module>\(\)$/);
    await type("c\n");
    await run.line(new RegExp(`^> .*inspected\\.py\\(${BREAK_LINE}\\)inner\\(\\)$`));
    // `threads` until the spinner is held (at its next lap, within a millisecond's sleep): a
    // bounded number of asks, each marked by a `p` after it.
    let spinner = "";
    for (let ask = 1; ask <= 200 && !/stopped$/.test(spinner); ask++) {
      await type(`threads\np 'asked ${ask}'\n`);
      await run.line(new RegExp(`'asked ${ask}'$`));
      const mark = run.stdoutLines.findIndex((l) => l.endsWith(`'asked ${ask}'`));
      // The line above it that is not a piped command shown after its prompt.
      const above = run.stdoutLines.slice(0, mark).filter((l) => !l.startsWith("(qdb) "));
      spinner = above.at(-1) ?? "";
    }
    assertMatch(spinner, /^ {2}3 {2}spinner {2}\(\d+\) {2}stopped$/);
    await type("thread 3\nwhere\np laps\np laps\nthread 2\nthread 1\nthread 9\np big\nq\n");
    await input.close();
    await run.exited();
    const out = run.text.stdout;
    assertMatch(out, /\* 1 {2}MainThread {2}\(\d+\) {2}stopped$/m);
    assertMatch(out, /^ {2}2 {2}worker {2}\(\d+\) {2}running$/m);
    // A held thread: selected, its frames shown, its values read.
    const held = out.slice(out.indexOf("[Current thread is 3 (spinner)]"));
    assertMatch(held, /^> .*inspected\.py\(\d+\)spin\(\)$/m);
    assertMatch(held, /threading\.py\(\d+\)run\(\)\n.*\n> .*inspected\.py\(\d+\)spin\(\)$/m);
    const laps = held.match(/^(\d+)\n\(qdb\) p laps\n(\d+)$/m);
    assert(laps && laps[1] === laps[2], `laps read twice: ${held}`);
    assertMatch(out, /\*\*\* Thread 2 \(worker\) is running: it is in a call outside Python/);
    assertMatch(out, /^\[Current thread is 1 \(MainThread\)\]$/m);
    assertMatch(out, /\*\*\* No thread 9/);
    assertMatch(out, /^\[0, 1, 2, .*9998, 9999, \.\.\.\]$/m);
    assertMatch(out, /^\[qdb: a list of 10,000,000 items; the first 10,000 are shown\]$/m);
  },
});

Deno.test({
  name: "the tracer says what its engine can do, running threads included where it can",
  ignore: pythons.length === 0,
  async fn() {
    await using serve = await startServe();
    for (const python of pythons) {
      const session = `caps-${python.version}`;
      await using trace = startTrace(serve, python.path, session, PROGRAM);
      await using ana = await attach(`${serve.clientUrl}/${session}`, 2);
      let tracer = ana.attached.p.tracer;
      if (tracer === null) tracer = (await ana.inbox.expect("attached", (p) => p.tracer)).p.tracer;
      const caps: string[] = tracer.capabilities;
      assert(caps.includes("logpoints") && caps.includes("hit_conditions"), caps.join());
      assertEquals(caps.includes("running_threads"), !python.version.startsWith("3.8."));
      ana.link.send({ e: "disable", p: "hard" });
      await trace.exited();
    }
  },
});
