// The scenario driver (tests/support/scenario.ts) on the JavaScript engine: the same core, the
// same checks of every event against the protocol (strict), the same scenarios as Python's
// where JavaScript has them, on Node (and Deno where it is the runtime under test).
import { assert, assertEquals, assertMatch } from "./support/assert.ts";
import { withFiles } from "./support/files.ts";
import {
  engineBackendFor,
  type ScenarioOptions,
  type ScenarioSession,
  stopped,
  topFrame,
} from "./support/scenario.ts";
import { javascriptEngine } from "../engine/javascript/javascript_engine.ts";

const node = await new Deno.Command("node", { args: ["--version"], stdout: "null", stderr: "null" })
  .output().then((o) => o.success, () => false);
if (!node) console.log("javascript_scenarios_test: skipped: no node on the PATH");

const backend = engineBackendFor(javascriptEngine);

/** The program every scenario runs; `// @name` marks the lines they name. */
const COUNTER = [
  "function work(i) {",
  "  const doubled = i * 2; // @doubled",
  "  return doubled + 1; // @return",
  "}",
  "let total = 0;",
  "for (let i = 0; i < 6; i++) {",
  '  console.log("step", i); // @step',
  "  total += work(i); // @call",
  "}",
  'console.log("total", total);',
  "try {",
  '  throw new RangeError("caught one"); // @caught',
  "} catch (_e) { /* handled */ }",
  'if (process.argv.includes("--crash")) throw new TypeError("boom"); // @crash',
  "process.exitCode = 4;",
  "",
].join("\n");

function line(marker: string): number {
  return COUNTER.split("\n").findIndex((l) => l.endsWith(`// @${marker}`)) + 1;
}

function scenario(name: string, fn: (s: ScenarioSession) => Promise<void>, options: {
  args?: string[];
  scenario?: ScenarioOptions;
} = {}): void {
  Deno.test({
    name: `JavaScript scenario: ${name}`,
    ignore: !node,
    fn: () =>
      withFiles({ "counter.js": COUNTER }, async (dir) => {
        await using s = await backend.open("node", `${dir}/counter.js`, {
          cwd: dir,
          stdin: "null",
          ...(options.args ? { args: options.args } : {}),
          ...options.scenario,
        });
        await fn(s);
      }),
  });
}

const top = topFrame;

async function evalIn(s: ScenarioSession, code: string): Promise<string> {
  const id = s.send("eval", code);
  return (await s.expect("print", (p, m) => m.id === id && p.input === code)).p.output;
}

function logs(s: ScenarioSession): string {
  return s.seen.filter((m) => m.e === "print" && m.p.input === "<log>").map((m) => m.p.output)
    .join("");
}

scenario(
  "a logpoint logs without stopping, a hit condition picks the hit, a condition too",
  async (s) => {
    await stopped(s, "entry");
    s.send("set_break", { file: "counter.js", line: line("doubled"), log: "i={i}" });
    const log = (await s.expect("breakpoints")).p[0];
    assertEquals([log.log, log.line], ["i={i}", line("doubled")]);
    s.send("set_break", { file: "counter.js", line: line("return"), hit_condition: "== 4" });
    const hit = (await s.expect("breakpoints")).p[1];
    s.send("continue");
    assertEquals(top(await stopped(s, "breakpoint")).line, line("return"));
    assertEquals(await evalIn(s, "i"), "3");
    assertEquals(logs(s), "i=0\ni=1\ni=2\ni=3\n");
    // The hit condition off, a condition on: the next stop is where it holds.
    s.send("update_break", { id: hit.id, hit_condition: null, cond: "i === 5" });
    await s.expect("breakpoints");
    s.send("continue");
    assertEquals(top(await stopped(s, "breakpoint")).line, line("return"));
    assertEquals(await evalIn(s, "i"), "5");
    assertEquals(logs(s), "i=0\ni=1\ni=2\ni=3\ni=4\ni=5\n");
    s.send("continue");
    assertEquals((await s.exited).code, 4);
  },
);

scenario("step into a call, over a line, out of the function", async (s) => {
  await stopped(s, "entry");
  s.send("set_break", { file: "counter.js", line: line("call") });
  await s.expect("breakpoints");
  s.send("continue");
  assertEquals(top(await stopped(s, "breakpoint")).line, line("call"));
  s.send("step");
  const into = top(await stopped(s));
  assertEquals([into.func, into.line], ["work", line("doubled")]);
  s.send("next");
  assertEquals(top(await stopped(s)).line, line("return"));
  s.send("return");
  const out = top(await stopped(s));
  assert(out.func !== "work", JSON.stringify(out));
  s.send("clear_break", { file: "counter.js", line: line("call") });
  await s.expect("breakpoints");
  s.send("continue");
  assertEquals((await s.exited).code, 4);
});

scenario("output printed before a stop reaches the clients before that stop", async (s) => {
  await stopped(s, "entry");
  s.send("set_break", { file: "counter.js", line: line("doubled"), cond: "i === 3" });
  await s.expect("breakpoints");
  s.send("continue");
  await stopped(s, "breakpoint");
  const at = s.seen.findLastIndex((m) => m.e === "stack");
  const printed = s.seen.findIndex((m) => m.e === "print" && m.p.output.includes("step 3"));
  assert(printed >= 0 && printed < at, "step 3 came after the stop it preceded");
  s.send("clear_break", { file: "counter.js", line: line("doubled") });
  await s.expect("breakpoints");
  s.send("continue");
  await s.exited;
  assertMatch(s.stdout(), /^step 0\n[\s\S]*step 5\ntotal 36\n$/);
});

scenario(
  "an exception breakpoint stops where a caught error is thrown; never lets it go",
  async (s) => {
    await stopped(s, "entry");
    s.send("set_exception_break", "raised");
    s.send("continue");
    const thrown = await stopped(s, "exception");
    assertEquals(top(thrown).line, line("caught"));
    s.send("set_exception_break", "never");
    s.send("continue");
    assertEquals((await s.exited).code, 4);
  },
);

scenario(
  "an uncaught error stops post mortem with its exception, then ends the program as Node would",
  async (s) => {
    await stopped(s, "entry");
    s.send("continue");
    const exception = await s.expect("exception");
    assertMatch(exception.p.value, /boom/);
    const stop = await stopped(s);
    assertEquals(top(stop).line, line("crash"));
    s.send("continue");
    assertEquals((await s.exited).code, 1);
    assertMatch(s.stderr(), /TypeError: boom/);
  },
  { args: ["--crash"] },
);

Deno.test({
  name:
    "JavaScript scenario: input reaches the program's stdin; a payload that is not text is refused, not its end",
  ignore: !node,
  fn: () =>
    withFiles({
      "reader.js": 'let data = "";\nprocess.stdin.on("data", (d) => data += d);\n' +
        'process.stdin.on("end", () => console.log("read", JSON.stringify(data)));\n',
    }, async (dir) => {
      await using s = await backend.open("node", `${dir}/reader.js`, { cwd: dir, stdin: "piped" });
      await stopped(s, "entry");
      const refused = s.send("input", { eof: false });
      const error = await s.expect("error", (_p, m) => m.id === refused);
      assertEquals(error.p.type, "payload");
      s.send("input", "hi\n");
      s.send("continue");
      s.send("input", { eof: true });
      assertEquals((await s.exited).code, 0);
      assertEquals(s.stdout(), 'read "hi\\n"\n');
    }),
});
