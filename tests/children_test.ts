// Child processes become child sessions: on every CPython found, one program starts children in
// every way (multiprocessing's fork, spawn and forkserver, a ProcessPoolExecutor, subprocess of
// sys.executable, os.fork, and a shell child); a breakpoint in the children's code stops each,
// its locals are read through its own session, it goes on, and its result reaches the program,
// whose output and exit code are those of a plain run. With following off, the children run
// untraced. Tests wait on events; the inbox's hang guard is not a speed test.
import { assert, assertEquals, assertMatch, assertStringIncludes } from "./support/assert.ts";
import { DapAdapter } from "../dap/adapter.ts";
import { HANG_GUARD_MS, Inbox, type Received } from "./support/inbox.ts";
import { findPythons, onEveryPython, type PythonInstall } from "./support/pythons.ts";
import { serve } from "../server.ts";
import { startTracer } from "../tracer.ts";
import { pythonEngine } from "../engine/python/python_engine.ts";
import { connectWebSocket } from "../transport/websocket.ts";
import { QdbProcess } from "./support/processes.ts";

const pythons = await findPythons();
// DAP messages, loosely typed for assertions.
// deno-lint-ignore no-explicit-any
type Any = any;
const PROGRAM = new URL("../testdata/children.py", import.meta.url).pathname;
const WORK_LINE = Deno.readTextFileSync(PROGRAM).split("\n")
  .findIndex((l) => l.endsWith("# @work")) + 1;
// `environ` first: what qdb adds to a child's environment is gone before its program runs.
const MODES = [
  "environ",
  "fork",
  "spawn",
  "forkserver",
  "executor",
  "subprocess",
  "osfork",
  "shell",
];
/** Stops at the breakpoint in work(): two tasks per pool, one per single child. */
const EXPECTED_STOPS = 2 + 2 + 2 + 2 + 1 + 1;
const PLAIN_OUTPUT = [
  "QDB variables: []",
  "child sees: []",
  "results [21, 41]",
  "results [21, 41]",
  "results [21, 41]",
  "results [21, 41]",
  "child said child result 21 and exited with 3",
  "child exited with 21",
  "shell said shell says 42 and exited with 5",
].join("\n") + "\n";

async function attach(url: string, session: string): Promise<Inbox> {
  const link = await connectWebSocket(`${url}/${encodeURIComponent(session)}`);
  link.send({ e: "start", p: { protocol: 2 }, id: "hello" });
  const inbox = new Inbox(link);
  await inbox.expect("attached");
  return inbox;
}

async function debugTree(python: PythonInstall, follow: boolean) {
  await using server = await serve({ clientPort: 0, tracerPort: 0, inactivityTimeout: 0 });
  const root = await attach(server.clientUrl, "kids");
  let stdout = "";
  let stderr = "";
  await using tracer = await startTracer({
    engine: pythonEngine,
    interpreter: python.path,
    program: PROGRAM,
    args: MODES,
    cwd: new URL("../testdata/", import.meta.url).pathname,
    server: server.tracerUrl,
    session: "kids",
    stopOnEntry: false,
    breakpoints: [`${PROGRAM}:${WORK_LINE}`],
    followChildren: follow,
    stdin: "null",
    onOutput: (stream, text) => {
      if (stream === "stdout") stdout += text;
      else stderr += text;
    },
  });
  const exited = root.expect("exited");
  const stops: Received[] = [];
  const values: string[] = [];
  while (true) {
    const next = await Promise.race([
      exited.then(() => undefined),
      root.expect("child", (p) => p.state === "stopped"),
    ]);
    if (next === undefined) break;
    stops.push(next);
    const { session, parent, pid, where } = next.p;
    assertEquals(parent, "kids");
    assertEquals(session, `kids/${pid}`);
    assertEquals([where.line, where.func, where.reason], [WORK_LINE, "work", "breakpoint"]);
    // Debug the child through its own session: read a local, then let it go on.
    const child = await attach(server.clientUrl, session);
    const stack = await child.expect("stack");
    assertEquals(stack.p.stack[stack.p.index].line, WORK_LINE);
    child.transport.send({ e: "eval", p: "x", id: 1 });
    values.push((await child.expect("print", (p) => p.input === "x")).p.output);
    child.transport.send({ e: "continue", id: 2 });
    await child.expect("running");
    child.transport.close();
    await child.done;
  }
  assertEquals((await exited).p.code, 7);
  assertEquals((await tracer.done).code, 7);
  root.transport.close();
  await root.done;
  // Nothing on stderr either, as in a plain run (3.12 warns at fork() when threads run: qdb's
  // own must not count).
  assertEquals(stderr, "");
  return { stops, values, stdout, seen: root.seen as Received[] };
}

onEveryPython("children of every kind are debugged as child sessions", async (python) => {
  const { stops, values, stdout, seen } = await debugTree(python, true);
  assertEquals(stops.length, EXPECTED_STOPS, JSON.stringify(stops.map((s) => s.p)));
  assertEquals(values.sort(), ["10", "10", "10", "10", "10", "10", "20", "20", "20", "20"]);
  assertEquals(stdout, PLAIN_OUTPUT);
  // Every child session ended, and said so to the program's clients.
  const ended = seen.filter((m) => m.e === "child" && m.p?.state === "ended");
  const started = new Set(seen.filter((m) => m.e === "child").map((m) => m.p.session));
  assertEquals(ended.length, started.size);
  // A shell is not Python: it ran untouched, and no session was made for it.
  assert(![...seen].some((m) => m.e === "child" && /sh$/.test(m.p.argv[0] ?? "")));
});

Deno.test({
  name: "with following off, children run untraced and the program is unchanged",
  ignore: pythons.length === 0,
  async fn() {
    const python = pythons.at(-1)!;
    const { stops, stdout, seen } = await debugTree(python, false);
    assertEquals(stops.length, 0);
    assertEquals(seen.filter((m) => m.e === "child").length, 0);
    assertStringIncludes(stdout, "child exited with 21");
    assertEquals(stdout, PLAIN_OUTPUT);
  },
});

Deno.test({
  name: "qdb run: a child's stop is announced, attach PID debugs it, and the program goes on",
  ignore: pythons.length === 0,
  async fn() {
    const python = pythons.at(-1)!;
    await using run = new QdbProcess([
      "run",
      "--python",
      python.path,
      "--no-stop",
      "--break",
      `${PROGRAM}:${WORK_LINE}`,
      PROGRAM,
      "subprocess",
    ], { holdStdin: true });
    const input = run.child.stdin.getWriter();
    const type = (line: string) => input.write(new TextEncoder().encode(`${line}\n`));
    const [, pid] = await run.line(
      /\[child (\d+) stopped at \S*children\.py:\d+ in work; "attach \1" to debug it\]/,
    );
    // The program's terminal is not yanked away: the person chooses to go there.
    await type(`:attach ${pid}`);
    await run.line(new RegExp(`\\[session \\S+/${pid}: .*children\\.py child 10 \\(pid ${pid}\\)`));
    await run.line(/> \S*children\.py\(\d+\)work\(\)/);
    await type("p x");
    await run.line(/^(\(qdb \d+\) )*10$/);
    await type("c");
    // The child's end is said as the child's (first hour 2, item 6).
    await run.line(
      new RegExp(`This child process \\(pid ${pid}\\) exited with code 3; its parent runs on`),
    );
    await run.line(/\[back in session /);
    await run.line(/child said child result 21 and exited with 3/);
    assertEquals((await run.exited()).code, 7);
    await input.close().catch(() => {});
  },
});

/**
 * A server, a client attached to `session` before its program starts, and the path of a flag
 * file (not there yet) that the program's `waiter` child waits for (it makes `FLAG.ready` as
 * it starts to wait).
 */
async function withFlag(session: string) {
  const flag = await Deno.makeTempFile({ prefix: "qdb-flag-" });
  await Deno.remove(flag);
  const server = await serve({ clientPort: 0, tracerPort: 0, inactivityTimeout: 0 });
  const root = await attach(server.clientUrl, session);
  return {
    flag,
    server,
    root,
    async [Symbol.asyncDispose]() {
      await server.close();
      await Deno.remove(flag).catch(() => {});
      await Deno.remove(`${flag}.ready`).catch(() => {});
    },
  };
}

/** A DAP adapter in this process, as an editor drives it: requests in, messages out. */
function dapEditor() {
  const out: Record<string, unknown>[] = [];
  const waiters: (() => void)[] = [];
  const adapter = new DapAdapter((message) => {
    out.push(message as Record<string, unknown>);
    for (const wake of waiters.splice(0)) wake();
  });
  let seq = 1;
  // Waits for a message; the hang guard fails a test that would wait forever.
  const next = async (where: (m: Record<string, unknown>) => boolean) => {
    const deadline = Date.now() + HANG_GUARD_MS;
    let from = 0;
    while (true) {
      const found = out.slice(from).find(where);
      if (found) return found;
      from = out.length;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const woke = await new Promise<boolean>((resolve) => {
        waiters.push(() => resolve(true));
        timer = setTimeout(() => resolve(false), Math.max(0, deadline - Date.now()));
      });
      clearTimeout(timer);
      if (!woke) throw new Error(`No such DAP message; got ${JSON.stringify(out).slice(-800)}`);
    }
  };
  return {
    adapter,
    out,
    next,
    async request(command: string, args: Record<string, unknown> = {}) {
      const s = seq++;
      await adapter.handle({ type: "request", seq: s, command, arguments: args });
      const response = await next((m) => m.type === "response" && m.request_seq === s) as Any;
      if (!response.success) throw new Error(`${command}: ${response.message}`);
      return response.body;
    },
  };
}

Deno.test({
  name: "DAP: a child process becomes a debug session of its own (startDebugging)",
  ignore: pythons.length === 0,
  async fn() {
    const python = pythons.at(-1)!;
    const parent = dapEditor();
    await parent.request("initialize", { adapterID: "qdb", supportsStartDebuggingRequest: true });
    await parent.request("launch", {
      program: PROGRAM,
      args: ["subprocess"],
      python: python.path,
      cwd: new URL("../testdata/", import.meta.url).pathname,
    });
    await parent.request("setBreakpoints", {
      source: { path: PROGRAM },
      breakpoints: [{ line: WORK_LINE }],
    });
    await parent.request("configurationDone");
    const start = await parent.next((m) => m.command === "startDebugging") as Any;
    assertEquals(start.type, "request");
    assertEquals(start.arguments.request, "attach");
    const configuration = start.arguments.configuration;
    assertMatch(configuration.session, /\/\d+$/);
    assertMatch(configuration.name, /children\.py child 10 \(pid \d+\)/);
    // The editor starts a second adapter with that configuration, as VS Code does.
    const child = dapEditor();
    await child.request("initialize", { adapterID: "qdb" });
    await child.request("attach", configuration);
    await child.request("configurationDone");
    const stopped = await child.next((m) => m.event === "stopped") as Any;
    // As an editor does: the threads, then the stopped one's frames.
    const { threads } = await child.request("threads") as Any;
    assert(threads.some((t: { id: number }) => t.id === stopped.body.threadId));
    const { stackFrames } = await child.request("stackTrace", {
      threadId: stopped.body.threadId,
    }) as Any;
    assertEquals([stackFrames[0].name, stackFrames[0].line], ["work", WORK_LINE]);
    const value = await child.request("evaluate", {
      expression: "x",
      frameId: stackFrames[0].id,
    }) as Any;
    assertEquals(value.result, "10");
    await child.request("continue", { threadId: stopped.body.threadId });
    // The child ends, its result reaches the program, and the program ends as it would.
    await child.next((m) => m.event === "terminated");
    const exited = await parent.next((m) => m.event === "exited") as Any;
    assertEquals(exited.body.exitCode, 7);
    const output = parent.out.filter((m) => m.event === "output")
      .map((m: Any) => m.body.output).join("");
    assertStringIncludes(output, "child said child result 21 and exited with 3");
    await child.adapter.close();
    await parent.adapter.close();
  },
});

Deno.test({
  name: "a breakpoint set for the children reaches a child that already runs",
  ignore: pythons.length === 0,
  async fn() {
    const python = pythons.at(-1)!;
    await using tree = await withFlag("live");
    const { flag, server, root } = tree;
    let stdout = "";
    await using tracer = await startTracer({
      engine: pythonEngine,
      interpreter: python.path,
      program: PROGRAM,
      args: [`live=${flag}`],
      server: server.tracerUrl,
      session: "live",
      stopOnEntry: false,
      followChildren: true,
      stdin: "null",
      onOutput: (stream, text) => {
        if (stream === "stdout") stdout += text;
      },
    });
    const started = await root.expect("child", (p) => p.state === "running");
    const child = await attach(server.clientUrl, started.p.session);
    const lateLine = Deno.readTextFileSync(PROGRAM).split("\n")
      .findIndex((l) => l.endsWith("# @late")) + 1;
    root.transport.send({
      e: "set_break",
      p: { file: PROGRAM, line: lateLine, children: true },
      id: 5,
    });
    // The program's session has it, and so does the child's, with an id of its own.
    await root.expect("breakpoints", (p) => p.some((b: { line: number }) => b.line === lateLine));
    await child.expect("breakpoints", (p) => p.some((b: { line: number }) => b.line === lateLine));
    await Deno.writeTextFile(flag, "go");
    const stop = await root.expect("child", (p) => p.state === "stopped");
    assertEquals(stop.p.where.line, lateLine);
    child.transport.send({ e: "continue", id: 1 });
    assertEquals((await root.expect("exited")).p.code, 7);
    assertEquals(stdout, "late 9\nwaiter exited with 0\n");
    assertEquals((await tracer.done).code, 7);
    child.transport.close();
    root.transport.close();
    await Promise.all([child.done, root.done]);
  },
});

/** Interpreters too old for the bridge (2.7, 3.6, 3.7) under pyenv, if any. */
async function oldPythons(): Promise<string[]> {
  const root = Deno.env.get("PYENV_ROOT") ?? `${Deno.env.get("HOME")}/.pyenv`;
  const out: string[] = [];
  try {
    for await (const entry of Deno.readDir(`${root}/versions`)) {
      const m = /^(2\.7|3\.[0-7])\./.exec(entry.name);
      if (m) out.push(`${root}/versions/${entry.name}/bin/python${m[1]}`);
    }
  } catch {
    // No pyenv.
  }
  return out.sort();
}

Deno.test({
  name: "a child on a Python too old for qdb runs untouched",
  ignore: pythons.length === 0,
  async fn() {
    const old = await oldPythons();
    if (old.length === 0) {
      console.log("skip: no Python older than 3.8 under pyenv to start as a child");
      return;
    }
    // Python 2's print is a statement: write the line.
    const code = "import os, sys; sys.stdout.write('%d %s\\n' % (sys.version_info[0] * 10 + " +
      "sys.version_info[1], sorted(k for k in os.environ if 'QDB' in k))); sys.exit(4)";
    const program = await Deno.makeTempFile({ suffix: ".py" });
    await Deno.writeTextFile(
      program,
      "import subprocess, sys\nfor exe in sys.argv[1:]:\n" +
        `    r = subprocess.run([exe, "-c", ${
          JSON.stringify(code)
        }], capture_output=True, text=True)\n` +
        "    print(r.returncode, r.stdout.strip())\n",
    );
    try {
      await using run = new QdbProcess([
        "run",
        "--python",
        pythons.at(-1)!.path,
        "--no-stop",
        program,
        ...old,
      ]);
      assertEquals((await run.exited()).code, 0);
      for (const exe of old) {
        const [major, minor] = /python(\d)\.(\d)$/.exec(exe)!.slice(1).map(Number);
        assertStringIncludes(run.text.stdout, `4 ${major! * 10 + minor!} []\n`);
      }
    } finally {
      await Deno.remove(program);
    }
  },
});

Deno.test({
  name: "a child outlives the program: its session lives on, and what it prints is not lost",
  ignore: pythons.length === 0,
  async fn() {
    const python = pythons.at(-1)!;
    await using tree = await withFlag("orphan");
    const { flag, server, root } = tree;
    const late: string[] = [];
    await using tracer = await startTracer({
      engine: pythonEngine,
      interpreter: python.path,
      program: PROGRAM,
      args: [`orphan=${flag}`],
      server: server.tracerUrl,
      session: "orphan",
      stopOnEntry: false,
      followChildren: true,
      stdin: "null",
      onOutput: (_stream, text, relayed) => {
        if (!relayed) late.push(text);
      },
    });
    const started = await root.expect("child", (p) => p.state === "running");
    assertEquals((await root.expect("exited")).p.code, 7);
    await root.done;
    // The program's session is over; its child's is not.
    const live = (await server.server.sessions()).sessions.map((s) => [s.id, s.parent]);
    assertEquals(live, [[started.p.session, "orphan"]]);
    const child = await attach(server.clientUrl, started.p.session);
    await Deno.writeTextFile(flag, "go");
    // The tracer waits for the child, whose output reaches the tracer's terminal.
    assertEquals((await tracer.done).code, 7);
    assertEquals(late.join(""), "late 9\n");
    assertEquals((await child.expect("exited")).p.code, 0);
    await child.expect("disable");
    await child.done;
  },
});
