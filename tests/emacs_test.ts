// The Emacs mode (editors/emacs/qdb.el): it byte-compiles with warnings as errors, checkdoc
// finds nothing, and its ERT tests pass in batch Emacs against a real `qdb serve` and
// `qdb trace` on a Python program.
import { assertEquals } from "./support/assert.ts";
import { QDB_ENTRY, QdbProcess, startServe, startTrace, traceArgs } from "./support/processes.ts";
import { findPythons } from "./support/pythons.ts";
import { canUnshare } from "./support/unshare.ts";

const EMACS_DIR = new URL("../editors/emacs/", import.meta.url).pathname;
const PROGRAM = new URL("../testdata/contract.py", import.meta.url).pathname;
const TOKEN = "emacs-test-token";
const pythons = await findPythons();

async function hasEmacs(): Promise<boolean> {
  try {
    return (await new Deno.Command("emacs", { args: ["--version"], stdout: "null" }).output())
      .success;
  } catch {
    return false;
  }
}
const emacs = await hasEmacs();
if (!emacs) console.log("skip: the Emacs tests need emacs (emacs-nox; .ci/run installs it)");

/** Runs batch Emacs with `args`; its output, and its exit code. */
async function batch(args: string[], env: Record<string, string> = {}, cwd?: string) {
  const out = await new Deno.Command("emacs", {
    args: ["-Q", "--batch", ...args],
    env,
    ...(cwd ? { cwd } : {}),
    stdin: "null",
  }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  return { code: out.code, text };
}

Deno.test({
  name: "emacs: qdb.el byte-compiles without a warning and checkdoc finds nothing",
  ignore: !emacs,
  async fn() {
    // In a copy: the .elc stays out of the tree.
    const dir = await Deno.makeTempDir({ prefix: "qdb-el-" });
    try {
      await Deno.copyFile(`${EMACS_DIR}qdb.el`, `${dir}/qdb.el`);
      const compiled = await batch(
        ["--eval", "(setq byte-compile-error-on-warn t)", "-f", "batch-byte-compile", "qdb.el"],
        {},
        dir,
      );
      assertEquals([compiled.code, compiled.text.trim()], [0, ""]);
      const checked = await batch(
        ["--eval", '(progn (require \'checkdoc) (checkdoc-file "qdb.el"))'],
        {},
        dir,
      );
      assertEquals([checked.code, checked.text.trim()], [0, ""]);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "emacs: ERT drives real sessions from Emacs (attach, run, breakpoints, steps, values, peers)",
  ignore: !emacs || pythons.length === 0,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "qdb-emacs-" });
    try {
      const program = `${dir}/contract.py`;
      await Deno.copyFile(PROGRAM, program);
      const primes = `${dir}/primes.py`;
      await Deno.copyFile(new URL("../examples/primes.py", import.meta.url), primes);
      await using serve = await startServe(["--token", TOKEN]);
      await using trace = startTrace(serve, pythons[0]!.path, "emacs", "--token", TOKEN, program);
      await trace.line(/is session/, "stderr");
      const { code, text } = await batch(
        ["-L", EMACS_DIR, "-l", "qdb-tests", "-f", "ert-run-tests-batch-and-exit"],
        {
          QDB_TEST_COMMAND: `${Deno.execPath()} run --allow-all ${QDB_ENTRY}`,
          QDB_TEST_SERVER: serve.clientUrl,
          QDB_TEST_SESSION: "emacs",
          QDB_TEST_PROGRAM: program,
          QDB_TEST_PRIMES: primes,
          QDB_TEST_PYTHON: pythons[0]!.path,
          QDB_TOKEN: TOKEN,
          HOME: dir,
        },
      );
      assertEquals(code, 0, text);
      assertEquals(
        /Ran 5 tests, 4 results as expected, 0 unexpected, 1 skipped/.test(text),
        true,
        text,
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

const unshare = await canUnshare();
if (!unshare) console.log("skip: the Emacs remote-file test needs root and unshare");

Deno.test({
  name: "emacs: a file only the program's machine has opens read-only from its text",
  ignore: !emacs || pythons.length === 0 || !unshare,
  async fn() {
    // The tracer's machine: a folder that exists only in its own mount namespace.
    const remote = await Deno.makeTempDir({ prefix: "qdb-remote-" });
    const stage = await Deno.makeTempDir({ prefix: "qdb-stage-" });
    await Deno.writeTextFile(`${stage}/remote.py`, "def work(n):\n    return n * 2\n\nwork(3)\n");
    try {
      await using serve = await startServe(["--token", TOKEN]);
      await using tracer = new QdbProcess(
        traceArgs(serve, pythons[0]!.path, "far", "--token", TOKEN, `${remote}/remote.py`),
        { onlyHere: { dir: remote, stage } },
      );
      await tracer.line(/is session/, "stderr");
      {
        const { code, text } = await batch(
          [
            "-L",
            EMACS_DIR,
            "-l",
            "qdb-tests",
            "--eval",
            "(ert-run-tests-batch-and-exit 'qdb-remote-source)",
          ],
          {
            QDB_TEST_COMMAND: `${Deno.execPath()} run --allow-all ${QDB_ENTRY}`,
            QDB_TEST_SERVER: serve.clientUrl,
            QDB_TEST_SESSION: "far",
            QDB_TEST_REMOTE: `${remote}/remote.py`,
            QDB_TOKEN: TOKEN,
            HOME: stage,
          },
        );
        assertEquals(code, 0, text);
        assertEquals(/Ran 1 tests?, 1 results? as expected, 0 unexpected/.test(text), true, text);
      }
    } finally {
      await Deno.remove(remote, { recursive: true });
      await Deno.remove(stage, { recursive: true });
    }
  },
});
