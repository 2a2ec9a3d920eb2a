// The Python engine's scenario suite: every scenario runs on every CPython found (3.8+) and
// through every backend. Fixtures are in testdata/; lines are found by their `# @marker`.
// Tests wait on events and never sleep; the hang guard in scenario.ts is not a speed test.
import { assert, assertEquals, assertMatch, assertStringIncludes } from "./support/assert.ts";
import { findPythons, type PythonInstall } from "./support/pythons.ts";
import {
  engineBackend,
  type Received,
  type ScenarioBackend,
  type ScenarioOptions,
  type ScenarioSession,
  stopped,
  topFrame,
} from "./support/scenario.ts";
import { processBackend } from "./support/scenario_processes.ts";

const BACKENDS: ScenarioBackend[] = [engineBackend, processBackend];
const TESTDATA = new URL("../testdata/", import.meta.url).pathname;
const pythons = await findPythons();

interface Ctx {
  backend: ScenarioBackend;
  python: PythonInstall;
}

function fixture(name: string): string {
  return TESTDATA + name;
}

const sources = new Map<string, string[]>();
function sourceLines(name: string): string[] {
  let lines = sources.get(name);
  if (!lines) {
    lines = Deno.readTextFileSync(fixture(name)).split("\n");
    sources.set(name, lines);
  }
  return lines;
}

/** The 1-based line of `name` carrying `# @marker`. */
function line(name: string, marker: string): number {
  const i = sourceLines(name).findIndex((l) => l.endsWith(`# @${marker}`));
  if (i < 0) throw new Error(`No "# @${marker}" in ${name}`);
  return i + 1;
}

/** The 1-based line of `name` starting (after indentation) with `text`. */
function lineStarting(name: string, text: string): number {
  const i = sourceLines(name).findIndex((l) => l.trimStart().startsWith(text));
  if (i < 0) throw new Error(`No line starting with ${text} in ${name}`);
  return i + 1;
}

function open(ctx: Ctx, name: string, options: ScenarioOptions = {}): Promise<ScenarioSession> {
  return ctx.backend.open(ctx.python.path, fixture(name), { cwd: TESTDATA, ...options });
}

// deno-lint-ignore no-explicit-any
type Stack = any;

const top = topFrame;

async function evalIn(s: ScenarioSession, code: string): Promise<Received> {
  const id = s.send("eval", code);
  return await s.expect("print", (p, m) => m.id === id && p.input === code);
}

async function runPlain(ctx: Ctx, name: string, args: string[] = []) {
  const out = await new Deno.Command(ctx.python.path, {
    args: [fixture(name), ...args],
    cwd: TESTDATA,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

const INFINITE = "sum(1 for _ in iter(int, 1))";

/** False, saying why, on 3.8: it cannot give a running thread a trace function (README). */
function tracesRunningThreads(ctx: Ctx): boolean {
  if (!ctx.python.version.startsWith("3.8.")) return true;
  console.log(`skip on Python ${ctx.python.version}: a running thread cannot be traced`);
  return false;
}

const scenarios: Record<string, (ctx: Ctx) => Promise<void>> = {
  async "step runs exactly one line"(ctx) {
    await using s = await open(ctx, "steps.py");
    const entry = await stopped(s, "entry");
    assertEquals(top(entry).line, 1);
    assertEquals(top(entry).code, "import sys");
    assert(top(entry).file.endsWith("/testdata/steps.py"));
    s.send("step");
    assertEquals(top(await stopped(s, "step")).line, line("steps.py", "counter"));
    s.send("step");
    assertEquals(top(await stopped(s, "step")).line, lineStarting("steps.py", "def helper"));
  },

  async "next steps over a call while step enters it"(ctx) {
    for (const how of ["next", "step"]) {
      await using s = await open(ctx, "steps.py", {
        stopOnEntry: false,
        breakpoints: [`steps.py:${line("steps.py", "call_main")}`],
      });
      assertEquals(top(await stopped(s, "breakpoint")).line, line("steps.py", "call_main"));
      s.send(how);
      const after = top(await stopped(s, "step"));
      if (how === "next") {
        assertEquals(after.line, line("steps.py", "print_result"));
        assertEquals(after.func, "<module>");
        assertStringIncludes(s.stdout(), "total 90\n");
      } else {
        assertEquals(after.line, line("steps.py", "main_first"));
        assertEquals(after.func, "main");
      }
    }
  },

  async "a logpoint logs without stopping and a hit condition picks the hit (set_break)"(ctx) {
    await using s = await open(ctx, "counter.py");
    await stopped(s, "entry");
    s.send("set_break", { file: "counter.py", line: 3, log: "i={i}" });
    const log = (await s.expect("breakpoints")).p[0];
    assertEquals([log.log, log.verified], ["i={i}", true]);
    s.send("set_break", { file: "counter.py", line: 4, hit_condition: "== 4" });
    const hit = (await s.expect("breakpoints")).p[1];
    assertEquals(hit.hit_condition, "== 4");
    s.send("continue");
    assertEquals(top(await stopped(s, "breakpoint")).line, 4);
    assertEquals((await evalIn(s, "i")).p.output, "3");
    const logs = () =>
      s.seen.filter((m) => m.e === "print" && (m.p as { input: string }).input === "<log>")
        .map((m) => (m.p as { output: string }).output).join("");
    assertEquals(logs(), "i=0\ni=1\ni=2\ni=3\n");
    // The logpoint becomes silent (a hit condition it never meets); the other stops every hit.
    s.send("update_break", { id: log.id, log: null, hit_condition: "% 100" });
    await s.expect("breakpoints");
    s.send("update_break", { id: hit.id, hit_condition: null });
    await s.expect("breakpoints");
    s.send("continue");
    assertEquals(top(await stopped(s, "breakpoint")).line, 4);
    assertEquals((await evalIn(s, "i")).p.output, "4");
    assertEquals(logs(), "i=0\ni=1\ni=2\ni=3\n");
    s.send("disable", "soft");
    await s.expect("disabled");
  },

  async "continue with no breakpoints runs to the end"(ctx) {
    await using s = await open(ctx, "steps.py");
    await stopped(s, "entry");
    s.send("continue");
    await s.expect("running");
    assertEquals((await s.expect("exited")).p, { code: 0 });
    await s.expect("disabled");
    assertEquals(s.stdout(), "total 90\nresult 90\n");
    assertEquals(await s.exited, { code: 0, signal: null });
  },

  async "continue stops at each of two breakpoints"(ctx) {
    await using s = await open(ctx, "steps.py");
    await stopped(s, "entry");
    s.send("set_break", { file: "steps.py", line: line("steps.py", "helper_body") });
    const bps = await s.expect("breakpoints", (p) => p.length === 1);
    assertEquals(bps.p[0].id, 1);
    assertEquals(bps.p[0].file, fixture("steps.py"));
    s.send("set_break", { line: line("steps.py", "print_total") });
    await s.expect("breakpoints", (p) => p.length === 2);
    s.send("continue");
    const first = await stopped(s, "breakpoint");
    assertEquals(first.p.breakpoint, 1);
    assertEquals(top(first).line, line("steps.py", "helper_body"));
    s.send("clear_break", { id: 1 });
    await s.expect("breakpoints", (p) => p.length === 1);
    s.send("continue");
    const second = await stopped(s, "breakpoint");
    assertEquals(second.p.breakpoint, 2);
    assertEquals(top(second).line, line("steps.py", "print_total"));
    s.send("continue");
    assertEquals((await s.exited).code, 0);
  },

  async "set_trace with stop true and false, and breakpoint()"(ctx) {
    await using s = await open(ctx, "settrace.py", { stopOnEntry: false });
    const first = await stopped(s, "set_trace");
    assertEquals(top(first).line, line("settrace.py", "set_trace"));
    assertEquals(top(first).func, "f");
    assertEquals((await evalIn(s, "x")).p.output, "1");
    s.send("continue");
    const second = await stopped(s, "set_trace");
    assertEquals(top(second).line, line("settrace.py", "breakpoint"));
    s.send("step");
    assertEquals(top(await stopped(s, "step")).line, line("settrace.py", "after_breakpoint"));
    s.send("continue");
    assertEquals((await s.exited).code, 0);
    assertEquals(s.stdout(), "f returned 3\n");
  },

  async "PYTHONBREAKPOINT=0 turns breakpoint() off"(ctx) {
    await using s = await open(ctx, "settrace.py", {
      stopOnEntry: false,
      env: { PYTHONBREAKPOINT: "0" },
    });
    assertEquals(top(await stopped(s, "set_trace")).line, line("settrace.py", "set_trace"));
    s.send("continue");
    assertEquals((await s.exited).code, 0);
    assertEquals(s.seen.filter((m) => m.e === "stack").length, 1);
  },

  async "watches: constant, local, global, function, NameError, timeout"(ctx) {
    await using s = await open(ctx, "steps.py", {
      stopOnEntry: false,
      evalTimeout: 1,
      breakpoints: [`steps.py:${line("steps.py", "helper_body")}`],
    });
    await stopped(s, "breakpoint");
    s.send("set_watch", ["42", "n", "counter", "helper", "nope", INFINITE]);
    const watches = await s.expect("watchlist", (p) => p.length === 6);
    const byExpr = Object.fromEntries(watches.p.map((w: Stack) => [w.expr, w]));
    assertEquals(byExpr["42"], { expr: "42", exc: false, value: "42" });
    assertEquals(byExpr["n"], { expr: "n", exc: false, value: "0" });
    assertEquals(byExpr["counter"], { expr: "counter", exc: false, value: "0" });
    assertMatch(byExpr["helper"].value, /^<function helper at 0x[0-9a-f]+>$/);
    assertEquals(byExpr["nope"], {
      expr: "nope",
      exc: true,
      value: "NameError: name 'nope' is not defined",
    });
    assertEquals(byExpr[INFINITE], {
      expr: INFINITE,
      exc: true,
      value: "TimeoutError: eval took longer than 1s",
    });
    s.send("clear_watch", [INFINITE, "nope", "42", "helper", "counter"]);
    await s.expect("watchlist", (p) => p.length === 1);
    s.send("continue");
    const next = await s.expect("watchlist", (p) => p.length === 1 && p[0].value === "1");
    assertEquals(next.p[0].expr, "n");
    await stopped(s, "breakpoint");
  },

  async "conditional breakpoint true at iteration 5"(ctx) {
    await using s = await open(ctx, "steps.py");
    await stopped(s, "entry");
    s.send("set_break", { line: line("steps.py", "loop_body"), cond: "i == 5" });
    s.send("continue");
    const stop = await stopped(s, "breakpoint");
    assertEquals(top(stop).line, line("steps.py", "loop_body"));
    assertEquals((await evalIn(s, "i")).p.output, "5");
    s.send("breakpoints");
    const bps = await s.expect("breakpoints");
    assertEquals(bps.p[0].hits, 6);
    assertEquals(bps.p[0].cond, "i == 5");
  },

  async "a condition that raises stops there"(ctx) {
    await using s = await open(ctx, "steps.py");
    await stopped(s, "entry");
    s.send("set_break", { line: line("steps.py", "helper_body"), cond: "1 / 0" });
    await s.expect("breakpoints");
    s.send("continue");
    const error = await s.expect("error", (p) => p.type === "condition");
    assertEquals(error.p.data, {
      cond: "1 / 0",
      line: line("steps.py", "helper_body"),
      exc: "ZeroDivisionError",
      output: "ZeroDivisionError: division by zero",
    });
    assertEquals(top(await stopped(s, "breakpoint")).line, line("steps.py", "helper_body"));
  },

  async "a condition that times out"(ctx) {
    await using s = await open(ctx, "steps.py", { evalTimeout: 1 });
    await stopped(s, "entry");
    s.send("set_break", { line: line("steps.py", "helper_body"), cond: INFINITE });
    s.send("continue");
    const error = await s.expect("error", (p) => p.type === "condition");
    assertEquals(error.p.data.exc, "TimeoutError");
    assertEquals(error.p.data.output, "TimeoutError: eval took longer than 1s");
    await stopped(s, "breakpoint");
    assertEquals((await evalIn(s, "n + 1")).p.output, "1");
  },

  async "conditions that time out in two threads at once each time out"(ctx) {
    // Each evaluation has its own deadline: one thread's does not replace the other's.
    await using s = await open(ctx, "two_conditions.py", {
      stopOnEntry: false,
      evalTimeout: 1,
      breakpoints: [`two_conditions.py:${line("two_conditions.py", "cond_line")}, ${INFINITE}`],
    });
    const threads = new Set<string>();
    for (let i = 0; i < 2; i++) {
      const error = await s.expect("error", (p) => p.type === "condition");
      assertEquals(error.p.data.output, "TimeoutError: eval took longer than 1s");
      const stop = await stopped(s, "breakpoint");
      threads.add(stop.p.thread.name);
      s.send("continue");
    }
    assertEquals([...threads].sort(), ["w0", "w1"]);
    assertEquals((await s.exited).code, 0);
    assertEquals(s.stdout(), "both done\n");
  },

  async "a temporary breakpoint is hit once"(ctx) {
    await using s = await open(ctx, "steps.py");
    await stopped(s, "entry");
    s.send("set_break", { line: line("steps.py", "helper_body"), temp: true });
    assertEquals((await s.expect("breakpoints")).p[0].temp, true);
    s.send("continue");
    await stopped(s, "breakpoint");
    s.send("breakpoints");
    assertEquals((await s.expect("breakpoints", (p) => p.length === 0)).p, []);
    s.send("continue");
    assertEquals((await s.exited).code, 0);
    assertEquals(s.seen.filter((m) => m.e === "stack").length, 2);
  },

  async "clear_break by file and line"(ctx) {
    await using s = await open(ctx, "steps.py");
    await stopped(s, "entry");
    const at = { file: "steps.py", line: line("steps.py", "helper_body") };
    s.send("set_break", at);
    await s.expect("breakpoints", (p) => p.length === 1);
    s.send("clear_break", at);
    await s.expect("breakpoints", (p) => p.length === 0);
    const id = s.send("clear_break", { id: 1 });
    const error = await s.expect("error", (_, m) => m.id === id);
    assertEquals(error.p.type, "clear_break");
    s.send("continue");
    assertEquals((await s.exited).code, 0);
  },

  async "ignore counts and enable/disable"(ctx) {
    await using s = await open(ctx, "steps.py");
    await stopped(s, "entry");
    s.send("set_break", { line: line("steps.py", "helper_body"), ignore: 3 });
    await s.expect("breakpoints", (p) => p.length === 1 && p[0].ignore === 3);
    s.send("continue");
    await stopped(s, "breakpoint");
    assertEquals((await evalIn(s, "n")).p.output, "3");
    s.send("update_break", { id: 1, enabled: false });
    await s.expect("breakpoints", (p) => p[0].enabled === false && p[0].hits === 4);
    s.send("set_break", { line: line("steps.py", "print_total") });
    await s.expect("breakpoints", (p) => p.length === 2);
    s.send("continue");
    const stop = await stopped(s, "breakpoint");
    assertEquals(stop.p.breakpoint, 2);
    const id = s.send("update_break", { id: 99, enabled: true });
    assertEquals((await s.expect("error", (_, m) => m.id === id)).p.type, "update_break");
  },

  async "function breakpoints before the program runs"(ctx) {
    {
      await using s = await open(ctx, "steps.py", { stopOnEntry: false, breakpoints: ["helper"] });
      const bps = await s.expect("breakpoints");
      assertEquals(bps.p[0].func, "helper");
      assertEquals(bps.p[0].line, line("steps.py", "helper_body"));
      const stop = await stopped(s, "breakpoint");
      assertEquals(top(stop).func, "helper");
      assertEquals(top(stop).line, line("steps.py", "helper_body"));
    }
    await using s = await open(ctx, "uses_module.py", {
      stopOnEntry: false,
      breakpoints: ["mod_helper.compute", "mod_helper.Greeter.greet"],
    });
    const first = top(await stopped(s, "breakpoint"));
    assertEquals(first.func, "compute");
    assertEquals(first.line, line("mod_helper.py", "compute_body"));
    assert(first.file.endsWith("/testdata/mod_helper.py"));
    s.send("continue");
    const second = top(await stopped(s, "breakpoint"));
    assertEquals(second.func, "greet");
    assertEquals(second.line, line("mod_helper.py", "greet_body"));
    s.send("continue");
    assertEquals((await s.exited).code, 0);
    assertEquals(s.stdout(), "101 hello qdb\n");
  },

  async "live function breakpoint and a breakpoint in an imported module"(ctx) {
    await using s = await open(ctx, "uses_module.py", {
      stopOnEntry: false,
      breakpoints: [`uses_module.py:${line("uses_module.py", "greet")}`],
    });
    await stopped(s, "breakpoint");
    // Resolved through the live object this time.
    s.send("set_break", { func: "mod_helper.Greeter.greet" });
    const bps = await s.expect("breakpoints", (p) => p.length === 2);
    assertEquals(bps.p[1].line, line("mod_helper.py", "greet_body"));
    s.send("clear_break", { id: 2 });
    await s.expect("breakpoints", (p) => p.length === 1);
    s.send("set_break", { file: "mod_helper.py", line: line("mod_helper.py", "greet_body") });
    await s.expect("breakpoints", (p) => p.length === 2);
    s.send("continue");
    const stop = top(await stopped(s, "breakpoint"));
    assert(stop.file.endsWith("/testdata/mod_helper.py"));
    assertEquals(stop.func, "greet");
  },

  async "a line without code is refused, naming the nearest line with code"(ctx) {
    await using s = await open(ctx, "nocode.py");
    await stopped(s, "entry");
    const cases: [unknown, string][] = [
      [{ file: "nocode.py", line: 2 }, `line 2 has no code; the nearest line with code is 3`],
      [{ file: "nocode.py", line: 5 }, `line 5 has no code; the nearest line with code is 6`],
      [{ file: "nocode.py", line: 99 }, `the file has only 6 lines`],
      [{ file: "missing.py", line: 1 }, `no such file`],
    ];
    for (const [p, text] of cases) {
      const id = s.send("set_break", p);
      const error = await s.expect("error", (_, m) => m.id === id);
      assertEquals(error.p.type, "set_break");
      assertEquals(error.p.command, "set_break");
      assertStringIncludes(error.p.data, text);
    }
    const id = s.send("set_break", { file: "nocode.py", line: 2 });
    const error = await s.expect("error", (_, m) => m.id === id);
    assertEquals(
      error.p.data,
      `Cannot set breakpoint at "nocode.py:2": line 2 has no code; the nearest line with code is 3`,
    );
  },

  async "eval: 2 + 2, ValueError, prints, and state changes that stick"(ctx) {
    await using s = await open(ctx, "steps.py", {
      stopOnEntry: false,
      breakpoints: [`steps.py:${line("steps.py", "helper_body")}`],
    });
    await stopped(s, "breakpoint");
    const four = await evalIn(s, "2 + 2");
    assertEquals(four.p, { input: "2 + 2", exc: false, output: "4" });
    await s.expect("watchlist", (_, m) => m.id === four.id);
    const error = await evalIn(s, "raise ValueError('test')");
    assertEquals(error.p, {
      input: "raise ValueError('test')",
      exc: true,
      output: "ValueError: test",
    });
    assertEquals((await evalIn(s, "print('hi'); print('there')")).p.output, "hi\nthere");
    assertEquals((await evalIn(s, "x = 5")).p.output, "");
    assertEquals((await evalIn(s, "import sys; sys.exit(7)")).p.exc, true);
    // Locals of a function frame and globals both keep what an eval assigned.
    await evalIn(s, "n = 100");
    await evalIn(s, "global counter; counter = 7");
    s.send("next");
    assertEquals(top(await stopped(s, "step")).line, line("steps.py", "helper_return"));
    assertEquals((await evalIn(s, "doubled")).p.output, "200");
    assertEquals((await evalIn(s, "counter")).p.output, "7");
    s.send("clear_break", { id: 1 });
    s.send("continue");
    assertEquals((await s.exited).code, 0);
    assertEquals(s.stdout(), "total 290\nresult 290\n");
  },

  async "eval timeout: a loop and a sleeping main thread"(ctx) {
    await using s = await open(ctx, "steps.py", { evalTimeout: 1 });
    await stopped(s, "entry");
    for (const code of ["while True: pass", "import time; time.sleep(100)"]) {
      const r = await evalIn(s, code);
      assertEquals(r.p, {
        input: code,
        exc: true,
        output: "TimeoutError: eval took longer than 1s",
      });
    }
    assertEquals((await evalIn(s, "1 + 1")).p.output, "2");
    s.send("step");
    await stopped(s, "step");
  },

  async "up, down and frame shift the selected frame"(ctx) {
    await using s = await open(ctx, "steps.py", {
      stopOnEntry: false,
      breakpoints: [`steps.py:${line("steps.py", "helper_body")}`],
    });
    const stop = await stopped(s, "breakpoint");
    assertEquals(stop.p.index, 2);
    assertEquals(stop.p.stack.map((f: Stack) => f.func), ["<module>", "main", "helper"]);
    s.send("up");
    await s.expect("watchlist");
    assertEquals((await s.expect("stack", (p) => p.reason === "select")).p.index, 1);
    assertEquals((await evalIn(s, "total")).p.output, "0");
    s.send("locals");
    const locals = await s.expect("locals");
    assertEquals(locals.p.total, "0");
    s.send("up");
    assertEquals((await s.expect("stack")).p.index, 0);
    let id = s.send("up");
    assertEquals((await s.expect("error", (_, m) => m.id === id)).p, {
      type: "up",
      data: "Oldest frame",
      command: "up",
    });
    s.send("down", 2);
    assertEquals((await s.expect("stack")).p.index, 2);
    id = s.send("down");
    assertEquals((await s.expect("error", (_, m) => m.id === id)).p.data, "Newest frame");
    s.send("frame", 1);
    assertEquals((await s.expect("stack")).p.index, 1);
    id = s.send("frame", 9);
    assertEquals((await s.expect("error", (_, m) => m.id === id)).p.type, "frame");
    s.send("args");
    assertEquals((await s.expect("args")).p, {});
    s.send("frame", 2);
    await s.expect("stack");
    s.send("args");
    assertEquals((await s.expect("args")).p, { n: "0" });
    s.send("globals");
    assertEquals((await s.expect("globals")).p.counter, "0");
  },

  async "the stack hides skipped files, and list refuses them"(ctx) {
    await using s = await open(ctx, "skipping.py", {
      stopOnEntry: false,
      skip: ["skipme"],
      breakpoints: [`skipping.py:${line("skipping.py", "target")}`],
    });
    const stop = await stopped(s, "breakpoint");
    assertEquals(stop.p.stack.map((f: Stack) => f.func), ["<module>", "target"]);
    assert(stop.p.stack.every((f: Stack) => !f.file.endsWith("skipme.py")));
    const id = s.send("list", { file: "skipme.py" });
    assertEquals((await s.expect("error", (_, m) => m.id === id)).p.type, "list");
  },

  async "list source"(ctx) {
    await using s = await open(ctx, "steps.py");
    await stopped(s, "entry");
    s.send("list", { file: "steps.py", start: 1, end: 3 });
    assertEquals((await s.expect("list")).p, "import sys\n\ncounter = 0  # @counter\n");
    s.send("list", { start: 2 });
    assertEquals((await s.expect("list")).p.split("\n").length, 12);
    s.send("list");
    assertEquals((await s.expect("list")).p, Deno.readTextFileSync(fixture("steps.py")));
    const id = s.send("list", { file: "nope.py" });
    assertEquals((await s.expect("error", (_, m) => m.id === id)).p.type, "list");
  },

  async "thousands of evals in a row, then continue"(ctx) {
    await using s = await open(ctx, "steps.py", {
      stopOnEntry: false,
      breakpoints: [`steps.py:${line("steps.py", "helper_body")}`],
    });
    await stopped(s, "breakpoint");
    const ids: number[] = [];
    for (let i = 0; i < 2000; i++) ids.push(s.send("eval", `n + ${i}`));
    const last = await s.expect("print", (_, m) => m.id === ids.at(-1));
    assertEquals(last.p.output, "1999");
    const prints = s.seen.filter((m) => m.e === "print" && m.p.input.startsWith("n + "));
    assertEquals(prints.length, 2000);
    assertEquals(prints.map((m) => m.id), ids);
    s.send("clear_break", { id: 1 });
    s.send("continue");
    assertEquals((await s.exited).code, 0);
  },

  async "pause a tight loop, then disable hard"(ctx) {
    await using s = await open(ctx, "spin.py", { stopOnEntry: false, args: ["loop"] });
    await s.expect("print", (p) => p.input === "<stdout>");
    const id = s.send("eval", "1");
    assertEquals((await s.expect("error", (_, m) => m.id === id)).p.type, "running");
    const pid = s.send("pause");
    const stop = await stopped(s, "pause");
    assertEquals(stop.id, pid);
    const loopLines = [line("spin.py", "loop"), line("spin.py", "loop") - 1];
    assert(loopLines.includes(top(stop).line), `paused at ${top(stop).line}`);
    assertEquals((await evalIn(s, "x > 0")).p.output, "True");
    s.send("disable", "hard");
    assertEquals((await s.expect("disabled")).p, { mode: "hard" });
    assertEquals((await s.expect("exited")).p, { code: null, signal: "SIGKILL" });
  },

  async "pause a main thread blocked in sleep"(ctx) {
    await using s = await open(ctx, "spin.py", { stopOnEntry: false, args: ["sleep"] });
    await s.expect("print", (p) => p.input === "<stdout>");
    // The output may arrive while the program is still finishing its print: pause again
    // until the stop is in the sleep (a few tries at most).
    let stop = undefined;
    for (let i = 0; i < 5; i++) {
      s.send("pause");
      stop = await stopped(s, "pause");
      if (top(stop).line === line("spin.py", "sleep")) break;
      s.send("continue");
    }
    assertEquals(top(stop!).line, line("spin.py", "sleep"));
    assertEquals(top(stop!).func, "<module>");
    assertEquals((await evalIn(s, "mode")).p.output, "'sleep'");
  },

  async "a breakpoint set while the program runs is hit"(ctx) {
    await using s = await open(ctx, "spin.py", { stopOnEntry: false, args: ["loop"] });
    await s.expect("print", (p) => p.input === "<stdout>");
    s.send("set_break", { line: line("spin.py", "loop"), cond: "x > 1000" });
    await s.expect("breakpoints");
    const stop = await stopped(s, "breakpoint");
    assertEquals(top(stop).line, line("spin.py", "loop"));
  },

  async "post-mortem: inspect, then the original traceback and exit code"(ctx) {
    const plain = await runPlain(ctx, "postmortem.py");
    await using s = await open(ctx, "postmortem.py", { stopOnEntry: false });
    const exc = await s.expect("exception");
    assertEquals(exc.p.type, "ZeroDivisionError");
    assertEquals(exc.p.value, "division by zero");
    assertEquals(exc.p.uncaught, true);
    assertEquals(exc.p.thread.name, "MainThread");
    assertStringIncludes(exc.p.traceback, "ZeroDivisionError: division by zero");
    const stop = await stopped(s, "exception");
    assertEquals(stop.p.post_mortem, true);
    assertEquals(top(stop).line, line("postmortem.py", "raise"));
    assertEquals(top(stop).func, "inner");
    assertEquals(stop.p.stack.map((f: Stack) => f.func), ["<module>", "outer", "inner"]);
    s.send("up");
    assertEquals(top(await s.expect("stack", (p) => p.reason === "select")).func, "outer");
    assertEquals((await evalIn(s, "local_in_outer")).p.output, "42");
    s.send("start", { client: "c2" });
    await s.expect("exception");
    await s.expect("stack", (p) => p.post_mortem === true);
    s.send("continue");
    const status = await s.exited;
    assertEquals(status.code, plain.code);
    assertEquals(status.code, 1);
    assertEquals(s.stderr(), plain.stderr);
    assertEquals(s.stdout(), plain.stdout);
  },

  async "exit codes are preserved"(ctx) {
    for (const [arg, code] of [["code", 3], ["raise", 1], ["none", 0], ["message", 1]] as const) {
      const plain = await runPlain(ctx, "exits.py", [arg]);
      await using s = await open(ctx, "exits.py", {
        stopOnEntry: false,
        breakOn: "never",
        args: [arg],
      });
      assertEquals((await s.exited).code, code);
      assertEquals(plain.code, code);
      assertEquals(s.stdout(), plain.stdout);
      assertEquals(s.stderr(), plain.stderr);
    }
  },

  async "output written just before os._exit or a crash reaches the clients"(ctx) {
    const signals: Record<string, string> = {
      kill: "SIGKILL",
      abort: "SIGABRT",
      raise: "SIGTERM",
    };
    for (const how of ["_exit", "kill", "abort", "raise"]) {
      await using s = await open(ctx, "dies.py", { stopOnEntry: false, args: [how] });
      const exited = await s.exited;
      if (how === "_exit") assertEquals(exited.code, 7);
      else assertEquals(exited.signal, signals[how]);
      assertEquals(s.stdout(), `last words ${how}\n`);
      assertEquals(s.stderr(), "and on stderr\n");
    }
  },

  async "a breakpoint on a module not importable yet is pending, then binds when it loads"(ctx) {
    await using s = await open(ctx, "pending.py", {
      stopOnEntry: false,
      breakpoints: ["latemod.work", "json.no_such_function"],
    });
    const refused = await s.expect("error", (p) => p.command === "set_break");
    assertMatch(refused.p.data, /json\.no_such_function/);
    const pending = await s.expect("breakpoints", (p) => p.length === 1 && p[0].pending);
    assertEquals(pending.p[0].func, "latemod.work");
    const bound = await s.expect("breakpoints", (p) => p.length === 1 && !p[0].pending);
    assertMatch(bound.p[0].file, /later[/\\]latemod\.py$/);
    assertEquals(bound.p[0].line, 2);
    const stop = await stopped(s, "breakpoint");
    assertEquals(top(stop).func, "work");
    s.send("continue");
    assertEquals((await s.exited).code, 0);
    assertEquals(s.stdout(), "6\n");
  },

  async "stop on raised exceptions"(ctx) {
    await using s = await open(ctx, "raises.py");
    await stopped(s, "entry");
    s.send("set_exception_break", "raised");
    s.send("continue");
    const exc = await s.expect("exception");
    assertEquals(exc.p.type, "KeyError");
    assertEquals(exc.p.uncaught, false);
    const stop = await stopped(s, "exception");
    assertEquals(top(stop).line, line("raises.py", "raise"));
    assertEquals(stop.p.post_mortem, undefined);
    s.send("set_exception_break", "uncaught");
    s.send("continue");
    assertEquals((await s.exited).code, 0);
    assertEquals(s.stdout(), "caught\nraises done\n");
  },

  async "a breakpoint set while a worker thread runs reaches that thread"(ctx) {
    if (!tracesRunningThreads(ctx)) return;
    await using s = await open(ctx, "busy_worker.py", { stopOnEntry: false });
    await s.expect("print", (p) => p.output.includes("started"));
    s.send("set_break", { file: "busy_worker.py", line: line("busy_worker.py", "busy_line") });
    const stop = await stopped(s, "breakpoint");
    assertEquals(stop.p.thread.name, "busy");
    assertEquals(top(stop).line, line("busy_worker.py", "busy_line"));
    await evalIn(s, "stop.set()");
    s.send("clear_break", { file: "busy_worker.py", line: line("busy_worker.py", "busy_line") });
    await s.expect("breakpoints");
    s.send("continue");
    assertEquals((await s.exited).code, 0);
    assertStringIncludes(s.stdout(), "joined\n");
  },

  async "pause stops a worker thread that was running untraced"(ctx) {
    if (!tracesRunningThreads(ctx)) return;
    await using s = await open(ctx, "spinner.py", { stopOnEntry: false });
    await s.expect("print", (p) => p.output.includes("spinning"));
    s.send("pause");
    const stop = await stopped(s, "pause");
    assertEquals(stop.p.thread.name, "spinner");
    // Wherever it was: in spin, or in threading's is_set called from it.
    assert(stop.p.stack.some((f: { func: string }) => f.func === "spin"), JSON.stringify(stop.p));
    const set = await evalIn(s, "__import__('__main__').stop.set()");
    assertEquals(set.p.exc, false, set.p.output);
    s.send("continue");
    assertEquals((await s.exited).code, 0);
    assertStringIncludes(s.stdout(), "stopped spinning\n");
  },

  async "a worker's stop holds the main thread too"(ctx) {
    await using s = await open(ctx, "held_main.py", {
      stopOnEntry: false,
      breakpoints: [`held_main.py:${line("held_main.py", "work_stop")}`],
    });
    const stop = await stopped(s, "breakpoint");
    assertEquals(stop.p.thread.name, "worker");
    // The main thread counts in a loop of Python code. It stops at its next line (on 3.8-3.11,
    // in the signal handler that runs at its loop's next turn), so its count may still move by
    // one after the stop, and then no more. Running on, it would count thousands between two
    // reads.
    const reads: number[] = [];
    for (let read = 0; read < 6; read++) reads.push(Number((await evalIn(s, "laps")).p.output));
    assert(Math.max(...reads) - Math.min(...reads) <= 2, `laps read: ${reads.join(", ")}`);
    await evalIn(s, "globals().update(done=True)");
    s.send("continue");
    assertEquals((await s.exited).code, 0);
    assertEquals(s.stdout(), "main went on: True\n");
  },

  async "a breakpoint in a worker thread reports that thread"(ctx) {
    await using s = await open(ctx, "threads.py", {
      stopOnEntry: false,
      evalTimeout: 1,
      breakpoints: [`threads.py:${line("threads.py", "work")}`],
    });
    const stop = await stopped(s, "breakpoint");
    assertEquals(stop.p.thread.name, "worker-7");
    assertEquals(top(stop).func, "work");
    // A runaway eval in a thread other than the main one is interrupted too.
    assertEquals((await evalIn(s, INFINITE)).p.output, "TimeoutError: eval took longer than 1s");
    assertEquals((await evalIn(s, "n")).p.output, "7");
    s.send("next");
    const next = await stopped(s, "step");
    assertEquals(next.p.thread.name, "worker-7");
    s.send("continue");
    assertEquals((await s.exited).code, 0);
    assertEquals(s.stdout(), "results [49]\n");
  },

  async "asyncio code steps within the coroutine"(ctx) {
    await using s = await open(ctx, "async_steps.py", {
      stopOnEntry: false,
      breakpoints: [`async_steps.py:${line("async_steps.py", "main_a")}`],
    });
    assertEquals(top(await stopped(s, "breakpoint")).func, "main");
    s.send("next");
    const b = top(await stopped(s, "step"));
    assertEquals([b.func, b.line], ["main", line("async_steps.py", "main_b")]);
    s.send("step");
    const inFetch = top(await stopped(s, "step"));
    assertEquals([inFetch.func, inFetch.line], ["fetch", line("async_steps.py", "fetch_sleep")]);
    s.send("next");
    const ret = top(await stopped(s, "step"));
    assertEquals([ret.func, ret.line], ["fetch", line("async_steps.py", "fetch_return")]);
    s.send("continue");
    assertEquals((await s.exited).code, 0);
    assertEquals(s.stdout(), "async total 5\n");
  },

  async "return and until"(ctx) {
    await using s = await open(ctx, "steps.py", {
      stopOnEntry: false,
      breakpoints: [`steps.py:${line("steps.py", "helper_body")}`],
    });
    await stopped(s, "breakpoint");
    s.send("return");
    assertEquals((await s.expect("return")).p, "0");
    const ret = await stopped(s, "return");
    assertEquals(top(ret).line, line("steps.py", "helper_return"));
    s.send("clear_break", { id: 1 });
    s.send("next");
    assertEquals(top(await stopped(s)).func, "main");
    s.send("until", line("steps.py", "print_total"));
    const until = top(await stopped(s, "step"));
    assertEquals(until.line, line("steps.py", "print_total"));
    assertEquals((await evalIn(s, "total")).p.output, "90");
  },

  async "stepping off the end of a frame stops at its return"(ctx) {
    await using s = await open(ctx, "steps.py", {
      stopOnEntry: false,
      breakpoints: [`steps.py:${line("steps.py", "helper_return")}`],
    });
    await stopped(s, "breakpoint");
    s.send("step");
    assertEquals((await s.expect("return")).p, "0");
    assertEquals(top(await stopped(s, "return")).func, "helper");
    s.send("step");
    assertEquals(top(await stopped(s)).func, "main");
  },

  async "huge, recursive, odd and failing values"(ctx) {
    await using s = await open(ctx, "values.py", {
      stopOnEntry: false,
      breakpoints: [`values.py:${line("values.py", "inspect")}`],
    });
    await stopped(s, "breakpoint");
    s.send("locals");
    const locals = (await s.expect("locals")).p;
    assert(locals.huge.length < 2000, `huge repr has ${locals.huge.length} characters`);
    assert(locals.huge.startsWith("[0, 1, 2, ") && locals.huge.endsWith("...]"));
    assertEquals(locals.bad, "<repr failed: RuntimeError: no repr for you>");
    assertStringIncludes(locals.loop, "[1, 2, [");
    assertStringIncludes(locals.data, "b'\\xff\\x00'");
    assertStringIncludes(locals.node, "Node object");
    assert(locals.text.length < 1100);
    assertEquals((await evalIn(s, "loop")).p.output, "[1, 2, [...]]");
    assertEquals((await evalIn(s, "bad")).p.output, "<repr failed: RuntimeError: no repr for you>");
    assertEquals((await evalIn(s, "surrogate")).p.output, "'bad \\udcff text'");
    assertEquals((await evalIn(s, "print(surrogate)")).p.output, "bad \udcff text");
    const huge = (await evalIn(s, "huge")).p.output as string;
    assert(huge.length <= 1_100_000 && huge.startsWith("[0, 1, 2") && huge.includes("..."));
    s.send("pprint", "data");
    assertStringIncludes((await s.expect("print", (p) => p.input === "data")).p.output, "'set'");
    s.send("pprint", "huge");
    const pretty = await s.expect("print", (p) => p.input === "huge");
    assert(pretty.p.output.length <= 1_100_000);
  },

  async "completions of names and attributes"(ctx) {
    await using s = await open(ctx, "steps.py", {
      stopOnEntry: false,
      breakpoints: [`steps.py:${line("steps.py", "helper_body")}`],
    });
    await stopped(s, "breakpoint");
    s.send("complete", "hel");
    const names = (await s.expect("completions")).p;
    assertEquals(names.text, "hel");
    assert(names.matches.includes("helper(") && names.matches.includes("help("));
    s.send("complete", "sys.std");
    const attrs = (await s.expect("completions")).p.matches;
    for (const name of ["sys.stdin", "sys.stdout", "sys.stderr"]) assert(attrs.includes(name));
    s.send("complete", "coun");
    assertEquals((await s.expect("completions")).p.matches, ["counter"]);
  },

  async "eval policy none refuses code everywhere"(ctx) {
    await using s = await open(ctx, "steps.py", { evalPolicy: "none" });
    await stopped(s, "entry");
    const refused = 'Eval policy "none" refuses to run code';
    for (const [e, p] of [["eval", "1"], ["pprint", "1"]]) {
      const id = s.send(e!, p);
      const error = await s.expect("error", (_, m) => m.id === id);
      assertEquals(error.p, { type: "policy", data: refused, command: e });
    }
    s.send("set_watch", ["counter"]);
    assertEquals((await s.expect("watchlist")).p, [{ expr: "counter", exc: true, value: refused }]);
    let id = s.send("set_break", { line: line("steps.py", "helper_body"), cond: "n == 3" });
    assertEquals((await s.expect("error", (_, m) => m.id === id)).p.type, "policy");
    s.send("set_break", { line: line("steps.py", "helper_body") });
    await s.expect("breakpoints", (p) => p.length === 1);
    id = s.send("update_break", { id: 1, cond: "n == 3" });
    assertEquals((await s.expect("error", (_, m) => m.id === id)).p.type, "policy");
    s.send("complete", "sys.std");
    assertEquals((await s.expect("completions")).p.matches, []);
    s.send("complete", "pri");
    assertEquals((await s.expect("completions")).p.matches, ["print("]);
    s.send("continue");
    const stop = await stopped(s, "breakpoint");
    assertEquals(top(stop).func, "helper");
  },

  async "finding 6: eval policy none reads no file and runs no code of the program"(ctx) {
    await using s = await open(ctx, "policy_trap.py", { evalPolicy: "none" });
    await stopped(s, "entry");
    // A function in a package not imported yet: found without importing it.
    s.send("set_break", { func: "pkgtrap.mod.f" });
    const set = await s.expect("breakpoints", (p) => p.length === 1);
    assertEquals(set.p[0].line, line("pkgtrap/mod.py", "pkgtrap_f"));
    // An attribute behind a property: the getter does not run. (`trap` is not defined yet at
    // the entry stop, and no module has that name: the breakpoint is pending.)
    let id = s.send("set_break", { func: "trap.method" });
    const later = await s.expect("breakpoints", (p, m) => m.id === id && p.length === 2);
    assertEquals(later.p[1].pending, true);
    // Once `trap` exists, looking it up statically refuses the property, and runs nothing.
    s.send("set_break", { line: line("policy_trap.py", "trap_main") });
    await s.expect("breakpoints", (p) => p.length === 3);
    s.send("continue");
    await stopped(s, "breakpoint");
    id = s.send("set_break", { func: "trap.method" });
    assertEquals((await s.expect("error", (_, m) => m.id === id)).p.type, "set_break");
    // Files outside the program's source: refused exactly as a missing file is.
    const answers: string[] = [];
    for (const file of ["/etc/passwd", "/proc/self/environ", "/etc/no-such-file-qdb"]) {
      id = s.send("list", { file });
      answers.push((await s.expect("error", (_, m) => m.id === id)).p.data.replace(file, "F"));
      id = s.send("set_break", { file, line: 1 });
      answers.push((await s.expect("error", (_, m) => m.id === id)).p.data.replace(file, "F"));
    }
    assertEquals(new Set(answers.filter((_, i) => i % 2 === 0)).size, 1);
    assertEquals(new Set(answers.filter((_, i) => i % 2 === 1)).size, 1);
    // Its own source still lists.
    id = s.send("list", { start: 1, end: 2 });
    assertMatch((await s.expect("list", (_, m) => m.id === id)).p, /^# Setting breakpoints/);
    for (const bp of [1, 2, 3]) s.send("clear_break", { id: bp });
    await s.expect("breakpoints", (p) => p.length === 0);
    s.send("continue");
    assertEquals((await s.exited).code, 0);
    assertEquals(s.stdout(), "done\n");
  },

  async "findings 5 and 7: hostile watches and lists never hurt the program"(ctx) {
    const dir = await Deno.makeTempDir({ prefix: "qdb-list-" });
    try {
      const fifo = `${dir}/fifo`;
      await new Deno.Command("mkfifo", { args: [fifo] }).output();
      const big = `${dir}/big.py`;
      await Deno.writeTextFile(big, "x = 1\n".repeat(1_000_000));
      // The directory is on the program's path: its files are the program's code, listable.
      await using s = await open(ctx, "steps.py", { env: { PYTHONPATH: dir } });
      await stopped(s, "entry");
      const hostile = ["\udfff", "-".repeat(99_990) + "1", "1/0", "\0"];
      s.send("set_watch", hostile);
      await s.expect("watchlist", (p) => p.length === 4);
      s.send("next");
      const watched = await s.expect("watchlist", (p) => p.length === 4 && p[0].value !== "");
      assertEquals(watched.p.map((w: { exc: boolean }) => w.exc), [true, true, true, true]);
      await stopped(s, "step");
      // A FIFO would block the program for ever; a 6 MB file would bloat it.
      let id = s.send("list", { file: fifo });
      assertMatch(
        (await s.expect("error", (_, m) => m.id === id)).p.data,
        /not a regular file|no such file/,
      );
      id = s.send("list", { file: big });
      const tooBig = await s.expect("error", (_, m) => m.id === id);
      assertMatch(tooBig.p.data, /list a range of lines/);
      id = s.send("list", { file: big, start: 2, end: 3 });
      assertEquals((await s.expect("list", (_, m) => m.id === id)).p, "x = 1\nx = 1\n");
      // Round 2 finding 9: a regular file of size 0 that never ends (its first "line" is
      // hundreds of GB of zeros) is refused unread, by every command that reads source.
      for (const file of ["/proc/self/pagemap", "/dev/zero"]) {
        id = s.send("list", { file, start: 1, end: 2 });
        assertMatch(
          (await s.expect("error", (_, m) => m.id === id)).p.data,
          /no such file|not a/,
        );
        id = s.send("set_break", { file, line: 1 });
        assertMatch(
          (await s.expect("error", (_, m) => m.id === id)).p.data,
          /not a source file|no such file|not a regular file/,
        );
      }
      // Watches are bounded.
      id = s.send("set_watch", Array.from({ length: 100 }, (_, i) => `n${i}`));
      assertEquals((await s.expect("error", (_, m) => m.id === id)).p.type, "limit");
      s.send("clear_watch", hostile);
      s.send("continue");
      assertEquals((await s.exited).code, 0);
      assertMatch(s.stdout(), /result 90/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },

  async "eval policy hooks: one rewrites, one denies"(ctx) {
    {
      await using s = await open(ctx, "steps.py", { evalPolicy: "hook:policy_hook:rewrite" });
      await stopped(s, "entry");
      assertEquals((await evalIn(s, "2 + 2")).p.output, "'rewritten:eval'");
      s.send("set_watch", ["counter"]);
      const watches = await s.expect("watchlist", (p) => p.length === 1);
      assertEquals(watches.p[0].value, "'rewritten:watch'");
    }
    await using s = await open(ctx, "steps.py", { evalPolicy: "hook:policy_hook:deny" });
    await stopped(s, "entry");
    const id = s.send("eval", "2 + 2");
    const error = await s.expect("error", (_, m) => m.id === id);
    assertEquals(error.p.type, "policy");
    assertStringIncludes(error.p.data, "PermissionError: no code today (eval)");
  },

  async "disable soft: the program runs on with its own output"(ctx) {
    const flag = await Deno.makeTempFile();
    await Deno.remove(flag);
    try {
      await using s = await open(ctx, "output.py", {
        stopOnEntry: false,
        args: ["detach", flag],
        breakpoints: [`output.py:${line("output.py", "before_detach")}`],
      });
      await stopped(s, "breakpoint");
      const id = s.send("disable", "soft");
      const disabled = await s.expect("disabled");
      assertEquals(disabled.p, { mode: "soft" });
      assertEquals(disabled.id, id);
      await Deno.writeTextFile(flag, "go");
      assertEquals((await s.exited).code, 4);
      assertEquals(s.stdout(), "before\nafter detach\n");
      assertEquals(s.stderr(), "stderr after detach\n");
      assertEquals(s.seen.filter((m) => m.e === "disabled").length, 1);
    } finally {
      await Deno.remove(flag).catch(() => {});
    }
  },

  async "stdout and stderr are forwarded as written"(ctx) {
    const plain = await runPlain(ctx, "output.py");
    await using s = await open(ctx, "output.py", { stopOnEntry: false });
    assertEquals((await s.exited).code, 0);
    assertEquals(
      s.stdout(),
      "no newline raw-fd1from child\nunicode \u00e9\u4e2d\nend of output.py\n",
    );
    assertEquals(s.stderr(), "err no newline raw-fd2\n");
    assertEquals(s.stdout(), plain.stdout);
  },

  async "an output flood without newlines arrives complete and in order"(ctx) {
    const n = 200_000;
    await using s = await open(ctx, "output.py", { stopOnEntry: false, args: ["flood", `${n}`] });
    assertEquals((await s.exited).code, 0);
    const expected = Array.from({ length: n }, (_, i) => `${i},`).join("") + "end of output.py\n";
    const got = s.stdout();
    assertEquals(got.length, expected.length);
    assert(got === expected, "flood output differs");
    assertEquals(s.stderr(), "flood done");
  },

  async "stdin piped through the input command"(ctx) {
    {
      await using s = await open(ctx, "stdin_echo.py", { stopOnEntry: false, stdin: "piped" });
      s.send("input", "hello qdb\n");
      assertEquals((await s.exited).code, 0);
      assertEquals(s.stdout(), "got: hello qdb\n");
    }
    await using s = await open(ctx, "steps.py", { stdin: "null" });
    await stopped(s, "entry");
    const id = s.send("input", "x\n");
    assertEquals((await s.expect("error", (_, m) => m.id === id)).p.type, "input");
  },

  async "ids are echoed; state on start; bad commands keep the session"(ctx) {
    await using s = await open(ctx, "steps.py");
    await stopped(s, "entry");
    const step = s.send("step");
    assertEquals((await s.expect("running")).id, step);
    const after = await stopped(s, "step");
    assertEquals(after.id, step);
    s.send("set_watch", ["counter"]);
    await s.expect("watchlist");
    const start = s.send("start", { client: "c1" });
    const bps = await s.expect("breakpoints");
    assertEquals(bps.id, start);
    assertEquals((await s.expect("watchlist")).id, start);
    const stack = await s.expect("stack");
    assertEquals(stack.id, start);
    assertEquals(top(stack).line, top(after).line);
    let id = s.send("bogus");
    assertEquals((await s.expect("error", (_, m) => m.id === id)).p.type, "event");
    id = s.send("set_break", "not an object");
    assertEquals((await s.expect("error", (_, m) => m.id === id)).p.type, "payload");
    id = s.send("disable", "sideways");
    // The server checks payloads before routing (type payload); the engine alone says disable.
    assertEquals(
      (await s.expect("error", (_, m) => m.id === id)).p.type,
      ctx.backend === engineBackend ? "disable" : "payload",
    );
    assertEquals((await evalIn(s, "1 + 1")).p.output, "2");
  },

  async "import qdb and set_trace in a program started without stopping"(ctx) {
    await using s = await open(ctx, "settrace.py", { stopOnEntry: false });
    const stop = await stopped(s, "set_trace");
    assertEquals(stop.p.stack.map((f: Stack) => f.func), ["<module>", "f"]);
    s.send("next");
    assertEquals(top(await stopped(s, "step")).line, line("settrace.py", "after_set_trace"));
    s.send("disable", "soft");
    await s.expect("disabled");
    assertEquals((await s.exited).code, 0);
    assertEquals(s.stdout(), "f returned 3\n");
  },
};

for (const backend of BACKENDS) {
  for (const [name, scenario] of Object.entries(scenarios)) {
    Deno.test({
      name: `${backend.name}: ${name}`,
      ignore: pythons.length === 0,
      async fn(t) {
        // Versions run side by side: each is mostly waiting on its own interpreter.
        const results = await Promise.allSettled(pythons.map((python) =>
          t.step({
            name: `Python ${python.version}`,
            fn: () => scenario({ backend, python }),
            sanitizeOps: false,
            sanitizeResources: false,
            sanitizeExit: false,
          })
        ));
        const failed = results.filter((r) => r.status === "rejected");
        if (failed.length > 0) throw (failed[0] as PromiseRejectedResult).reason;
      },
    });
  }
}
