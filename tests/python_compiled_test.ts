// Breakpoints compiled into the code (issue 28), end to end through the Python engine, on every
// CPython found: each kind of function a breakpoint is compiled into (a method using super(),
// a closure, a decorated function, a generator, a coroutine, a recursive function, one that
// four threads hit at once), a loop in main that runs when the breakpoint is set (its frame is
// traced, new calls are compiled), a file changed after import (traced, and the reply says
// why), and the stack a user sees (no frame of qdb's, the breakpoint's own line). The scenario
// suite (python_scenarios_test.ts) runs every breakpoint behaviour both ways: compiled through
// the engine backend, traced through the processes backend.
import { assert, assertEquals, assertStringIncludes } from "./support/assert.ts";
import { onEveryPython, type PythonInstall } from "./support/pythons.ts";
import { engineBackend, type ScenarioSession, stopped, topFrame } from "./support/scenario.ts";

const TESTDATA = new URL("../testdata/", import.meta.url).pathname;

function line(name: string, marker: string): number {
  const lines = Deno.readTextFileSync(TESTDATA + name).split("\n");
  const i = lines.findIndex((l) => l.endsWith(`# @${marker}`));
  if (i < 0) throw new Error(`No "# @${marker}" in ${name}`);
  return i + 1;
}

const top = topFrame;

async function evalIn(s: ScenarioSession, code: string): Promise<string> {
  const id = s.send("eval", code);
  return (await s.expect("print", (p, m) => m.id === id && p.input === code)).p.output;
}

/** Sets a breakpoint; its reply (the `breakpoints` list's entry for it). */
// deno-lint-ignore no-explicit-any
async function setBreak(s: ScenarioSession, p: Record<string, unknown>): Promise<any> {
  const id = s.send("set_break", p);
  const reply = await s.expect("breakpoints", (_, m) => m.id === id);
  // deno-lint-ignore no-explicit-any
  return reply.p.find((b: any) => b.line === p.line && b.file.endsWith(p.file as string));
}

/** compiled_loop.py running (not stopped at its start), then paused in its loop. */
async function pausedLoop(python: PythonInstall): Promise<ScenarioSession> {
  const s = await engineBackend.open(python.path, TESTDATA + "compiled_loop.py", {
    cwd: TESTDATA,
    stopOnEntry: false,
  });
  try {
    // In the loop (not before main() is defined): it says so first.
    await s.expect("print", (p) => p.output.includes("looping"));
    s.send("pause");
    await stopped(s, "pause");
    return s;
  } catch (error) {
    await s[Symbol.asyncDispose]();
    throw error;
  }
}

const scenarios: Record<string, (python: PythonInstall) => Promise<void>> = {
  async "every kind of function, compiled; threads hitting one breakpoint at once"(python) {
    const name = "compiled_targets.py";
    await using s = await engineBackend.open(python.path, TESTDATA + name, { cwd: TESTDATA });
    await stopped(s, "entry");
    // Two in one function (method, method2): compiled into one code object.
    const kinds = [
      "method",
      "method2",
      "closure",
      "decorated",
      "gen",
      "coro",
      "recursive",
      "shared",
    ];
    for (const kind of kinds) {
      const bp = await setBreak(s, { file: name, line: line(name, kind) });
      // Set before its function is defined: compiled once the module defines it.
      assertEquals([bp.verified, bp.traced], [true, undefined], kind);
    }
    const at = async (kind: string) => {
      s.send("continue");
      const stop = await stopped(s, "breakpoint");
      assertEquals(top(stop).line, line(name, kind), kind);
      // The stack is the program's own: no frame of qdb's hook.
      for (const frame of stop.p.stack) assert(!/qdb/.test(frame.func), frame.func);
      return stop;
    };
    await at("method");
    // Compiled: the function's code calls the hook; no trace function looks for it.
    assertEquals(await evalIn(s, "'__qdb_bp__' in Child.greet.__code__.co_names"), "True");
    await at("method2");
    assertEquals(await evalIn(s, "word"), "'base'");
    await at("closure");
    assertEquals(await evalIn(s, "step"), "5");
    await at("decorated");
    assertEquals(await evalIn(s, "x"), "21");
    // Its breakpoint moved to the next line while its frame runs: the frame runs the code
    // compiled for the first one, so the new one is traced there (as an editor's
    // setBreakpoints does: all of the file's removed, the new ones set).
    s.send("clear_break", { file: name, line: line(name, "decorated") });
    await s.expect("breakpoints");
    await setBreak(s, { file: name, line: line(name, "decorated2") });
    await at("decorated2");
    assertEquals(await evalIn(s, "y"), "42");
    for (const i of [0, 1, 2]) {
      await at("gen");
      assertEquals(await evalIn(s, "i"), String(i));
    }
    await at("coro");
    assertEquals(await evalIn(s, "n"), "41");
    for (const n of [3, 2, 1]) {
      await at("recursive");
      assertEquals(await evalIn(s, "n"), String(n));
    }
    // Four threads, three hits each: every one stops, one at a time.
    const seen = new Set<string>();
    for (let hit = 0; hit < 12; hit++) {
      await at("shared");
      seen.add(await evalIn(s, "(k, i)"));
    }
    assertEquals(seen.size, 12);
    s.send("continue");
    assertEquals((await s.exited).code, 0);
    assertEquals(
      s.stdout(),
      "base!\n5\n42\n[0, 10, 20]\n42\n6\n[0, 1, 2, 10, 11, 12, 20, 21, 22, 30, 31, 32]\n",
    );
  },

  async "a loop that runs when the breakpoint is set: its frame traced, new calls compiled"(
    python,
  ) {
    const name = "compiled_loop.py";
    await using s = await pausedLoop(python);
    // main() runs the code it had: the breakpoint is traced in that frame.
    const loop = await setBreak(s, { file: name, line: line(name, "loop") });
    assertEquals(loop.traced, undefined);
    s.send("continue");
    assertEquals(top(await stopped(s, "breakpoint")).line, line(name, "loop"));
    s.send("clear_break", { id: loop.id });
    await s.expect("breakpoints");
    // step() is called afresh: compiled into it.
    const step = await setBreak(s, { file: name, line: line(name, "step"), cond: "i > 0" });
    s.send("continue");
    assertEquals(top(await stopped(s, "breakpoint")).line, line(name, "step"));
    assertEquals(await evalIn(s, "'__qdb_bp__' in step.__code__.co_names"), "True");
    s.send("clear_break", { id: step.id });
    await s.expect("breakpoints");
    assertEquals(await evalIn(s, "'__qdb_bp__' in step.__code__.co_names"), "False");
    // A compiled condition that raises: the program never sees it; the stop says why.
    await setBreak(s, { file: name, line: line(name, "raises"), cond: "missing > 0" });
    s.send("continue");
    const error = await s.expect("error", (p) => p.type === "condition");
    assertEquals(error.p.data.exc, "NameError");
    assertEquals(error.p.data.line, line(name, "raises"));
    assertEquals(top(await stopped(s, "breakpoint")).line, line(name, "raises"));
    s.send("clear_break", { file: name, line: line(name, "raises") });
    await s.expect("breakpoints");
    await evalIn(s, "globals().__setitem__('stop', True)");
    s.send("continue");
    assertEquals((await s.exited).code, 0);
    assertStringIncludes(s.stdout(), "done True\n");
  },

  async "set and cleared 1,000 times: the original code back"(python) {
    const name = "compiled_loop.py";
    await using s = await pausedLoop(python);
    await evalIn(s, "globals().__setitem__('original', step.__code__)");
    const where = { file: name, line: line(name, "step"), cond: "i < 0" };
    for (let i = 0; i < 1000; i++) {
      const bp = await setBreak(s, where);
      s.send("clear_break", { id: bp.id });
      await s.expect("breakpoints");
    }
    assertEquals(await evalIn(s, "step.__code__ is original"), "True");
    // A hit condition compiled too: counted in the code, the hook called on the third pass
    // only; the hit count is every pass's.
    const third = await setBreak(s, {
      file: name,
      line: line(name, "step"),
      hit_condition: "== 3",
    });
    assertEquals(await evalIn(s, "'__qdb_hits__' in step.__code__.co_names"), "True");
    s.send("continue");
    await stopped(s, "breakpoint");
    s.send("breakpoints");
    const counted = await s.expect("breakpoints");
    // deno-lint-ignore no-explicit-any
    assertEquals(counted.p.find((b: any) => b.id === third.id).hits, 3);
    s.send("clear_break", { id: third.id });
    await s.expect("breakpoints");
    await evalIn(s, "globals().__setitem__('stop', True)");
    s.send("continue");
    assertEquals((await s.exited).code, 0);
  },

  async "a closure's closure: compiled into those made, traced in those made later"(python) {
    const dir = await Deno.makeTempDir({ prefix: "qdb-compiled-" });
    try {
      const file = `${dir}/nested.py`;
      await Deno.writeTextFile(
        file,
        [
          "def outer():",
          "    def middle():",
          "        def inner(x):",
          "            return x + 1",
          "        return inner",
          "    return middle",
          "first = outer()()",
          "print(first(1))",
          "print(outer()()(2))",
          "",
        ].join("\n"),
      );
      await using s = await engineBackend.open(python.path, file, { cwd: dir });
      await stopped(s, "entry");
      for (let i = 0; i < 2; i++) {
        s.send("next");
        await stopped(s, "step");
      }
      // At line 8: `first` exists; the next inner is made by a middle found by no name.
      const bp = await setBreak(s, { file: "nested.py", line: 4 });
      assertEquals(bp.traced, undefined);
      assertEquals(await evalIn(s, "'__qdb_bp__' in first.__code__.co_names"), "True");
      s.send("continue");
      assertEquals(top(await stopped(s, "breakpoint")).line, 4);
      assertEquals(await evalIn(s, "x"), "1");
      s.send("continue");
      assertEquals(top(await stopped(s, "breakpoint")).line, 4);
      assertEquals(await evalIn(s, "x"), "2");
      s.send("continue");
      assertEquals((await s.exited).code, 0);
      assertEquals(s.stdout(), "2\n3\n");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },

  async "disable soft in a compiled function's loop: it runs on to its end"(python) {
    const dir = await Deno.makeTempDir({ prefix: "qdb-compiled-" });
    try {
      const file = `${dir}/spin.py`;
      await Deno.writeTextFile(
        file,
        [
          "def spin(n):",
          "    total = 0",
          "    for i in range(n):",
          "        total += i",
          "    return total",
          "print(spin(5))",
          "",
        ].join("\n"),
      );
      await using s = await engineBackend.open(python.path, file, { cwd: dir });
      await stopped(s, "entry");
      await setBreak(s, { file: "spin.py", line: 4 });
      s.send("continue");
      await stopped(s, "breakpoint");
      // The frame runs the compiled code, and passes its hook four more times after qdb left.
      s.send("disable", "soft");
      await s.expect("disabled");
      const status = await s.exited;
      assertEquals([status.code, s.stdout(), s.stderr()], [0, "10\n", ""]);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },

  async "a file changed after import: traced, and the reply says why"(python) {
    const dir = await Deno.makeTempDir({ prefix: "qdb-compiled-" });
    try {
      const file = `${dir}/changed.py`;
      const source = [
        "import time",
        "def work(n):",
        "    total = n * 2",
        "    return total",
        "time.sleep(0)",
        "print(work(1))",
        "print(work(2))",
        "",
      ];
      await Deno.writeTextFile(file, source.join("\n"));
      await using s = await engineBackend.open(python.path, file, { cwd: dir });
      await stopped(s, "entry");
      s.send("next");
      await stopped(s, "step");
      s.send("next");
      await stopped(s, "step");
      // work() is defined; now its file changes under it.
      source[2] = "    total = n * 3";
      await Deno.writeTextFile(file, source.join("\n"));
      await evalIn(s, "__import__('linecache').checkcache()");
      const bp = await setBreak(s, { file: "changed.py", line: 3 });
      assertStringIncludes(bp.traced, "not what was loaded");
      s.send("continue");
      assertEquals(top(await stopped(s, "breakpoint")).line, 3);
      assertEquals(await evalIn(s, "n"), "1");
      s.send("continue");
      await stopped(s, "breakpoint");
      s.send("continue");
      assertEquals((await s.exited).code, 0);
      assertEquals(s.stdout(), "2\n4\n");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
};

for (const [name, scenario] of Object.entries(scenarios)) {
  onEveryPython(`compiled breakpoints: ${name}`, scenario);
}
