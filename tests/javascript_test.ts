// The JavaScript engine through the real CLI and editors: `qdb run app.js` in pdb's words, a
// TypeScript program under Deno debugged by its own lines (source maps), an uncaught exception,
// `qdb dap` on a JavaScript program with Microsoft's DAP client, and one server with a Python
// session and a Node one, each debugged by the same terminal client and the Node one by qdb dap.
import { assert, assertEquals, assertMatch } from "./support/assert.ts";
import { withFiles as inDir } from "./support/files.ts";
import { QdbProcess, startServe } from "./support/processes.ts";
import { adapter } from "./support/dap.ts";
import { findPythons } from "./support/pythons.ts";

/** A temporary directory with these files, removed after `fn`. */
const withFiles = (files: Record<string, string>, fn: (dir: string) => Promise<void>) =>
  inDir(files, fn, "qdb-js-");

const node = await new Deno.Command("node", { args: ["--version"], stdout: "null", stderr: "null" })
  .output().then((out) => out.success, () => false);
if (!node) console.log("javascript_test: Node tests skipped: no node on the PATH");
const PYTHON = (await findPythons()).at(-1)?.path;
const TOKEN = "js-test-token";

const APP = [
  "function visit(items, n) {",
  "  const label = `visit ${n}`;",
  "  return items.length + n; // @stop",
  "}",
  "",
  "let total = 0;",
  "for (let n = 0; n < 2; n++) {",
  "  total += visit([...Array(250).keys()], n);",
  "}",
  'console.log("total", total);',
  "process.exitCode = 3;",
  "",
].join("\n");

async function run(args: string[], input: string, cwd: string) {
  const process = new QdbProcess(args, { stdin: input, cwd });
  const status = await process.exited();
  return { code: status.code, out: process.text.stdout, err: process.text.stderr };
}

Deno.test({
  name:
    "JavaScript: qdb run app.js speaks pdb: break, continue, step, where, p, locals, until the end",
  ignore: !node,
  fn: () =>
    withFiles({ "app.js": APP }, async (dir) => {
      const out = await run(
        ["run", "--eval-timeout", "1", "app.js"],
        [
          "b 3",
          "c",
          "where",
          "p n + 1",
          "p label",
          "locals",
          "args",
          "while (true) {}",
          "up",
          "p total",
          "c",
          "n",
          "c",
        ]
          .join("\n") + "\n",
        dir,
      );
      // The program's exit code is qdb run's.
      assertEquals(out.code, 3, out.err);
      const text = out.out;
      assertMatch(text, /^> .*app\.js\(6\)<module>\(\)$/m);
      assertMatch(text, /Breakpoint 1 at .*app\.js:3/);
      assertMatch(text, /> .*app\.js\(3\)visit\(\)\n[\s\S]*B-> +3 +return items\.length \+ n;/);
      assertMatch(
        text,
        /\(qdb\) where\n {2}.*app\.js\(8\)<module>\(\)\n.*\n> .*app\.js\(3\)visit\(\)/,
      );
      assertMatch(text, /\(qdb\) p n \+ 1\n1\n/);
      assertMatch(text, /\(qdb\) p label\n"visit 0"\n/);
      assertMatch(
        text,
        /\(qdb\) locals\nitems = \[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, \.\.\.\]\nn = 0\nlabel = "visit 0"\n/,
      );
      assertMatch(text, /\(qdb\) args\nitems = \[0, 1, 2[^\n]*\nn = 0\n\(qdb\)/);
      // An evaluation that never ends is stopped at the eval timeout; the program lives on.
      assertMatch(text, /\(qdb\) while \(true\) \{\}\n\*\*\* The code ran longer than 1 s/);
      assertMatch(text, /\(qdb\) p total\n0\n/);
      // Its output, in order, after its last stop; the runtime's own lines about its inspector
      // are not the program's.
      assertMatch(text, /^total 501$/m);
      assert(!/Debugger|inspector|Waiting for/.test(text + out.err), text + out.err);
      assertMatch(text, /The program exited with code 3/);
    }),
});

Deno.test({
  name: "TypeScript under Deno: a breakpoint on app.ts:N stops at line N of the .ts file",
  fn: () =>
    withFiles({
      "app.ts": [
        "interface Item {",
        "  n: number;",
        "}",
        "function visit(items: Item[], n: number): number {",
        "  const label: string = `visit ${n}`;",
        "  return items.length + n; // @stop",
        "}",
        "let total: number = 0;",
        "for (let n = 0; n < 2; n++) total += visit([{ n }], n);",
        'console.log("total", total);',
        "",
      ].join("\n"),
    }, async (dir) => {
      const out = await run(
        ["run", "--", Deno.execPath(), "run", "app.ts"],
        ["b 6", "c", "p label", "l 5, 6", "where", "c", "c"].join("\n") + "\n",
        dir,
      );
      assertEquals(out.code, 0, out.err);
      assertMatch(out.out, /Breakpoint 1 at .*app\.ts:6/);
      // The TypeScript file's own lines and text (the types the code V8 runs has lost).
      assertMatch(out.out, /> .*app\.ts\(6\)visit\(\)\n[\s\S]*B-> +6 +return items\.length \+ n;/);
      assertMatch(out.out, /\(qdb\) l 5, 6\n +5 +const label: string = `visit \$\{n\}`;\n/);
      assertMatch(out.out, /\(qdb\) where\n {2}.*app\.ts\(9\)<module>\(\)/);
      assertMatch(out.out, /\(qdb\) p label\n"visit 0"\n/);
      assertMatch(out.out, /^total 3$/m);
    }),
});

Deno.test({
  name: "JavaScript: an uncaught exception stops the program; it then ends as Node would",
  ignore: !node,
  fn: () =>
    withFiles({
      "boom.js": 'function f(x) {\n  throw new Error("boom " + x);\n}\nf(7);\n',
    }, async (dir) => {
      const out = await run(["run", "boom.js"], "c\np x\nc\n", dir);
      assertEquals(out.code, 1, out.err);
      assertMatch(out.out, /Error: boom 7/);
      assertMatch(out.out, /> .*boom\.js\(2\)f\(\)/);
      assertMatch(out.out, /\(qdb\) p x\n7\n/);
    }),
});

Deno.test({
  name: "qdb dap debugs a JavaScript program: breakpoints, stack, variables, evaluate, steps",
  ignore: !node,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: () =>
    withFiles({ "app.js": APP }, async (dir) => {
      const program = `${dir}/app.js`;
      const { dc, dir: tmp } = await adapter();
      try {
        await dc.initializeRequest();
        await Promise.all([
          dc.waitForEvent("initialized").then(async () => {
            const set = await dc.setBreakpointsRequest({
              source: { path: program },
              breakpoints: [{ line: 3 }],
            });
            assertEquals(set.body.breakpoints.map((b) => b.line), [3]);
            await dc.configurationDoneRequest();
          }),
          dc.launch({ program } as never),
          dc.assertStoppedLocation("breakpoint", { path: program, line: 3 }),
        ]);
        const { body: { threads } } = await dc.threadsRequest();
        const { body: { stackFrames } } = await dc.stackTraceRequest({ threadId: threads[0]!.id });
        assertEquals(stackFrames.map((f) => [f.name, f.line]).slice(0, 2), [["visit", 3], [
          "<module>",
          8,
        ]]);
        const { body: { scopes } } = await dc.scopesRequest({ frameId: stackFrames[0]!.id });
        const { body: { variables } } = await dc.variablesRequest({
          variablesReference: scopes[0]!.variablesReference,
        });
        const items = variables.find((v) => v.name === "items")!;
        assertEquals(items.indexedVariables, 250);
        const page = await dc.variablesRequest({
          variablesReference: items.variablesReference,
          filter: "indexed",
          start: 247,
          count: 3,
        });
        assertEquals(page.body.variables.map((v) => v.value), ["247", "248", "249"]);
        const label = await dc.evaluateRequest({
          expression: "label",
          frameId: stackFrames[0]!.id,
        });
        assertEquals(label.body.result, '"visit 0"');
        const source = await dc.sourceRequest({ source: { path: program }, sourceReference: 0 })
          .catch(() => undefined);
        assert(source === undefined || typeof source.body.content === "string");
        await Promise.all([
          dc.stepOutRequest({ threadId: threads[0]!.id }),
          dc.waitForEvent("stopped"),
        ]);
        await Promise.all([
          dc.continueRequest({ threadId: threads[0]!.id }),
          dc.assertStoppedLocation("breakpoint", { path: program, line: 3 }),
        ]);
        await Promise.all([
          dc.continueRequest({ threadId: threads[0]!.id }),
          dc.waitForEvent("exited"),
          dc.waitForEvent("terminated"),
        ]);
      } finally {
        await dc.stop();
        await Deno.remove(tmp, { recursive: true });
      }
    }),
});

Deno.test({
  name: "JavaScript: --break before the start, and eval policy none refuses every piece of code",
  ignore: !node,
  fn: () =>
    withFiles({ "app.js": APP }, async (dir) => {
      const out = await run(
        ["run", "--eval-policy", "none", "--break", "app.js:3", "app.js"],
        ["c", "p n", "b 8, n > 0", "locals", "c", "c"].join("\n") + "\n",
        dir,
      );
      assertEquals(out.code, 3, out.err);
      // The breakpoint given on the command line, set before the program's code loaded, binds
      // when it does, and the program stops there.
      assertMatch(out.out, /Breakpoint 1 pending at app\.js:3 \(it binds when its code loads\)/);
      assertMatch(out.out, /^> .*app\.js\(3\)visit\(\)$/m);
      assertMatch(out.out, /\(qdb\) p n\n\*\*\* Eval policy "none" refuses to run code/);
      assertMatch(out.out, /\(qdb\) b 8, n > 0\n\*\*\* Eval policy "none" refuses to run code/);
      // Reading values runs no code of the program's: locals are still shown.
      assertMatch(out.out, /\(qdb\) locals\nitems = \[/);
    }),
});

Deno.test({
  name:
    "one server, a Python session and a Node one: qdb attach debugs each in pdb's words, qdb dap attaches to the Node one",
  ignore: !node || PYTHON === undefined,
  fn: () =>
    withFiles({
      "app.py": 'x = 6\ny = x * 7\nprint("py", y)\n',
      "app.js": 'const x = 6;\nconst y = x * 7;\nconsole.log("js", y);\n',
    }, async (dir) => {
      await using serve = await startServe(["--token", TOKEN]);
      const trace = (session: string, ...command: string[]) =>
        new QdbProcess(
          [
            "trace",
            "--server",
            serve.tracerUrl,
            "--token",
            TOKEN,
            "--session",
            session,
            "--",
            ...command,
          ],
          { cwd: dir },
        );
      await using py = trace("py", PYTHON!, "app.py");
      await using js = trace("js", "node", "app.js");
      await py.line(/is session/, "stderr");
      await js.line(/is session/, "stderr");
      const attach = (session: string, input: string) =>
        run(["attach", "--server", serve.clientUrl, "--token", TOKEN, session], input, dir);

      // The same terminal client, the same words, each program in its own language.
      const inPython = await attach("py", "n\nn\np y\nwhere\nc\n");
      assertMatch(inPython.out, /\(qdb\) p y\n42\n/);
      assertMatch(inPython.out, /^py 42$/m);
      assertEquals((await py.exited()).code, 0);

      // The Node session in the terminal, left stopped (qdb attach's q and detach are soft) ...
      const inNode = await attach("js", "n\nn\np y\nwhere\ndetach\n");
      assertMatch(inNode.out, /\(qdb\) p y\n42\n/);
      assertMatch(inNode.out, /^> .*app\.js\(3\)<module>\(\)$/m);

      // ... for qdb dap (VS Code's attach): the same stop, then the editor leaves and, as the
      // session's only client, lets the program run to its end.
      const { dc, dir: dapDir } = await adapter();
      try {
        await dc.initializeRequest();
        const [, , stopped] = await Promise.all([
          dc.waitForEvent("initialized").then(() => dc.configurationDoneRequest()),
          dc.attachRequest({ server: serve.clientUrl, token: TOKEN, session: "js" } as never),
          dc.waitForEvent("stopped"),
        ]);
        const stack = await dc.stackTraceRequest({ threadId: stopped.body.threadId });
        assertEquals(stack.body.stackFrames[0]!.line, 3);
        const y = await dc.evaluateRequest({
          expression: "y + 0",
          frameId: stack.body.stackFrames[0]!.id,
          context: "repl",
        });
        assertEquals(y.body.result, "42");
      } finally {
        await dc.stop();
        await Deno.remove(dapDir, { recursive: true });
      }
      assertEquals((await js.exited()).code, 0);
    }),
});
