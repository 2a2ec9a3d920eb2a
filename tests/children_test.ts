// Child processes become child sessions: on every CPython found, one program starts children in
// every way (multiprocessing's fork, spawn and forkserver, a ProcessPoolExecutor, subprocess of
// sys.executable, os.fork, and a shell child); a breakpoint in the children's code stops each,
// its locals are read through its own session, it goes on, and its result reaches the program,
// whose output and exit code are those of a plain run. With following off, the children run
// untraced. Tests wait on events; the inbox's hang guard is not a speed test.
import { assert, assertEquals, assertStringIncludes } from "./support/assert.ts";
import { Inbox, type Received } from "./support/inbox.ts";
import { findPythons, type PythonInstall } from "./support/pythons.ts";
import { serve } from "../server.ts";
import { startTracer } from "../tracer.ts";
import { pythonEngine } from "../engine/python/python_engine.ts";
import { connectWebSocket } from "../transport/websocket.ts";
import { QdbProcess } from "./support/processes.ts";

const pythons = await findPythons();
const PROGRAM = new URL("../testdata/children.py", import.meta.url).pathname;
const WORK_LINE = Deno.readTextFileSync(PROGRAM).split("\n")
  .findIndex((l) => l.endsWith("# @work")) + 1;
const MODES = ["fork", "spawn", "forkserver", "executor", "subprocess", "osfork", "shell"];
/** Stops at the breakpoint in work(): two tasks per pool, one per single child. */
const EXPECTED_STOPS = 2 + 2 + 2 + 2 + 1 + 1;
const PLAIN_OUTPUT = [
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
  await using server = serve({ clientPort: 0, tracerPort: 0, inactivityTimeout: 0 });
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

Deno.test({
  name: "children of every kind are debugged as child sessions",
  ignore: pythons.length === 0,
  async fn(t) {
    await Promise.all(pythons.map((python) =>
      t.step({
        name: `Python ${python.version}`,
        sanitizeOps: false,
        sanitizeResources: false,
        sanitizeExit: false,
        async fn() {
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
        },
      })
    ));
  },
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
    await run.line(/The program exited with code 3/);
    await run.line(/\[back in session /);
    await run.line(/child said child result 21 and exited with 3/);
    assertEquals((await run.exited()).code, 7);
    await input.close().catch(() => {});
  },
});
