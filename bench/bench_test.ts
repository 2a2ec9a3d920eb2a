// Smoke tests of the benchmarks: each runs on tiny sizes and gives figures of the right shape.
// No limits on the figures: these are not speed tests (bench/README.md holds the results).
import { assert, assertEquals, assertMatch } from "../tests/support/assert.ts";
import { findPythons } from "../tests/support/pythons.ts";
import { benchStartup, startupTable } from "./startup.ts";

const pythons = await findPythons();

Deno.test({
  name: "bench: start-up runs once per way to start, and prints its table",
  ignore: pythons.length === 0,
  async fn() {
    const results = await benchStartup(pythons.slice(-1), 1);
    assertEquals(results.length, 1);
    for (const way of ["pdb", "qdb run", "qdb trace"] as const) {
      const { median, min, max } = results[0]!.ms[way];
      assert(median > 0 && min <= median && median <= max, `${way}: ${median}`);
    }
    assertMatch(startupTable(results), /^ *python +pdb ms/);
  },
});
