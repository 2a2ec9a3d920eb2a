/**
 * Running code in a Python process that runs already (engine/python/inject.ts, issue 29's first
 * part), on every CPython found: a program asleep in its main thread (the code runs at once) and
 * one spinning in Python (the code is queued, and runs between two of its instructions); each
 * then ends by itself with its own exit status and its output whole and in order. The refusals
 * each say why, and leave the target running. Skips with a reason where gdb or ptrace is not
 * allowed.
 */

import { assert, assertEquals, assertMatch, assertRejects } from "../../tests/support/assert.ts";
import { findPythons, onEveryPython, type PythonInstall } from "../../tests/support/pythons.ts";
import { ATTACH_GO, ATTACH_TARGET, attachSkipReason } from "../../tests/support/ptrace.ts";
import {
  AttachError,
  attachMarker,
  describePythonProcess,
  injectionScript,
  injectPython,
  listPythonProcesses,
  processStart,
} from "./inject.ts";

const MOD = new URL("../../mod.ts", import.meta.url).pathname;
const pythons = await findPythons();

const skip = await attachSkipReason();
if (skip) console.log(`skip: attaching to a running process: ${skip}`);

/** The target program, started; it has printed its first line. */
async function startTarget(python: PythonInstall, mode: "sleep" | "busy") {
  const child = new Deno.Command(python.path, {
    args: [ATTACH_TARGET, mode],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const reader = child.stdout.getReader();
  let out = "";
  while (!out.includes("before\n")) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`The target ended early: ${out}`);
    out += new TextDecoder().decode(value);
  }
  const rest = (async () => {
    while (true) {
      const { value, done } = await reader.read();
      if (done) break;
      out += new TextDecoder().decode(value);
    }
    return out;
  })();
  const end = async () => {
    const [status, stdout, stderr] = await Promise.all([
      child.status,
      rest,
      new Response(child.stderr).text(),
    ]);
    return { status, stdout, stderr };
  };
  return { pid: child.pid, end, child };
}

onEveryPython(
  "inject: code runs in a sleeping and in a spinning program, which end as they would",
  async (python) => {
    for (const mode of ["sleep", "busy"] as const) {
      const target = await startTarget(python, mode);
      try {
        // A marker a killed tracer left for a process of that pid says nothing of this one.
        const marker = attachMarker(target.pid);
        await Deno.mkdir(marker.slice(0, marker.lastIndexOf("/")), { recursive: true });
        await Deno.writeTextFile(marker, `${Deno.pid} ${await processStart(Deno.pid)} 1`);
        const info = await describePythonProcess(target.pid);
        await Deno.remove(marker);
        assertEquals([info.version, info.qdb, info.tracerPid], [python.minor, false, 0]);
        // The code sets what the program waits for: it goes on, prints and ends.
        const { queued } = await injectPython(target.pid, ATTACH_GO);
        // Spinning in Python: queued, run between two of its instructions. (Asleep, it
        // is run at once, unless gdb caught it between two sleeps.)
        if (mode === "busy") assertEquals(queued, true);
      } catch (error) {
        try {
          target.child.kill("SIGKILL");
        } catch { /* ended */ }
        await target.end();
        throw error;
      }
      const { status, stdout, stderr } = await target.end();
      assertEquals([status.code, stdout], [3, "before\nafter\n"], stderr);
      assertEquals(stderr, "");
    }
  },
  skip !== undefined,
);

Deno.test({
  name: "inject: refusals say why and leave the target running",
  ignore: pythons.length === 0 || skip !== undefined,
  sanitizeResources: false,
  async fn() {
    const python = pythons.at(-1)!;
    // No such process.
    const max = Number((await Deno.readTextFile("/proc/sys/kernel/pid_max")).trim());
    const none = await assertRejects(() => injectPython(max + 1, "pass"), AttachError);
    assertEquals(none.kind, "no-process");
    // Not a Python.
    const sleeper = new Deno.Command("sleep", { args: ["60"] }).spawn();
    try {
      const not = await assertRejects(() => injectPython(sleeper.pid, "pass"), AttachError);
      assertEquals(not.kind, "not-python");
      assertMatch(not.message, /is not a Python/);
    } finally {
      sleeper.kill("SIGKILL");
      await sleeper.status;
    }
    const target = await startTarget(python, "sleep");
    try {
      // No gdb: how to get one.
      const noGdb = await assertRejects(
        () => injectPython(target.pid, "pass", { gdb: "/nonexistent/gdb" }),
        AttachError,
      );
      assertEquals(noGdb.kind, "no-gdb");
      assertMatch(noGdb.message, /apt-get install gdb/);
      // gdb out of time: killed, and the target runs on (it still answers, below).
      const late = await assertRejects(
        () => injectPython(target.pid, "pass", { timeoutMs: 1 }),
        AttachError,
      );
      assertEquals(late.kind, "timeout");
      // Its tracer gone, the target is traced by no one and runs: the code still gets in.
      let info = await describePythonProcess(target.pid);
      for (let i = 0; i < 100 && info.tracerPid !== 0; i++) {
        await new Promise((r) => setTimeout(r, 20));
        info = await describePythonProcess(target.pid);
      }
      assertEquals(info.tracerPid, 0);
      await injectPython(target.pid, ATTACH_GO);
    } catch (error) {
      try {
        target.child.kill("SIGKILL");
      } catch { /* ended */ }
      throw error;
    } finally {
      const { status, stdout } = await target.end();
      assertEquals([status.code, stdout], [3, "before\nafter\n"]);
    }
  },
});

Deno.test({
  name: "inject: qdb ps lists this user's Pythons; the script quotes any code",
  ignore: pythons.length === 0,
  sanitizeResources: false,
  async fn() {
    const target = await startTarget(pythons.at(-1)!, "sleep");
    try {
      const found = (await listPythonProcesses()).find((p) => p.pid === target.pid);
      assert(found, "the target is listed");
      assertEquals(found.argv.slice(1), [ATTACH_TARGET, "sleep"]);
      // qdb ps prints it: pid, version, command.
      const ps = await new Deno.Command(Deno.execPath(), {
        args: ["run", "--allow-all", MOD, "ps"],
        stdin: "null",
      }).output();
      const line = new TextDecoder().decode(ps.stdout).split("\n")
        .find((l) => l.startsWith(`${target.pid} `));
      assertMatch(
        line ?? "",
        new RegExp(`^${target.pid} +${found.version} +\\S*python\\S* ${ATTACH_TARGET} sleep$`),
      );
    } finally {
      target.child.kill("SIGKILL");
      await target.end();
    }
    const script = injectionScript('print("a\\\\b"); x = "é"\nprint(x)');
    assertMatch(script, /strdup\("print\(\\"a\\\\\\\\b\\"\); x = \\"\\303\\251\\"\\nprint\(x\)"\)/);
  },
});
