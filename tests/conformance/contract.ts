/**
 * The contract every debug engine keeps with the core, as one suite run against each engine:
 * the Python engine on every CPython found, and a scripted fake engine in memory that tests the
 * core alone. A new engine (JavaScript through the V8 inspector) passes it before it ships.
 *
 * The program under test (testdata/contract.py for Python) stops twice at its breakpoint in
 * `visit(items, n)`, where `items` is a list of 250 integers, `n` is 0 then 1 and `label` is
 * `"visit N"`, called from the module's top level; then it ends with code 0. The program is
 * launched with one breakpoint, on visit's return line (line 4, after two lines with code).
 *
 * @module
 */

import { assert, assertEquals, assertMatch } from "../support/assert.ts";
import type { DebugCore } from "../../core/core.ts";
import type { Breakpoint, Message, MessageId } from "../../protocol/mod.ts";

/**
 * What the contract's checks expect of the program's language: the program's own text, and how
 * the language shows a string and a small integer.
 */
export interface ContractLanguage {
  /** The program's first line. */
  readonly firstLine: RegExp;
  /** visit's first line. */
  readonly defLine: RegExp;
  /** visit's return line (the stop). */
  readonly returnLine: RegExp;
  /** Lines 2 and 3, with their newlines. */
  readonly lines2to3: string;
  /** Line 9, with its newline. */
  readonly line9: string;
  /** How the language shows a string. */
  str(text: string): string;
  /** The type of a small integer. */
  readonly intType: string;
  /** What evaluating an unknown name raises. */
  readonly nameError: RegExp;
  /** Whether the module's variables (`total`, the loop's `n`) are globals (Python's). */
  readonly moduleGlobals: boolean;
}

/** Python's, for contract.py. */
export const PYTHON: ContractLanguage = {
  firstLine: /^# The engine contract's/,
  defLine: /def visit\(items, n\):/,
  returnLine: /return len\(items\) \+ n/,
  lines2to3: 'def visit(items, n):\n    label = "visit %d" % n\n',
  line9: "    total += visit(list(range(250)), n)\n",
  str: (text) => `'${text}'`,
  intType: "int",
  nameError: /NameError/,
  moduleGlobals: true,
};

/** JavaScript's, for contract.js. */
export const JAVASCRIPT: ContractLanguage = {
  firstLine: /^\/\/ The engine contract's/,
  defLine: /function visit\(items, n\) \{/,
  returnLine: /return items\.length \+ n/,
  lines2to3: "function visit(items, n) {\n  const label = `visit ${n}`;\n",
  line9: "  total += visit([...Array(250).keys()], n);\n",
  str: (text) => JSON.stringify(text),
  intType: "number",
  nameError: /ReferenceError/,
  moduleGlobals: false,
};

/** A running contract program, stopped at its first stop, seen through the core. */
export interface ContractSession extends AsyncDisposable {
  /** The core over the engine. */
  readonly core: DebugCore;
  /** The main file of the program, as the engine names it. */
  readonly program: string;
  /** Its language. */
  readonly language: ContractLanguage;
  /** Every event the core has given so far. */
  readonly seen: Message[];
  /** Resolves with the next event named `e` after those already taken. */
  next(e: string): Promise<Message>;
}

/** An engine under test: starts the contract program, stopped at its first stop. */
export interface ContractTarget {
  readonly name: string;
  start(): Promise<ContractSession>;
}

let nextId = 1;

/** Sends a command through the core; resolves with its one reply (`ok` or `error`). */
async function call(s: ContractSession, e: string, p?: unknown): Promise<Message> {
  const id: MessageId = nextId++;
  s.core.send(p === undefined ? { e, id } : { e, p, id });
  while (true) {
    const found = s.seen.filter((m) => m.id === id && (m.e === "ok" || m.e === "error"));
    if (found.length > 0) {
      // Exactly one reply, however long we wait: another would show up by the next event.
      return found[0]!;
    }
    await s.next("*");
  }
}

// deno-lint-ignore no-explicit-any
async function ok(s: ContractSession, e: string, p?: unknown): Promise<any> {
  const reply = await call(s, e, p);
  assertEquals(reply.e, "ok", `${e}: ${JSON.stringify(reply.p)}`);
  return reply.p;
}

async function errorType(s: ContractSession, e: string, p?: unknown): Promise<string> {
  const reply = await call(s, e, p);
  assertEquals(reply.e, "error", `${e} should fail: ${JSON.stringify(reply.p)}`);
  return (reply.p as { type: string }).type;
}

/** The line of the program's breakpoint (visit's return); the line before it has code too. */
const STOP_LINE = 4;

/** A protocol 1 command, and the payload of the event with its id named `e` (or an error's type). */
// deno-lint-ignore no-explicit-any
async function v1(s: ContractSession, e: string, p: unknown, reply: string): Promise<any> {
  const id = nextId++;
  s.core.send(p === undefined ? { e, id } : { e, p, id });
  while (true) {
    const found = s.seen.find((m) => m.id === id && (m.e === reply || m.e === "error"));
    if (found) {
      assertEquals(found.e, reply, `${e}: ${JSON.stringify(found.p)}`);
      return found.e === "error" ? (found.p as { type: string }).type : found.p;
    }
    await s.next("*");
  }
}

async function stoppedThread(s: ContractSession): Promise<number> {
  const { threads } = await ok(s, "threads");
  const stopped = threads.filter((t: { state: string }) => t.state === "stopped");
  assertEquals(stopped.length, 1, JSON.stringify(threads));
  return stopped[0].id;
}

/** The contract's cases, by name. */
export const CONTRACT: Record<string, (s: ContractSession) => Promise<void>> = {
  async "threads: one stopped thread, named"(s) {
    const { threads } = await ok(s, "threads");
    assert(threads.length >= 1);
    for (const t of threads) {
      assertEquals(typeof t.name, "string");
      assert(t.state === "stopped" || t.state === "running");
    }
    await stoppedThread(s);
  },

  async "stack_trace: newest first, distinct ids, paged"(s) {
    const thread = await stoppedThread(s);
    const { frames, total } = await ok(s, "stack_trace", { thread });
    assertEquals(total, frames.length);
    assertEquals(frames.map((f: { func: string }) => f.func).slice(0, 2), ["visit", "<module>"]);
    assertEquals(frames[0].file, s.program);
    assertMatch(frames[0].code, s.language.returnLine);
    assertEquals(new Set(frames.map((f: { id: number }) => f.id)).size, frames.length);
    const page = await ok(s, "stack_trace", { thread, start: 1, levels: 1 });
    assertEquals(page.frames.map((f: { id: number }) => f.id), [frames[1].id]);
    assertEquals(page.total, total);
    assertEquals(await errorType(s, "stack_trace", { thread: 424242 }), "thread");
  },

  async "scopes and variables: locals by name, a list paged by index"(s) {
    const thread = await stoppedThread(s);
    const { frames } = await ok(s, "stack_trace", { thread });
    const { scopes } = await ok(s, "scopes", { frame: frames[0].id });
    assertEquals(scopes[0].kind, "locals");
    const { variables } = await ok(s, "variables", { ref: scopes[0].ref });
    const byName = Object.fromEntries(variables.map((v: { name: string }) => [v.name, v]));
    assertEquals(byName.n.value, "0");
    assertEquals(byName.n.ref, 0);
    assertEquals(byName.label.value, s.language.str("visit 0"));
    assertEquals([byName.items.indexed, byName.items.named], [250, 0]);
    const page = await ok(s, "variables", { ref: byName.items.ref, start: 240, count: 20 });
    assertEquals(page.variables.map((v: { name: string }) => v.name), [
      "[240]",
      "[241]",
      "[242]",
      "[243]",
      "[244]",
      "[245]",
      "[246]",
      "[247]",
      "[248]",
      "[249]",
    ]);
    assertEquals(page.variables[9].value, "249");
    const named = await ok(s, "variables", { ref: byName.items.ref, filter: "named" });
    assertEquals(named.variables, []);
  },

  async "evaluate: a value with a type, in a chosen frame; failures are errors"(s) {
    const thread = await stoppedThread(s);
    const { frames } = await ok(s, "stack_trace", { thread });
    const value = await ok(s, "evaluate", { expr: "n + 1", frame: frames[0].id });
    assertEquals([value.value, value.type, value.ref], ["1", s.language.intType, 0]);
    assertEquals(
      await errorType(s, "evaluate", { expr: "no_such_name", frame: frames[0].id }),
      "eval",
    );
  },

  async "references and frame ids last until the program resumes"(s) {
    const thread = await stoppedThread(s);
    const { frames } = await ok(s, "stack_trace", { thread });
    const { scopes } = await ok(s, "scopes", { frame: frames[0].id });
    assertEquals(await errorType(s, "variables", { ref: 999_999 }), "reference");
    s.core.send({ e: "continue" });
    await s.next("running");
    await s.next("stack");
    assertEquals(await errorType(s, "variables", { ref: scopes[0].ref }), "reference");
    assertEquals(await errorType(s, "scopes", { frame: frames[0].id }), "reference");
    const again = await ok(s, "stack_trace", { thread: await stoppedThread(s) });
    const fresh = await ok(s, "scopes", { frame: again.frames[0].id });
    const { variables } = await ok(s, "variables", { ref: fresh.scopes[0].ref });
    assertEquals(variables.find((v: { name: string }) => v.name === "n").value, "1");
  },

  async "watches: the core evaluates them through the engine at every stop"(s) {
    const id = nextId++;
    s.core.send({ e: "set_watch", p: ["n", "label", "missing"], id });
    const first = await s.next("watchlist");
    assertEquals(first.id, id);
    assertEquals((first.p as { value: string }[]).map((w) => w.value).slice(0, 2), [
      "0",
      s.language.str("visit 0"),
    ]);
    assertEquals((first.p as { exc: boolean }[])[2]!.exc, true);
    s.core.send({ e: "continue" });
    const next = await s.next("watchlist");
    assertEquals((next.p as { value: string }[])[0]!.value, "1");
    const stop = await s.next("stack");
    assert(s.seen.indexOf(next) < s.seen.indexOf(stop), "the watchlist comes before its stop");
  },

  async "source: the program's file with its hash; other paths refused"(s) {
    const { text, hash } = await ok(s, "source", { path: s.program });
    assertMatch(text, s.language.defLine);
    const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
    const hex = Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
    assertEquals(hash, `sha256:${hex}`);
    // Files that are not the program's code are refused alike, whether they exist or not.
    for (const path of ["/etc/passwd", "etc/passwd", "/nowhere/else.py"]) {
      assertEquals(await errorType(s, "source", { path }), "source");
    }
  },

  async "list: protocol 1's listing is the core's, from source, for every engine"(s) {
    // The selected frame's file, whole, then cut to lines; a range open at one end is 11 lines.
    const all = await v1(s, "list", undefined, "list");
    assertMatch(all, s.language.firstLine);
    assertMatch(all, s.language.defLine);
    assertEquals(
      await v1(s, "list", { start: 2, end: 3 }, "list"),
      s.language.lines2to3,
    );
    const lines = all.split("\n").length - 1;
    assertEquals(
      (await v1(s, "list", { start: 1 }, "list")).split("\n").length - 1,
      Math.min(11, lines),
    );
    assertEquals(
      await v1(s, "list", { file: s.program, start: 9, end: 9 }, "list"),
      s.language.line9,
    );
    assertEquals(await v1(s, "list", { file: "/nowhere/else.py" }, "error"), "list");
  },

  async "eval, p and pprint: protocol 1's are the core's, from evaluate's echo"(s) {
    assertEquals(await v1(s, "eval", "n + 1", "print"), {
      input: "n + 1",
      exc: false,
      output: "1",
    });
    assertEquals((await v1(s, "eval", { code: "n", repr: true }, "print")).output, "0");
    const failed = await v1(s, "eval", "nope", "print");
    assertEquals(failed.exc, true);
    assertMatch(failed.output, s.language.nameError);
    assertEquals((await v1(s, "pprint", "label", "print")).output, s.language.str("visit 0"));
    // In the selected frame.
    await v1(s, "up", undefined, "stack");
    assertEquals((await v1(s, "eval", "n + 2", "print")).output, "2");
    await v1(s, "down", undefined, "stack");
  },

  async "locals, args and globals: protocol 1's are the core's, from scopes and variables"(s) {
    const locals = await v1(s, "locals", undefined, "locals");
    assertEquals(Object.keys(locals).sort(), ["items", "label", "n"]);
    assertEquals([locals.n, locals.label], ["0", s.language.str("visit 0")]);
    assertMatch(locals.items, /^\[0, 1, 2, /);
    // The parameters, in order.
    assertEquals(Object.entries(await v1(s, "args", undefined, "args")), [
      ["items", locals.items],
      ["n", "0"],
    ]);
    const globals = await v1(s, "globals", undefined, "globals");
    // The module's variables are its globals (Python), or its own (a JavaScript module); the
    // runtime's own globals are never listed.
    if (s.language.moduleGlobals) assertEquals([globals.total, globals.n], ["0", "0"]);
    else assertEquals([globals.total, globals.n, globals.Array], [undefined, undefined, undefined]);
    await v1(s, "up", undefined, "stack");
    const module = await v1(s, "locals", undefined, "locals");
    assertEquals([module.total, module.n], ["0", "0"]);
    assertEquals(await v1(s, "args", undefined, "args"), {});
    await v1(s, "down", undefined, "stack");
  },

  async "breakpoints: the core's ids and table, the engine's places and hit counts"(s) {
    // The one the program was launched with: id 1, on visit's return line, hit once so far.
    const start = await v1(s, "breakpoints", undefined, "breakpoints");
    assertEquals(start.map((b: Breakpoint) => [b.id, b.file, b.line, b.hits, b.verified]), [
      [1, s.program, STOP_LINE, 1, true],
    ]);
    // A new one takes the next id; a line past the end is refused and takes none.
    assertEquals(await v1(s, "set_break", { line: 999 }, "error"), "set_break");
    const set = await v1(s, "set_break", { line: 3, cond: "n > 5" }, "breakpoints");
    assertEquals(set.map((b: Breakpoint) => [b.id, b.line, b.cond]), [[1, STOP_LINE, null], [
      2,
      3,
      "n > 5",
    ]]);
    assertEquals(await v1(s, "clear_break", { id: 7 }, "error"), "clear_break");
    const disabled = await v1(s, "update_break", { id: 2, enabled: false }, "breakpoints");
    assertEquals(disabled[1]!.enabled, false);
    const cleared = await v1(s, "clear_break", { file: s.program, line: 3 }, "breakpoints");
    assertEquals(cleared.map((b: Breakpoint) => b.id), [1]);
    // Hit counts come from the engine at the next stop.
    s.core.send({ e: "continue" });
    let after: { id: number; hits: number }[] = [];
    while (after[0]?.hits !== 2) after = (await s.next("breakpoints")).p as typeof after;
    await s.next("stack");
  },

  async "the selected frame: the core passes its id, and the engine evaluates there"(s) {
    const id = nextId++;
    s.core.send({ e: "set_watch", p: ["label"], id });
    const inVisit = await s.next("watchlist");
    assertEquals((inVisit.p as { value: string }[])[0]!.value, s.language.str("visit 0"));
    // In the caller's frame (the module), visit's local is not there.
    s.core.send({ e: "up", id: nextId++ });
    const inModule = await s.next("watchlist");
    assertEquals((inModule.p as { exc: boolean }[])[0]!.exc, true);
    const select = await s.next("stack");
    assertEquals((select.p as { index: number; reason: string }).reason, "select");
    assertEquals((select.p as { index: number }).index, 0);
  },

  async "every request is answered once, and the program ends"(s) {
    const ids: number[] = [];
    for (const e of ["threads", "threads", "threads"]) {
      const id = nextId++;
      ids.push(id);
      s.core.send({ e, id });
    }
    for (const id of ids) {
      while (!s.seen.some((m) => m.id === id)) await s.next("*");
    }
    s.core.send({ e: "continue" });
    await s.next("stack");
    s.core.send({ e: "continue" });
    const exited = await s.next("exited");
    assertEquals((exited.p as { code: number }).code, 0);
    for (const id of ids) {
      assertEquals(s.seen.filter((m) => m.id === id).length, 1, `replies to ${id}`);
    }
  },
};
