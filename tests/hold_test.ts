// A stop holds the other threads; one of them may be inside qdb's own code at that moment (a
// logpoint sending its line, holding the lock every event takes). Found with a logpoint in a hot
// loop: the held thread kept the lock from the stopped one (a hang), and a first fix that asked
// again by signal recursed (RecursionError). One Python of each way of holding, one after the
// other: the program floods logpoint lines until it is held.
import { assertEquals, assertStringIncludes } from "./support/assert.ts";
import { findPythons } from "./support/pythons.ts";
import { engineBackend, type Received } from "./support/scenario.ts";

const pythons = await findPythons();
const PROGRAM = new URL("../testdata/logging_main.py", import.meta.url).pathname;
const lines = Deno.readTextFileSync(PROGRAM).split("\n");
const line = (marker: string) => lines.findIndex((l) => l.endsWith(`# @${marker}`)) + 1;

// By signal and trace function (3.9-3.11), and by sys.monitoring (3.12+).
const chosen = [
  pythons.filter((p) => /^3\.(9|10|11)\./.test(p.version)).at(-1),
  pythons.filter((p) => !/^3\.(8|9|10|11)\./.test(p.version)).at(-1),
].filter((p) => p !== undefined);

Deno.test({
  name: "a stop holds a thread that is in the middle of a logpoint, and still answers",
  ignore: chosen.length === 0,
  async fn(t) {
    for (const python of chosen) {
      await t.step(`Python ${python.version}`, async () => {
        for (let round = 0; round < 3; round++) {
          // Both breakpoints are set at the first line, before the program's timer can fire:
          // set while it ran, the worker's could come too late on a loaded machine (the worker
          // had gone, and nothing ever stopped).
          await using s = await engineBackend.open(python.path, PROGRAM, { stopOnEntry: true });
          await s.expect("stack", (p: Received["p"]) => p.reason === "entry");
          s.send("set_break", { file: PROGRAM, line: line("log_line"), log: "lap {laps}" });
          s.send("set_break", { file: PROGRAM, line: line("worker_stop") });
          await s.expect("breakpoints", (p: unknown[]) => p.length === 2);
          s.send("continue");
          const stop = await s.expect(
            "stack",
            (p: Received["p"]) => p.reason === "breakpoint",
          );
          assertEquals(stop.p.thread.name.startsWith("Thread"), true);
          const id = s.send("eval", "globals().update(done=True)");
          await s.expect("print", (_p: unknown, m: Received) => m.id === id);
          s.send("clear_break", { file: PROGRAM, line: line("log_line") });
          await s.expect("breakpoints");
          s.send("continue");
          assertEquals((await s.exited).code, 0);
          assertStringIncludes(s.stdout(), "main went on\n");
        }
      });
    }
  },
});
