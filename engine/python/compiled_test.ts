/**
 * Breakpoints compiled into the code (qdb_compile.py, issue 28's mechanism), on every Python
 * found: a hook at the start of a line of one function, in a plain function, with a condition,
 * in a method using super(), a closure, a decorated function, a generator, a coroutine and a
 * recursive function; refused when the source is not the loaded code or the line starts no
 * statement; tracebacks and names unchanged; set and cleared 1,000 times with the original code
 * back. testdata/compiled_check.py does the work and prints what it saw.
 */

import { assertEquals, assertMatch } from "../../tests/support/assert.ts";
import { findPythons } from "../../tests/support/pythons.ts";

const pythons = await findPythons();
const CHECK = new URL("../../testdata/compiled_check.py", import.meta.url).pathname;
const BRIDGE = new URL(".", import.meta.url).pathname;

Deno.test({
  name: "compiled breakpoints: a hook in the code of one function, on every Python",
  ignore: pythons.length === 0,
  async fn(t) {
    for (const python of pythons) {
      await t.step(`Python ${python.version}`, async () => {
        const out = await new Deno.Command(python.path, {
          args: [CHECK, BRIDGE],
          stdout: "piped",
          stderr: "piped",
        }).output();
        const err = new TextDecoder().decode(out.stderr);
        assertEquals(out.success, true, err);
        const r = JSON.parse(new TextDecoder().decode(out.stdout));
        // Every hit, at the breakpoint's own line, with the frame's locals; the original back.
        assertEquals(r.plain.hits.map((h: unknown[]) => h[3]), [0, 1, 2]);
        assertEquals(r.plain.hits[0].slice(0, 3), [1, "work", r.plain.line]);
        assertEquals([r.plain.value, r.plain.swapped, r.plain.restored], [3, true, true]);
        assertEquals([r.plain.after, r.plain.hits_after], [3, 3]);
        // A condition compiled in place: only its true passes call the hook.
        assertEquals(r.conditional, [2]);
        assertEquals(r.method, {
          value: "base!",
          hits: [["greet", r.method.hits[0][1]]],
          freevars: ["__class__"],
        });
        // Closures made while it is in have it too; removed, it is gone from all of them.
        assertEquals(r.closure, {
          values: [1, 3, 5, 6, 7],
          hits: [1, 2, 5],
          maker_restored: true,
          closures_restored: true,
        });
        assertEquals(r.decorated, { value: 42, hits: [["decorated", 21]] });
        assertEquals(r.generators, {
          gen: [0, 10, 20],
          gen_hits: [0, 1, 2],
          coro: 42,
          coro_hits: [41],
        });
        assertEquals(r.recursive, { value: 6, hits: [3, 2, 1, 0] });
        assertMatch(r.changed_file.refused, /not what was loaded/);
        assertEquals(r.changed_file.unchanged, true);
        assertMatch(r.not_a_statement[0], /is work's first line/);
        assertMatch(r.not_a_statement[1], /loop's or a with's header/);
        // A false condition is counted (3 of 5 passes), not called; one that raises calls the
        // hook (with raised) and never reaches the program.
        assertEquals(r.misses, { misses: 3, hits: [3, 4], raised: [true, true], value: 1 });
        // The program's traceback shows its own frames, lines and names, not the hook.
        assertEquals(r.traceback, {
          names: ["traceback_unchanged", "boom"],
          line: true,
          qualname: "boom",
        });
        assertEquals(r.churn, { restored: true, swapped: 0 });
        // Taken out, the hook stays as one that does nothing (compiled code may still run).
        assertEquals(r.hook_silent, true);
      });
    }
  },
});
