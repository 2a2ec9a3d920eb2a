// A newcomer's first hour (issue 9), through the real CLI: programs that cannot start say
// why, standard input ends as it should, -m and -c work, and qdb never hangs waiting.
import { assert, assertEquals, assertMatch } from "./support/assert.ts";
import { withFiles as inDir } from "./support/files.ts";
import { fakeTracer } from "./support/fake_tracer.ts";
import { Inbox } from "./support/inbox.ts";
import { QDB_ENTRY, QdbProcess, startServe } from "./support/processes.ts";
import { connectWebSocket } from "../transport/websocket.ts";
import { VERSION } from "../version.ts";
import { findPythons, onEveryPython } from "./support/pythons.ts";

/** A temporary directory with these files, removed after `fn`. */
const withFiles = (files: Record<string, string>, fn: (dir: string) => Promise<void>) =>
  inDir(files, fn, "qdb-first-hour-");

const PYTHON = (await findPythons()).at(-1)?.path;
const ignore = PYTHON === undefined;
if (ignore) console.log("first_hour_test: skipped: no CPython 3.8+ found");

/** `qdb run` (or another command) to its end, with `input` on standard input. */
async function qdb(args: string[], input: string, cwd?: string) {
  const [command, ...rest] = args;
  const process = new QdbProcess([command!, "--python", PYTHON!, ...rest], {
    stdin: input,
    ...(cwd ? { cwd } : {}),
  });
  const status = await process.exited();
  return { code: status.code, out: process.text.stdout, err: process.text.stderr };
}

const READER = 'import sys\ndata = sys.stdin.read()\nprint("read", len(data))\n';

Deno.test({
  name: "item 2: a program with a syntax error shows python's own message, and no qdb frame",
  ignore,
  fn: () =>
    withFiles({ "bad.py": "def f(:\n    pass\n", "notpy.py": "\x7fELF\x02\x01" }, async (dir) => {
      const bad = await qdb(["run", `${dir}/bad.py`], "");
      assertEquals(bad.code, 1);
      assertMatch(bad.out + bad.err, /File ".*bad\.py", line 1\n\s+def f\(:\n\s+\^\nSyntaxError/);
      assert(!/qdb\.py/.test(bad.out + bad.err), bad.out + bad.err);
      const binary = await qdb(["run", `${dir}/notpy.py`], "");
      assertEquals(binary.code, 1);
      assertMatch(binary.out + binary.err, /SyntaxError/);
    }),
});

Deno.test({
  name: "item 10: a missing program is reported before anything starts, by run and trace",
  ignore,
  async fn() {
    for (const command of ["run", "trace"]) {
      const missing = await qdb([command, "nosuch_program.py"], "");
      assertEquals(missing.code, 2);
      assertEquals(missing.err, `qdb ${command}: nosuch_program.py: no such file\n`);
      assertEquals(missing.out, "");
    }
  },
});

Deno.test({
  name: "item 3: with standard input at its end, the program reads end of file, not 'quit'",
  ignore,
  fn: () =>
    withFiles({ "reader.py": READER }, async (dir) => {
      const run = await qdb(["run", "--no-stop", `${dir}/reader.py`], "");
      assertEquals(run.code, 0);
      assertMatch(run.out, /^read 0$/m);
    }),
});

Deno.test({
  name: "item 4: piped lines are commands at each stop, and the program's input when it reads",
  ignore,
  fn: () =>
    withFiles({ "reader.py": READER }, async (dir) => {
      // pdb's order: `c`, then the program reads the rest of the stream.
      let run = await qdb(["run", `${dir}/reader.py`], "c\nhello\n");
      assertEquals(run.code, 0);
      assertMatch(run.out, /^read 6$/m);
      // Typed ahead of the stops: each line is a command, until the program reads.
      run = await qdb(["run", `${dir}/reader.py`], "n\nn\nc\n");
      assertMatch(run.out, /reader\.py\(2\)<module>\(\)/);
      // The program read "c\n", stopped at line 3; the end of input there ends it, as in pdb.
      assertMatch(run.out, /reader\.py\(3\)<module>\(\)/);
      assert(!/^read/m.test(run.out), run.out);
      assertEquals(run.code, 0);
      // A line starting with ':' is for qdb even while the program runs; '::' sends one ':'.
      run = await qdb(["run", "--no-stop", `${dir}/reader.py`], "::x\n");
      assertMatch(run.out, /^read 3$/m);
    }),
});

Deno.test({
  name: "item 5: -m MODULE and -c CODE, as options or after -- (trace parses them alike)",
  ignore,
  fn: () =>
    withFiles({ "data.json": '{"b": [1, 2]}' }, async (dir) => {
      for (const args of [["-m", "json.tool"], ["--", "-m", "json.tool"]]) {
        const run = await qdb(["run", ...args, "data.json"], "c\n", dir);
        assertEquals(run.code, 0, run.err);
        assertMatch(run.out, /json[/\\]tool\.py\(\d+\)<module>\(\)/);
        assertMatch(run.out, /"b": \[\n\s+1,\n\s+2\n\s+\]/);
      }
      const code = await qdb(["run", "-c", "import sys; print(sys.argv, 6 * 7)", "x"], "c\n");
      assertEquals(code.code, 0);
      assertMatch(code.out, /\['-c', 'x'\] 42/);
      const missing = await qdb(["run", "-m", "no_such_module_here"], "");
      assertEquals(missing.code, 1);
      assertMatch(missing.err, /No module named no_such_module_here/);
    }),
});

Deno.test({
  name: "first hour 2, item 1: options after -m MODULE and -c CODE reach the program",
  ignore,
  fn: () =>
    withFiles({ "keys.json": '{"b": 2, "a": 1}' }, async (dir) => {
      const sorted = await qdb(["run", "-m", "json.tool", "--sort-keys", "keys.json"], "c\n", dir);
      assertEquals(sorted.code, 0, sorted.err);
      assertMatch(sorted.out, /"a": 1,\n\s+"b": 2/);
      const code = await qdb(["run", "-c", "import sys; print(sys.argv)", "-x", "1"], "c\n");
      assertEquals(code.code, 0, code.err);
      assertMatch(code.out, /\['-c', '-x', '1'\]/);
    }),
});

Deno.test({
  name:
    "first hour 2, item 5: p shows at most 10,000 items of any container, and says so every time",
  ignore,
  fn: async () => {
    const code = "a = list(range(100000)); b = [list(range(20000))]; c = list(range(10000))";
    const run = await qdb(["run", "-c", code], "n\np a\np b\np c\nc\n");
    assertEquals(run.code, 0, run.err);
    assertMatch(
      run.out,
      /9998, 9999, \.\.\.\]\n\[qdb: a list of 100,000 items; the first 10,000 are shown\]/,
    );
    assertMatch(run.out, /9999, \.\.\.\]\]\n\[qdb: containers in it hold more than 10,000 items/);
    // 10,000 items: whole, with no note.
    assertMatch(run.out, /9998, 9999\]\n/);
    assertEquals(run.out.match(/\[qdb: /g)?.length, 2);
  },
});

Deno.test("first hour 2, item 7: with $USER unset, a client is named by its login, not its id", async () => {
  await using serve = await startServe();
  const tracer = await fakeTracer(serve.tracerUrl, "named");
  await tracer.expect("started");
  // qdb attach --json with an environment that has no USER (nor LOGNAME).
  const env = { PATH: Deno.env.get("PATH") ?? "", HOME: Deno.env.get("HOME") ?? "/" };
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-all",
      QDB_ENTRY,
      "attach",
      "--json",
      "--server",
      serve.clientUrl,
      "named",
    ],
    env,
    clearEnv: true,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  try {
    const joined = await serve.process.line(/client (c\d+) \((.*)\) attached/, "stderr");
    assert(joined[2] !== joined[1], `named by its id: ${joined[0]}`);
    assertMatch(joined[2]!, /^[\w.-]+@[\w.-]+$/);
  } finally {
    await child.stdin.close();
    await child.output();
    tracer.transport.close();
  }
});

Deno.test({
  name:
    "first hour 2, item 9: piped commands are shown after their prompt, as pdb prints its prompt",
  ignore,
  fn: async () => {
    const run = await qdb(["run", "-c", "x = 6 * 7\nprint('end')"], "n\np x\nc\n");
    assertEquals(run.code, 0, run.err);
    assertMatch(run.out, /^\(qdb\) n\n/m);
    assertMatch(run.out, /^\(qdb\) p x\n42\n\(qdb\) c\nend\n/m);
    // `q hard`, then the end of the input: no stray "no longer attached" after it.
    const hard = await qdb(["run", "-c", "import time\ntime.sleep(60)"], "q hard\n");
    assertMatch(hard.out, /debugging ended; the program was ended/);
    assert(!/no longer attached/.test(hard.out + hard.err), hard.out + hard.err);
  },
});

Deno.test({
  name:
    "piped commands after a resume wait for its stop, even when they come while the program runs",
  ignore,
  fn: () =>
    withFiles({
      "gate.py":
        'import os, time\nx = 42\nwhile not os.path.exists("go"):\n    time.sleep(0.01)\n' +
        'print("past the gate")\n',
    }, async (dir) => {
      const child = new Deno.Command(Deno.execPath(), {
        args: ["run", "--allow-all", QDB_ENTRY, "run", "--python", PYTHON!, "gate.py"],
        cwd: dir,
        stdin: "piped",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const stdin = child.stdin.getWriter();
      const write = (text: string) => stdin.write(new TextEncoder().encode(text));
      let out = "";
      const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
      const until = async (pattern: RegExp) => {
        while (!pattern.test(out)) {
          const { value, done } = await reader.read();
          if (done) throw new Error(`ended before ${pattern}: ${out}`);
          out += value;
        }
      };
      const err = new Response(child.stderr).text();
      await write("b 5\nc\n");
      await until(/\(running/);
      // The program runs (it waits for a file): this line is the next stop's, not its input.
      await write("p x\n");
      await Deno.writeTextFile(`${dir}/go`, "");
      await until(/gate\.py\(5\)<module>\(\)/);
      await write("c\n");
      await stdin.close();
      await until(/The program exited|past the gate[\s\S]*$/);
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        out += value;
      }
      const status = await child.status;
      assertEquals(status.code, 0, await err);
      assertMatch(out, /\(qdb\) p x\n42\n/);
    }),
});

Deno.test("first hour 2, item 12: qdb --version says where it runs from", async () => {
  await using version = new QdbProcess(["--version"]);
  await version.exited();
  assertEquals(version.stdoutLines[0], "qdb 0.1.0".replace("0.1.0", VERSION));
  assertEquals(version.stdoutLines[1], `running from ${QDB_ENTRY}, Deno ${Deno.version.deno}`);
});

Deno.test({
  name:
    "first hour 2, item 2: after detach (q soft), the program reads the rest of the input, then its end",
  ignore,
  fn: () =>
    withFiles({ "reader.py": READER }, async (dir) => {
      for (const word of ["detach", "q soft"]) {
        const run = await qdb(["run", "reader.py"], `${word}\nhello\n`, dir);
        assertEquals(run.code, 0, run.err);
        assertMatch(run.out, /^read 6$/m);
      }
    }),
});

Deno.test({
  name: "first hour 2, item 3: q in qdb run ends the program, as in pdb (a loop does not run on)",
  ignore,
  fn: () =>
    withFiles({
      "loop.py": 'import time\nwhile True:\n    print("tick", flush=True)\n    time.sleep(0.01)\n',
    }, async (dir) => {
      const run = await qdb(["run", "loop.py"], "q\n", dir);
      assertEquals(run.code, 0, run.err);
      assertMatch(run.out, /debugging ended; the program was ended/);
      assert(!/^tick$/m.test(run.out), run.out);
    }),
});

Deno.test({
  name: "item 15: output from before anyone attached reaches the first client (run and trace)",
  ignore,
  fn: () =>
    withFiles({
      "early.py": 'import sys\nprint("early bird", flush=True)\nsys.stdin.read()\nprint("late")\n',
    }, async (dir) => {
      const primes = new URL("../examples/primes.py", import.meta.url).pathname;
      const run = await qdb(["run", "--no-stop", primes, "30"], "");
      assertMatch(run.out, /2 3 5 7 11 13 17 19 23 29/);
      await using serve = await startServe();
      await using trace = new QdbProcess([
        "trace",
        "--python",
        PYTHON!,
        "--server",
        serve.tracerUrl,
        "--session",
        "early",
        "--no-stop",
        "--stdin",
        "clients",
        `${dir}/early.py`,
      ]);
      // Once it prints, nobody is attached yet: the server keeps it.
      await trace.line(/^early bird$/);
      const link = await connectWebSocket(`${serve.clientUrl}/early`);
      const c = new Inbox(link);
      link.send({ e: "start", p: {} });
      await c.expect("attached");
      assertEquals((await c.expect("print")).p.output, "early bird\n");
      link.send({ e: "input", p: { eof: true } });
      assertEquals((await c.expect("print")).p.output, "late\n");
      assertEquals((await trace.exited()).code, 0);
      link.close();
      await c.closed();
    }),
});

Deno.test({
  name: "item 13: a hard inactivity timeout is reported as what it is by the tracer",
  ignore,
  async fn() {
    await using serve = await startServe([
      "--inactivity-timeout",
      "0.2",
      "--timeout-disable-mode",
      "hard",
    ]);
    const steps = new URL("../testdata/steps.py", import.meta.url).pathname;
    await using trace = new QdbProcess([
      "trace",
      "--python",
      PYTHON!,
      "--server",
      serve.tracerUrl,
      steps,
    ]);
    const status = await trace.exited();
    assertEquals(status.code, 137);
    assertMatch(trace.text.stderr, /the server ended the session, and the program with it/);
    assert(!/runs on/.test(trace.text.stderr), trace.text.stderr);
  },
});

Deno.test("item 11: qdb attach to a session that does not exist says so and lists the live ones", async () => {
  await using serve = await startServe();
  const t = await fakeTracer(serve.tracerUrl, "backtest-42");
  await t.expect("started");
  const typo = new QdbProcess(["attach", "--server", serve.clientUrl, "backtest-24"]);
  assertEquals((await typo.exited()).code, 1);
  assertEquals(
    typo.text.stderr,
    `qdb attach: no live session "backtest-24" on ${serve.clientUrl}; live sessions: ` +
      "backtest-42. Use --wait to attach and wait for its tracer.\n",
  );
  // With --wait it attaches and waits; q leaves at once (there is nothing to disable).
  const waiting = new QdbProcess(["attach", "--server", serve.clientUrl, "--wait", "later"], {
    stdin: "q\n",
  });
  assertEquals((await waiting.exited()).code, 0);
  assertMatch(waiting.text.stdout, /waiting for its tracer/);
  assertMatch(waiting.text.stdout, /left the session \(it has no tracer\)/);
  t.transport.close();
  await t.closed();
});

Deno.test("item 16: small messages say what is wrong and what to do", async () => {
  const run = async (args: string[]) => {
    const p = new QdbProcess(args);
    const status = await p.exited();
    return { code: status.code, out: p.text.stdout, err: p.text.stderr };
  };
  // `qdb` alone: usage, and a failure.
  const bare = await run([]);
  assertEquals(bare.code, 2);
  assertMatch(bare.err, /Usage: qdb COMMAND/);
  // A negative port is explained, not "ambiguous".
  const negative = await run(["serve", "--tracer-port", "-1"]);
  assertEquals(negative.code, 2);
  assertMatch(
    negative.err,
    /--tracer-port -1: a value starting with "-" must be written --tracer-port=-1/,
  );
  // The tracer address given to a client.
  const tcp = await run(["attach", "--server", "tcp://127.0.0.1:8001", "x"]);
  assertEquals(tcp.code, 1);
  assertMatch(
    tcp.err,
    /tcp:\/\/127\.0\.0\.1:8001 is a tracer address; clients connect .* ws:\/\/127\.0\.0\.1:8002/,
  );
  // A port in use is named.
  await using serve = await startServe();
  const port = new URL(serve.clientUrl.replace("ws:", "http:")).port;
  const twice = await run(["serve", "--client-port", port, "--tracer-port", "0"]);
  assertEquals(twice.code, 1);
  assertMatch(twice.err, new RegExp(`client port ${port} on 127\\.0\\.0\\.1 is already in use`));
  // A bad token: the same words from attach and sessions.
  await using guarded = await startServe(["--token", "right"]);
  const attach = await run([
    "attach",
    "--server",
    guarded.clientUrl,
    "--token",
    "wrong",
    "--wait",
    "s",
  ]);
  const sessions = await run(["sessions", "--server", guarded.clientUrl, "--token", "wrong"]);
  for (const r of [attach, sessions]) {
    assertEquals(r.code, 1);
    assertMatch(r.err, /refused: Authentication failed \(give the right --token\)/);
  }
  // Not a python: one line, no bootstrap script.
  const ls = await run(["run", "--python", "/bin/ls", "--no-stop", "-c", "pass"]);
  assertEquals(ls.code, 1);
  assertEquals(
    ls.err,
    "qdb run: /bin/ls is not a Python interpreter (it exited with code 2); use --python PATH to a python3\n",
  );
  // sessions --json ends its output with a newline.
  const json = await run(["sessions", "--server", serve.clientUrl, "--json"]);
  assert(json.out.endsWith("}\n"), JSON.stringify(json.out));
});

Deno.test({
  name: "items 6 and 16: qdb trace reports a bad --break, and its hint names the client address",
  ignore,
  fn: () =>
    withFiles({ "wait.py": "import sys\nsys.stdin.read()\n" }, async (dir) => {
      await using serve = await startServe();
      await using trace = new QdbProcess([
        "trace",
        "--python",
        PYTHON!,
        "--server",
        serve.tracerUrl,
        "--session",
        "hinted",
        "--stdin",
        "clients",
        "-b",
        "nosuchfunc",
        `${dir}/wait.py`,
      ]);
      const [hint] = await trace.line(/attach with: .*/, "stderr");
      assertEquals(hint, `attach with: qdb attach --server ${serve.clientUrl} hinted`);
      // Item 6: a bad --break is said where the tracer runs, before anyone attaches.
      await trace.line(/^qdb trace: --break: Cannot set breakpoint on "nosuchfunc"/, "stderr");
    }),
});

Deno.test({
  name: "item 7: b Class.method looks the name up in the selected frame's globals, as pdb",
  ignore,
  fn: () =>
    withFiles({
      "main.py": "import helper\nhelper.run()\n",
      "helper.py":
        "class K:\n    def m(self):\n        return 1\n\n\ndef run():\n    k = K()\n    return k.m()\n",
    }, async (dir) => {
      const run = await qdb(["run", `${dir}/main.py`], "b helper.run\nc\nb K.m\nc\nc\n", dir);
      assertEquals(run.code, 0);
      assertMatch(run.out, /Breakpoint 2 at helper\.py:3 {2}\(in K\.m\)/);
      assertMatch(run.out, /> helper\.py\(3\)m\(\)/);
    }),
});

Deno.test({
  name: "item 6: every bad --break is reported before the program runs; --break takes a condition",
  ignore,
  fn: () =>
    withFiles({ "aio.py": "for i in range(3):\n    x = i * 2\nprint('done')\n" }, async (dir) => {
      const run = await qdb(
        [
          "run",
          "-b",
          "aio.py:2, i == 1",
          "-b",
          "nosuchfunc",
          "-b",
          "aio.py:999",
          "-b",
          "0",
          "-b",
          "foo.py:3",
          "aio.py",
        ],
        "c\np i\nc\n",
        dir,
      );
      assertEquals(run.code, 0);
      for (
        const said of [
          /Cannot set breakpoint on "nosuchfunc": no function of that name/,
          /Cannot set breakpoint at "aio\.py:999": the file has only 3 lines/,
          /line must be an integer >= 1/,
          /Cannot set breakpoint at "foo\.py:3": no such file/,
        ]
      ) assertMatch(run.out, said);
      assertMatch(run.out, /Breakpoint 1 at aio\.py:2 {2}\(condition: i == 1\)/);
      // The condition holds once: the first stop after entry is at i == 1.
      assertMatch(run.out, /aio\.py\(2\)<module>\(\)[\s\S]*?\n1\n/);
      // Reported before the entry stop is shown, and so is the breakpoint that was set.
      assert(run.out.indexOf("nosuchfunc") < run.out.indexOf("aio.py(1)<module>()"));
      assert(run.out.indexOf("Breakpoint 1 at") < run.out.indexOf("aio.py(1)<module>()"));
    }),
});

Deno.test({
  name: "item 1: a program that dies before the tracer connects ends qdb run with why",
  ignore,
  fn: () =>
    withFiles(
      { "shim": '#!/usr/bin/env bash\nexec python3 "$@"\n', "ok.py": "print(1)\n" },
      async (dir) => {
        // No such interpreter.
        const none = await qdb(["run", "--python", "no-such-python3", `${dir}/ok.py`], "");
        assertEquals(none.code, 1);
        assertMatch(
          none.err,
          /"no-such-python3": not found \(install Python 3\.8 or newer, or name one with --python PATH\)/,
        );
        // An interpreter that dies at once.
        const dead = await qdb(["run", "--python", "/bin/false", `${dir}/ok.py`], "");
        assertEquals(dead.code, 1);
        assertMatch(
          dead.err,
          /^qdb run: \/bin\/false exited \(code 1\) before the qdb bridge connected/,
        );
        // A shell script (a pyenv shim) given as the program: Python says what it thinks of it.
        const shim = await qdb(["run", `${dir}/shim`], "");
        assertEquals(shim.code, 1);
        assertMatch(shim.out + shim.err, /SyntaxError/);
      },
    ),
});

Deno.test({
  name: "item 3: qdb run stopped at a prompt ends on SIGTERM, with the program's status",
  ignore,
  async fn() {
    const steps = new URL("../testdata/steps.py", import.meta.url).pathname;
    await using run = new QdbProcess(["run", "--python", PYTHON!, steps], { holdStdin: true });
    await run.line(/steps\.py\(1\)<module>\(\)/);
    run.kill("SIGTERM");
    const status = await run.exited();
    assertEquals(status.code, 143);
    assertMatch(run.text.stdout, /The program was ended by SIGTERM/);
  },
});

const CALLS =
  'def f(x):\n    y = x * 2\n    return y\n\n\nfor i in range(3):\n    f(i)\nprint("done")\n';

Deno.test({
  name:
    "first hour 2, item 10: commands (silent), alias and unalias, whatis, source, retval, interact",
  ignore,
  fn: () =>
    withFiles({ "calls.py": CALLS }, async (dir) => {
      // A breakpoint's commands run at each of its stops; `silent` hides where.
      let run = await qdb(
        ["run", "calls.py"],
        'b 2\ncommands 1\nsilent\np "x is", x\nc\nend\nc\n',
        dir,
      );
      assertEquals(run.code, 0, run.err);
      for (const n of [0, 1, 2]) assertMatch(run.out, new RegExp(`^\\('x is', ${n}\\)$`, "m"));
      assert(!/calls\.py\(2\)f\(\)/.test(run.out), run.out);
      assertMatch(run.out, /^done$/m);
      run = await qdb(
        ["run", "calls.py"],
        [
          "b f",
          "c",
          "whatis x",
          "source f",
          "retval",
          "r",
          "retval",
          'alias px p "px:", %1',
          "alias",
          "px y",
          "unalias px",
          "px y",
          "interact",
          "z = y + 40",
          "print(z)",
          "exit()",
          "p z",
          "q",
        ].join("\n") + "\n",
        dir,
      );
      assertEquals(run.code, 0, run.err);
      assertMatch(run.out, /^<class 'int'>$/m);
      assertMatch(run.out, /^def f\(x\):\n {4}y = x \* 2\n {4}return y$/m);
      assertMatch(run.out, /^\*\*\* Not yet returned!$/m);
      assertMatch(run.out, /--Return-- 0\n[\s\S]*\(qdb\) retval\n0$/m);
      assertMatch(run.out, /^px = p "px:", %1$/m);
      assertMatch(run.out, /^\('px:', 0\)$/m);
      // Unaliased, `px y` is Python again (as in pdb).
      assertMatch(run.out, /\(qdb\) px y\n\*\*\* SyntaxError/);
      // interact: Python lines in the frame at a >>> prompt, until exit().
      assertMatch(
        run.out,
        />>> print\(z\)\n40\n>>> exit\(\)\n\*exit from the interactive console\*/,
      );
      assertMatch(run.out, /\(qdb\) p z\n40\n/);
    }),
});

Deno.test({
  name: "first hour 2, item 10: jump skips lines and goes back, and says what it cannot do",
  ignore,
  fn: () =>
    withFiles({ "calls.py": CALLS }, async (dir) => {
      const run = await qdb(
        ["run", "calls.py"],
        [
          "p None",
          "b 2",
          "c",
          "j 3",
          "p y",
          "j 2",
          "n",
          "p y",
          "up",
          "j 7",
          "down",
          "j 8",
          "c",
          "c",
          "c",
        ]
          .join("\n") + "\n",
        dir,
      );
      assertEquals(run.code, 0, run.err);
      // pdb's `p` prints the repr of None too (the REPL's echo would not).
      assertMatch(run.out, /\(qdb\) p None\nNone\n/);
      // Line 2 skipped: y is not set yet (3.13 makes it None, and says so).
      // Python 3.13 warns of the locals the jump left unbound (as pdb, before the new place).
      assertMatch(
        run.out,
        /\(qdb\) j 3\n(\*\*\* Warning: assigning None to 1 unbound local\n)?> .*calls\.py\(3\)f\(\)\n/,
      );
      assertMatch(
        run.out,
        /\(qdb\) p y\n(\*\*\* NameError|None\n)/,
      );
      assert(!/RuntimeWarning/.test(run.out + run.err), run.out + run.err);
      assertEquals(/\(qdb\) p y\nNone\n/.test(run.out), /\*\*\* Warning/.test(run.out));
      // Back to line 2: it runs.
      assertMatch(run.out, /\(qdb\) j 2\n> .*calls\.py\(2\)f\(\)[\s\S]*\(qdb\) p y\n0\n/);
      assertMatch(run.out, /\(qdb\) j 7\n\*\*\* You can only jump within the newest frame/);
      assertMatch(run.out, /\(qdb\) j 8\n\*\*\* Cannot jump to line 8: /);
      assertMatch(run.out, /^done$/m);
    }),
});

const ARGS = 'import sys\nprint("args", sys.argv[1:])\nn = len(sys.argv)\nprint("end", n)\n';

Deno.test({
  name: "first hour 2, item 10: restart and run start the program again, keeping what was set",
  ignore,
  fn: () =>
    withFiles({ "args.py": ARGS }, async (dir) => {
      const run = await qdb(
        ["run", "args.py", "one"],
        [
          "b 4, n > 1",
          "commands 1",
          'p "at 4", n',
          "end",
          "alias pn p n * 10",
          "c",
          'restart a "b c"',
          "c",
          "pn",
          "run",
          "c",
          "b",
          "c",
        ].join("\n") + "\n",
        dir,
      );
      assertEquals(run.code, 0, run.err);
      // pdb's words, the arguments split as a shell would.
      assertMatch(
        run.out,
        /\(qdb\) restart a "b c"\nRestarting .*args\.py with arguments:\n\ta b c\n/,
      );
      assertMatch(run.out, /^args \['one'\]$/m);
      // The breakpoint (with its condition and commands) and the alias hold in the next runs;
      // `run` without arguments keeps the last ones.
      assertEquals(run.out.match(/^args \['a', 'b c'\]$/gm)?.length, 2, run.out);
      assertEquals(run.out.match(/^\('at 4', 3\)$/gm)?.length, 2, run.out);
      assertMatch(run.out, /\(qdb\) pn\n30\n/);
      assertMatch(
        run.out,
        /1 {3}breakpoint {3}keep yes {3}at .*args\.py:4\n\tstop only if n > 1\n/,
      );
      // With piped input, the program's end ends qdb run (with its exit code).
      assertMatch(run.out, /^end 3\nThe program exited with code 0\n/m);
      assert(!/will be restarted/.test(run.out), run.out);
    }),
});

const SQUARE = "def sq(n):\n    m = n * n\n    return m\n\n\nx = 3\nprint(sq(x))\n";

onEveryPython(
  "first hour 2, item 10: debug CODE steps through code under a debugger of its own, nested",
  (python) =>
    withFiles({ "sq.py": SQUARE }, async (dir) => {
      const process = new QdbProcess(["run", "--python", python.path, "sq.py"], {
        cwd: dir,
        stdin: [
          "until 7",
          "debug sq(x + 1)",
          "s",
          "n",
          "p m",
          "debug 1/0",
          "where",
          "c",
          "c",
          "p x",
          "debug sq(",
          "until 1",
          "p x + 1",
          "debug sq(2)",
          "q",
        ].join("\n") + "\n",
      });
      const status = await process.exited();
      const out = process.text.stdout;
      assertEquals(status.code, 0, process.text.stderr);
      // Entered: stopped at the code's first line, with pdb's nested prompt.
      assertMatch(
        out,
        /\(qdb\) debug sq\(x \+ 1\)\nENTERING RECURSIVE DEBUGGER\n> <debug>\(1\)<module>\(\)\n -> {3}1 sq\(x \+ 1\)\n/,
      );
      // Stepped into the call: its own values.
      assertMatch(out, /\(\(qdb\)\) s\n> .*sq\.py\(2\)sq\(\)/);
      assertMatch(out, /\(\(qdb\)\) p m\n16\n/);
      // Nested once more, its stack under the first's; what the code raised is said.
      assertMatch(
        out,
        /\(\(\(qdb\)\)\) where\n {2}sq\.py\(7\)<module>\(\)\n {2}-> print\(sq\(x\)\)\n {2}<debug>\(1\)<module>\(\)\n {2}-> sq\(x \+ 1\)\n {2}sq\.py\(3\)sq\(\)\n {2}-> return m\n> <debug 2>\(1\)<module>\(\)\n {2}-> 1\/0\n/,
      );
      assertMatch(
        out,
        /\(\(\(qdb\)\)\) c\n\*\*\* ZeroDivisionError: division by zero\nLEAVING RECURSIVE DEBUGGER\n> .*sq\.py\(3\)sq\(\)/,
      );
      // Back in the program's own stop, which never moved.
      assertMatch(
        out,
        /\(\(qdb\)\) c\nLEAVING RECURSIVE DEBUGGER\n> .*sq\.py\(7\)<module>\(\)[\s\S]*\(qdb\) p x\n3\n/,
      );
      assertMatch(out, /\(qdb\) debug sq\(\n\*\*\* SyntaxError/);
      // A refused resume leaves the program stopped, and the next line is a command.
      assertMatch(
        out,
        /\(qdb\) until 1\n\*\*\* "until" line 1 is not after [^\n]*\n\(qdb\) p x \+ 1\n4\n/,
      );
      // `q` inside it ends the program, as at any stop of qdb run.
      assertMatch(out, /\(\(qdb\)\) q\n/);
      assert(!/^9$/m.test(out), out);
    }),
);
