// Screen text is matched column for column, so the patterns hold runs of spaces on purpose.
// deno-lint-ignore-file no-regex-spaces
// The terminal client driven like a person would: in tmux, typing keys and reading the screen,
// through `qdb run` and `qdb attach` on a real Python program.
import { assert, assertMatch } from "./support/assert.ts";
import { QDB_ENTRY, QdbProcess, startServe } from "./support/processes.ts";
import { findPythons } from "./support/pythons.ts";
import { TMUX_MISSING, TmuxTerminal } from "./support/tmux.ts";

const DEMO = new URL("../testdata/tty_demo.py", import.meta.url).pathname;
// The newest CPython found, so these tests do not depend on what `python3` is on the PATH.
const PYTHON = (await findPythons()).at(-1)?.path ?? "python3";
const ignore = TMUX_MISSING !== undefined;
if (ignore) console.log(`terminal tests skipped: ${TMUX_MISSING}`);

async function qdb(args: string[], env: Record<string, string> = {}) {
  // A history file of its own, unless the test shares one between runs.
  const history = env.QDB_HISTORY ?? await Deno.makeTempFile({ prefix: "qdb-history-" });
  const [command, ...rest] = args;
  const full = command === "run" || command === "trace"
    ? [command, "--python", PYTHON, ...rest]
    : args;
  return await TmuxTerminal.start([Deno.execPath(), "run", "--allow-all", QDB_ENTRY, ...full], {
    env: {
      NO_COLOR: "1",
      QDB_HISTORY: history,
      USER: "ana",
      ...(Deno.env.get("QDB_LOG_MESSAGES")
        ? { QDB_LOG_MESSAGES: Deno.env.get("QDB_LOG_MESSAGES")! }
        : {}),
      ...env,
    },
    removeOnClose: env.QDB_HISTORY ? [] : [history],
  });
}

const PROMPT = /\(qdb\)$/;

/** Types a command and waits for the prompt after its output. */
async function command(t: TmuxTerminal, line: string): Promise<string> {
  const before = (await t.screen()).length;
  await t.line(line);
  const { text } = await t.waitFor(PROMPT, before);
  return text.slice(before);
}

Deno.test({
  name: "qdb run: break, continue, step in and over, p, pp, display, up/down, input, quit",
  ignore,
  async fn() {
    await using t = await qdb(["run", DEMO]);
    const start = await t.waitFor(PROMPT);
    assertMatch(
      start.text,
      /qdb: session \S+ at ws:\/\/127\.0\.0\.1:\d+ \(others can `qdb attach --server \S+ --token [0-9a-f]{32} /,
    );
    assertMatch(start.text, /> .*tty_demo\.py\(1\)<module>\(\)\n ->   1 import sys/);
    assertMatch(await command(t, "b square"), /Breakpoint 1 at .*tty_demo\.py:5  \(in square\)/);
    let out = await command(t, "c");
    assertMatch(out, /> .*tty_demo\.py\(5\)square\(\)\n.*\nB->   5     y = x \* x/);
    out = await command(t, "p x");
    assertMatch(out, /^ p x\n0\n/);
    // Issue 9 item 8: `l .` lists around the current line (it is not Python).
    assertMatch(await command(t, "l ."), /B->   5     y = x \* x/);
    out = await command(t, "display x * 10");
    assertMatch(out, /display x \* 10: 0/);
    out = await command(t, "n");
    assertMatch(out, /-> +6 +return y/);
    // Unchanged: not shown again (pdb shows a display only when its value changed).
    assert(!out.includes("display"), out);
    out = await command(t, "u");
    assertMatch(out, /> .*tty_demo\.py\(18\)main\(\)/);
    out = await command(t, "p total, i");
    assertMatch(out, /\(0, 0\)/);
    out = await command(t, "d");
    assertMatch(out, /square\(\)/);
    await command(t, "cl 1");
    // Off the end of square (pdb's --Return--), back in main, then step into the next call.
    assertMatch(await command(t, "n"), /--Return-- 0\n> .*tty_demo\.py\(6\)square\(\)/);
    // Issue 9 item 9: in main, the display of square's x is not evaluated into a NameError.
    out = await command(t, "n");
    assertMatch(out, /> .*tty_demo\.py\(17\)main\(\)/);
    assert(!out.includes("display"), out);
    assertMatch(await command(t, "s"), /> .*tty_demo\.py\(18\)main\(\)/);
    out = await command(t, "s");
    assertMatch(out, /> .*tty_demo\.py\(5\)square\(\)/);
    assertMatch(out, /display x \* 10: 10  \[old: 0\]\n/);
    assertMatch(await command(t, "b 1"), /Breakpoint 2 at .*tty_demo\.py:1/);
    await t.line("c");
    // Past the loop, the program asks for input: typed lines go to the program.
    await t.waitFor(/your name\?$/);
    await t.line("Ada");
    await t.waitFor(/hello Ada/);
    const end = await t.waitFor(/The program exited with code 0/);
    assertMatch(end.text, /total is 14/);
    // First hour 2, item 10: as pdb, it starts again at its end, with its breakpoints.
    await t.waitFor(
      /The program finished and will be restarted\n[\s\S]*tty_demo\.py\(1\)<module>\(\)[\s\S]*\(qdb\)$/,
    );
    assertMatch(await command(t, "b"), /1   breakpoint   keep yes   at .*tty_demo\.py:1\n/);
    await t.line("q");
    await t.waitFor(/\[exit 0\]/);
  },
});

Deno.test({
  name: "qdb run: Ctrl-C pauses a busy loop; pp and locals; q ends the program, as pdb's",
  ignore,
  async fn() {
    await using t = await qdb(["run", DEMO, "--spin"]);
    await t.waitFor(PROMPT);
    await t.line("c");
    await t.waitFor(/total is 14/);
    await t.keys("C-c");
    const paused = await t.waitFor(/> .*tty_demo\.py\(1[12]\)spin\(\)[\s\S]*\(qdb\)$/);
    assertMatch(paused.text, /Pausing the program/);
    let out = await command(t, "u");
    assertMatch(out, /main\(\)/);
    out = await command(t, "pp data");
    assertMatch(out, /\{'items': \[0,\n +1,/);
    out = await command(t, "locals");
    assertMatch(out, /total = 14/);
    // First hour 2, item 3: as in pdb, `q` ends the program (and the exit code is qdb's 0).
    await t.line("q");
    await t.waitFor(/debugging ended; the program was ended\n\[exit 0\]/);
  },
});

Deno.test({
  name: "qdb run: an uncaught exception stops post-mortem; quit soft lets it end as Python would",
  ignore,
  async fn() {
    await using t = await qdb(["run", DEMO, "--crash"]);
    await t.waitFor(PROMPT);
    const out = await command(t, "c");
    assertMatch(out, /ZeroDivisionError: division by zero/);
    assertMatch(out, /Uncaught exception\. Entering post mortem debugging/);
    assertMatch(out, /> .*tty_demo\.py\(24\)main\(\)/);
    assertMatch(await command(t, "p total"), /14/);
    await t.line("c");
    await t.waitFor(/The program exited with code 1/);
    await t.waitFor(/The program finished and will be restarted[\s\S]*\(qdb\)$/);
    await t.line("q");
    await t.waitFor(/\[exit 0\]/);
  },
});

Deno.test({
  name: "two clients on one session see each other's commands",
  ignore,
  async fn() {
    await using a = await qdb(["run", DEMO]);
    const started = await a.waitFor(/qdb attach --server (ws:\/\/\S+) --token (\S+) (\S+)`/);
    const [, url, token, session] = started.match;
    await a.waitFor(PROMPT);
    // qdb run's session is not open to other local users: attaching needs its token.
    {
      await using intruder = await qdb(["attach", "--server", url!, session!], { USER: "eve" });
      await intruder.waitFor(/Authentication failed|valid --token/);
    }
    // Without a session id: with one session live, attach picks it.
    await using b = await qdb(["attach", "--server", url!, "--token", token!], { USER: "bo" });
    await b.waitFor(new RegExp(`1 live session: +${session} +.*tty_demo\\.py`));
    await b.waitFor(/Attached to session/);
    await a.waitFor(/\[bo joined\]/);
    await b.line("p 6 * 7");
    await b.waitFor(/42/);
    // First hour 2, item 7: the value of another's `p` is said as theirs too.
    await a.waitFor(/\[bo\] p 6 \* 7\n\[bo\] 42/);
    await a.line("n");
    await b.waitFor(/\[ana\] next/);
    await b.waitFor(/> .*tty_demo\.py\(4\)<module>\(\)/);
    await b.line("detach");
    await a.waitFor(/\[bo left\]/);
    await a.line("q hard");
    await a.waitFor(/\[exit/);
  },
});

Deno.test({
  name: "completion of commands, names in the frame and files; history across runs; Ctrl-D",
  ignore,
  async fn() {
    const history = await Deno.makeTempFile({ prefix: "qdb-history-" });
    using _cleanup = { [Symbol.dispose]: () => Deno.removeSync(history) };
    {
      await using t = await qdb(["run", DEMO], { QDB_HISTORY: history });
      await t.waitFor(PROMPT);
      await command(t, "b square");
      await command(t, "c");
      // A command name, then a name in the live frame, then an attribute.
      await t.type("disp");
      await t.keys("Tab");
      await t.waitFor(/\(qdb\) display$/);
      await t.type("squ");
      await t.keys("Tab");
      await t.waitFor(/\(qdb\) display square\($/);
      await t.keys("C-u");
      // Tab completes what all candidates share; Tab again lists them.
      await t.type("p sys.ver");
      await t.keys("Tab");
      await t.waitFor(/\(qdb\) p sys\.version$/);
      await t.keys("Tab");
      await t.waitFor(/sys\.version +sys\.version_info/);
      await t.keys("C-u");
      // File names for break: files the session showed, by name, and paths from here.
      await t.type("b tty_d");
      await t.keys("Tab");
      await t.waitFor(/\(qdb\) b tty_demo\.py:$/);
      await t.keys("C-u");
      await t.type("b testdata/stdi");
      await t.keys("Tab");
      await t.waitFor(/\(qdb\) b testdata\/stdin_echo\.py:$/);
      await t.keys("C-u");
      await command(t, "p x + 100");
      // `detach` (q soft) lets the program run on in the foreground, reading what is typed.
      await t.line("detach");
      await t.waitFor(
        /debugging ended; the program runs on without qdb\ntotal is 14\nyour name\?$/,
      );
      await t.line("Zed");
      await t.waitFor(/hello Zed\n\[exit 0\]/);
    }
    // The history file remembers the commands; Up brings them back in a new session.
    assertMatch(await Deno.readTextFile(history), /b square\nc\np x \+ 100\n/);
    await using t = await qdb(["run", DEMO], { QDB_HISTORY: history });
    await t.waitFor(PROMPT);
    await t.keys("Up");
    await t.waitFor(/\(qdb\) detach$/);
    await t.keys("Up");
    await t.waitFor(/\(qdb\) p x \+ 100$/);
    await t.keys("C-u");
    // Ctrl-D at the prompt ends the program, as in pdb.
    await t.keys("C-d");
    await t.waitFor(/debugging ended; the program was ended\n\[exit 0\]/);
  },
});

Deno.test({
  name: "qdb attach: losing the server says why and exits non-zero",
  ignore,
  async fn() {
    await using serve = await startServe();
    await using tracer = new QdbProcess([
      "trace",
      "--python",
      PYTHON,
      "--server",
      serve.tracerUrl,
      "--session",
      "lost",
      "--",
      DEMO,
    ]);
    await tracer.line(/is session lost/, "stderr");
    await using t = await qdb(["attach", "--server", serve.clientUrl, "--reconnect", "1", "lost"]);
    await t.waitFor(PROMPT);
    serve.process.kill("SIGKILL");
    await t.waitFor(/qdb: lost the server \(.*\); reconnecting for up to 1 s/);
    await t.waitFor(/qdb: gave up reconnecting: the server did not come back in 1 s/);
    await t.waitFor(/\[exit 1\]/);
  },
});

Deno.test({
  name:
    "issue 9 item 4: while the program reads, typed lines are its input and Ctrl-D its end of file",
  ignore,
  async fn() {
    const reader = await Deno.makeTempFile({ suffix: ".py" });
    await Deno.writeTextFile(
      reader,
      'import sys\ndata = sys.stdin.read()\nprint("read", len(data))\n',
    );
    try {
      await using t = await qdb(["run", reader]);
      await t.waitFor(PROMPT);
      await t.line("c");
      await t.waitFor(/other lines go to the program\)/);
      await t.line("hello");
      // First hour 2, item 4: a line that reads as a qdb command went to the program: said so.
      await t.line("children");
      await t.waitFor(
        /\("children" went to the program's input, as it runs; ":children" is qdb's\)/,
      );
      // A qdb command while it runs, without pausing it.
      await t.line(":b 3");
      await t.waitFor(/Breakpoint 1 at .*:3/);
      await t.keys("C-d");
      await t.waitFor(/B->   3 print\("read", len\(data\)\)/);
      await t.line("p len(data)");
      await t.waitFor(/^15$/m);
      await t.line("c");
      await t.waitFor(/read 15/);
      await t.waitFor(/The program finished and will be restarted[\s\S]*\(qdb\)$/);
      await t.keys("C-d");
      await t.waitFor(/\[exit 0\]/);
    } finally {
      await Deno.remove(reader);
    }
  },
});
