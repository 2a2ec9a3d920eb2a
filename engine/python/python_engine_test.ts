// Launch behaviour of the Python engine: interpreter problems, the program's view of its
// environment, and cleanup (dispose, abort).
import {
  assert,
  assertEquals,
  assertRejects,
  assertStringIncludes,
} from "../../tests/support/assert.ts";
import { HANG_GUARD_MS } from "../../tests/support/inbox.ts";
import { findPythons } from "../../tests/support/pythons.ts";
import type { Message } from "../../protocol/envelope.ts";
import { encodeFrame, FrameDecoder } from "../../protocol/framing.ts";
import {
  PYTHON_BRIDGE_FILES,
  PYTHON_BRIDGE_SOURCE,
  PythonEngine,
  pythonEngine,
} from "./python_engine.ts";

const TESTDATA = new URL("../../testdata/", import.meta.url).pathname;
const pythons = await findPythons();
const newest = pythons.at(-1);

async function collect(events: AsyncIterable<Message>): Promise<Message[]> {
  const out: Message[] = [];
  for await (const msg of events) out.push(msg);
  return out;
}

function output(events: Message[], stream: string): string {
  return events
    .filter((m) => m.e === "print" && (m.p as { input: string }).input === stream)
    .map((m) => (m.p as { output: string }).output)
    .join("");
}

Deno.test("the bridge source is embedded", () => {
  assert(PYTHON_BRIDGE_SOURCE.startsWith('"""qdb bridge'));
  assertStringIncludes(PYTHON_BRIDGE_SOURCE, "def _main():");
});

Deno.test("a missing interpreter is reported by name", async () => {
  await assertRejects(
    () => pythonEngine.launch({ program: "x.py", interpreter: "/nonexistent/python3" }),
    Error,
    'qdb cannot run the Python interpreter "/nonexistent/python3": not found',
  );
});

Deno.test("a Python older than 3.8 is refused with its version", async (t) => {
  const root = Deno.env.get("PYENV_ROOT") ?? `${Deno.env.get("HOME")}/.pyenv`;
  let old: string | undefined;
  try {
    for await (const entry of Deno.readDir(`${root}/versions`)) {
      if (/^3\.[0-7]\./.test(entry.name)) old = `${root}/versions/${entry.name}/bin/python3`;
    }
  } catch {
    // No pyenv.
  }
  if (!old) {
    console.warn("skip: no Python older than 3.8 to test with");
    return;
  }
  const version = old.split("/versions/")[1]!.split("/")[0]!;
  await t.step(version, async () => {
    await assertRejects(
      () => pythonEngine.launch({ program: `${TESTDATA}steps.py`, interpreter: old }),
      Error,
      `qdb needs Python 3.8 or newer; ${old} is ${version}`,
    );
  });
});

Deno.test({
  name: "the program sees what `python app.py` would show it",
  ignore: !newest,
  async fn() {
    for (const python of pythons) {
      const plain = await new Deno.Command(python.path, {
        args: ["introspect.py", "a b", "c"],
        cwd: TESTDATA,
        stdout: "piped",
      }).output();
      const expected = JSON.parse(new TextDecoder().decode(plain.stdout));
      await using session = await pythonEngine.launch({
        program: "introspect.py",
        args: ["a b", "c"],
        cwd: TESTDATA,
        interpreter: python.path,
        stopOnEntry: false,
      });
      assertEquals(session.info.engine, "python");
      assertEquals(session.info.argv, ["introspect.py", "a b", "c"]);
      assertEquals(session.info.runtime, `CPython ${python.version}`);
      assertEquals(session.info.cwd, TESTDATA);
      assert(session.info.capabilities.includes("pause"));
      const events = await collect(session.events);
      const got = JSON.parse(output(events, "<stdout>"));
      assertEquals(got.bridge_env, null);
      assertEquals(got.qdb_module, true);
      assertEquals(got.breakpointhook, "qdb");
      for (const key of ["argv", "path0", "name", "file", "main_file", "spec"]) {
        assertEquals(got[key], expected[key], `${key} on ${python.version}`);
      }
      assertEquals(events.at(-2), { e: "exited", p: { code: 0 } });
      assertEquals(events.at(-1)?.e, "disabled");
    }
  },
});

Deno.test({
  name: "a program that cannot be opened ends as python's would",
  ignore: !newest,
  async fn() {
    const plain = await new Deno.Command(newest!.path, {
      args: ["no_such_program.py"],
      cwd: TESTDATA,
      stderr: "piped",
    }).output();
    await using session = await pythonEngine.launch({
      program: "no_such_program.py",
      cwd: TESTDATA,
      interpreter: newest!.path,
    });
    const events = await collect(session.events);
    assertEquals((await session.exited).code, plain.code);
    assertStringIncludes(output(events, "<stderr>"), "can't open file");
    assertStringIncludes(output(events, "<stderr>"), "No such file or directory");
  },
});

Deno.test({
  name: "dispose ends a running program and is idempotent; abort disposes",
  ignore: !newest,
  async fn() {
    const session = await pythonEngine.launch({
      program: `${TESTDATA}spin.py`,
      args: ["sleep"],
      interpreter: newest!.path,
      stopOnEntry: false,
    });
    const events = collect(session.events);
    await Promise.all([session.dispose(), session.dispose()]);
    const status = await session.exited;
    assertEquals(status.code, null);
    assertEquals(status.signal, "SIGTERM");
    const all = await events;
    assertEquals(all.at(-2), { e: "exited", p: { code: null, signal: "SIGTERM" } });
    await session.dispose();

    const controller = new AbortController();
    const aborted = await pythonEngine.launch({
      program: `${TESTDATA}spin.py`,
      args: ["loop"],
      interpreter: newest!.path,
      stopOnEntry: false,
      signal: controller.signal,
    });
    controller.abort();
    assertEquals((await aborted.exited).signal, "SIGTERM");
    await aborted.dispose();
  },
});

Deno.test({
  name: "a command that comes with the capture answer, in one write, is answered at once",
  ignore: !newest,
  async fn() {
    // The engine's own side of the bridge channel, played by the test so that the order is
    // certain: a client's `start` (forwarded before the engine said `captured`) and `captured`
    // reach the bridge together. The program then waits on its input, so nothing else comes.
    const dir = await Deno.makeTempDir({ prefix: "qdb-channel-" });
    await using _dir = { [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }) };
    for (const [name, text] of Object.entries(PYTHON_BRIDGE_FILES)) {
      await Deno.writeTextFile(`${dir}/${name}`, text);
    }
    await Deno.writeTextFile(`${dir}/reader.py`, "import sys\nsys.stdin.read()\n");
    using listener = Deno.listen({ transport: "unix", path: `${dir}/bridge.sock` });
    const config = {
      channel: `${dir}/bridge.sock`,
      token: "t",
      stop_on_entry: false,
      run: "file",
      eval_policy: "full",
      eval_timeout: 0,
      breakpoints: [],
      break_on: "uncaught",
      skip: [],
    };
    const child = new Deno.Command(newest!.path, {
      args: [
        "-c",
        "import sys; sys.path.insert(0, sys.argv.pop(1)); import qdb; qdb._main()",
        dir,
        `${dir}/reader.py`,
      ],
      env: { QDB_BRIDGE: JSON.stringify(config) },
      stdin: "piped",
      stdout: "null",
      stderr: "null",
    }).spawn();
    const conn = await listener.accept();
    const decoder = new FrameDecoder();
    const seen: string[] = [];
    let answered = false;
    // Without the fix the start is never answered: the hang guard (not a speed limit) ends the
    // wait so that the test fails instead of hanging.
    const guard = setTimeout(() => conn.close(), HANG_GUARD_MS);
    try {
      for await (const chunk of conn.readable) {
        for (const item of decoder.push(chunk)) {
          if (!("message" in item)) continue;
          const msg = item.message;
          seen.push(msg.id === undefined ? msg.e : `${msg.e}#${msg.id}`);
          if (msg.e === "capture") {
            const start = encodeFrame({ e: "start", p: { client: "c1" }, id: 1 });
            const captured = encodeFrame({ e: "captured" });
            const both = new Uint8Array(start.length + captured.length);
            both.set(start);
            both.set(captured, start.length);
            await conn.write(both);
          }
          if (msg.e === "running" && msg.id === 1) answered = true;
        }
        if (answered) break;
      }
    } catch {
      // Closed by the guard.
    } finally {
      clearTimeout(guard);
      child.kill();
      await child.status;
      try {
        conn.close();
      } catch { /* closed already */ }
    }
    assert(answered, `no answer to start; the bridge sent: ${seen.join(", ")}`);
  },
});

Deno.test({
  name: "a bridge slow to connect is waited for (with a notice), not given up on",
  ignore: !newest,
  async fn() {
    // An interpreter that takes a while to start, as on a machine starting hundreds at once.
    const dir = await Deno.makeTempDir();
    const slow = `${dir}/slow-python`;
    await Deno.writeTextFile(slow, `#!/bin/sh\nsleep 1\nexec "${newest!.path}" "$@"\n`);
    await Deno.chmod(slow, 0o755);
    const notices: string[] = [];
    try {
      const engine = new PythonEngine({ connectNoticeMs: 100 });
      await using session = await engine.launch({
        program: `${TESTDATA}exits.py`,
        args: ["code"],
        interpreter: slow,
        stopOnEntry: false,
        onStatus: (line) => notices.push(line),
      });
      assertEquals((await session.exited).code, 3);
      assert(notices.length > 0, "no notice while waiting");
      assertStringIncludes(notices[0]!, "still waiting for the Python bridge to connect");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "flow control holds the program's output, but not past its end",
  ignore: !newest,
  async fn() {
    // A consumer that never catches up: the program's output waits for it while the program
    // runs (its first chunk is read, then no more); once the program has ended, the rest is
    // read at once and nothing is dropped.
    await using session = await pythonEngine.launch({
      program: "import sys, time\nprint('x' * 30000, flush=True)\ntime.sleep(0.3)\nprint('end')",
      run: "code",
      interpreter: newest!.path,
      stopOnEntry: false,
      flow: () => new Promise(() => {}),
    });
    const events = await collect(session.events);
    assertEquals(output(events, "<stdout>"), `${"x".repeat(30000)}\nend\n`);
    assertEquals((await session.exited).code, 0);
  },
});

Deno.test({
  name: "a program's own handler for qdb's pause signal is kept and chained, on every Python",
  ignore: pythons.length === 0,
  async fn(t) {
    // qdb pauses with SIGUSR2: a program that installs its own handler for it sees its handler
    // (signal.getsignal), and a SIGUSR2 that is not qdb's reaches it.
    const program = [
      "import os, signal",
      "got = []",
      "old = signal.signal(signal.SIGUSR2, lambda n, f: got.append(n))",
      "print('before', old == signal.SIG_DFL, callable(signal.getsignal(signal.SIGUSR2)))",
      "os.kill(os.getpid(), signal.SIGUSR2)",
      "print('got', got == [signal.SIGUSR2])",
    ].join("\n");
    for (const python of pythons) {
      await t.step(`Python ${python.version}`, async () => {
        await using session = await pythonEngine.launch({
          program,
          run: "code",
          interpreter: python.path,
          stopOnEntry: false,
          // What it raises ends it (no stop waiting for a client): the test fails, never hangs.
          breakOn: "never",
        });
        const events = await collect(session.events);
        assertEquals(output(events, "<stdout>"), "before True True\ngot True\n");
        assertEquals((await session.exited).code, 0);
      });
    }
  },
});
