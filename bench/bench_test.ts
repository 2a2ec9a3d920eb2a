// Smoke tests of the benchmarks: each runs once on tiny sizes (`--quick`) and gives figures of
// the right shape. No limits on the figures: these are not speed tests (bench/README.md holds
// the results of full runs).
import { assert, assertEquals, assertMatch } from "../tests/support/assert.ts";
import { findPythons } from "../tests/support/pythons.ts";
import { type BenchFlags, parseFlags, program, stats } from "./_common.ts";
import { attachTable, benchAttach } from "./attach.ts";
import { benchCapacity, capacityTables } from "./capacity.ts";
import { benchCluster, clusterTable } from "./cluster.ts";
import { benchFleet, fleetTables } from "./fleet.ts";
import { benchJavaScript, javascriptTables } from "./javascript.ts";
import { HAVE_REDIS } from "../tests/support/redis.ts";
import { benchInspect, inspectTable } from "./inspect.ts";
import { benchOverhead, EVERY_PYTHON_MODES, overheadTables } from "./overhead.ts";
import { benchStartup, startupTable } from "./startup.ts";
import { benchStep, stepTable } from "./step.ts";

const pythons = await findPythons();
const quick: BenchFlags = { quick: true, reps: undefined, json: undefined };
/** The processes whose command line holds `text` (Linux), as their ids. */
async function running(text: string): Promise<number[]> {
  const found: number[] = [];
  try {
    for await (const entry of Deno.readDir("/proc")) {
      if (!/^\d+$/.test(entry.name)) continue;
      const cmdline = await Deno.readTextFile(`/proc/${entry.name}/cmdline`).catch(() => "");
      if (cmdline.includes(text)) found.push(Number(entry.name));
    }
  } catch { /* no /proc */ }
  return found;
}

const positive = (n: number | undefined, what: string) =>
  assert(n !== undefined && n > 0 && Number.isFinite(n), `${what}: ${n}`);

Deno.test("bench: flags and order statistics", () => {
  assertEquals(parseFlags(["--quick", "--reps", "3", "--json", "x.json"]), {
    quick: true,
    reps: 3,
    json: "x.json",
  });
  assertEquals(stats([5, 1, 4, 2, 3]), { n: 5, min: 1, p50: 3, p90: 5, p99: 5, max: 5 });
});

Deno.test({
  name: "bench: start-up runs once per way to start, and prints its table",
  ignore: pythons.length === 0,
  async fn() {
    const results = await benchStartup(pythons.slice(-1), 1);
    assertEquals(results.length, 1);
    for (const way of ["python", "qdb --version", "pdb", "qdb run", "qdb trace"] as const) {
      const { median, min, max } = results[0]!.ms[way];
      assert(median > 0 && min <= median && median <= max, `${way}: ${median}`);
    }
    assertMatch(startupTable(results), /^\| python +\| plain ms/);
  },
});

Deno.test({
  name: "bench: overhead runs each shape in each mode, and measures memory",
  ignore: pythons.length === 0,
  async fn() {
    const report = await benchOverhead(quick);
    assertEquals(report.results.map((r) => r.shape), ["calls", "loop", "workload"]);
    for (const r of report.results) {
      for (const mode of ["plain", ...EVERY_PYTHON_MODES] as const) {
        positive(r.seconds[mode], `${r.shape} ${mode}`);
        positive(r.peakKb[mode], `${r.shape} ${mode} memory`);
      }
      assertEquals(r.ratio.plain, 1);
      positive(r.tracerPeakKb, "the tracer's memory");
    }
    positive(report.serverPeakKb, "the server's memory");
    for (const l of report.logpoints) {
      positive(l.seconds.qdb, "the work with a logpoint");
      positive(l.seconds.pdb, "the work with pdb's logpoint");
    }
    assertMatch(overheadTables(report), /compiled cond x/);
    assertMatch(overheadTables(report), /qdb us/);
  },
});

Deno.test({
  name: "bench: step round trips through qdb, a bare relay, the engine alone and pdb",
  ignore: pythons.length === 0,
  async fn() {
    const [result] = await benchStep({ ...quick, reps: 5 });
    for (const path of ["qdb", "relay", "engine", "pdb"] as const) {
      assertEquals(result!.ms[path].n, 5);
      positive(result!.ms[path].p50, path);
    }
    assertMatch(stepTable([result!]), /qdb\/relay p50/);
    // Every program it debugged has ended with its tracer (none left running on its own).
    // (This checkout's copy only: another suite may be running beside this one.)
    assertEquals(await running(program("step.py")), []);
  },
});

Deno.test({
  name: "bench: inspection of big values answers each request",
  ignore: pythons.length === 0,
  async fn() {
    const [result] = await benchInspect({ ...quick, reps: 1 });
    // Seven at one stop, then the list's and the dict's first page at each new stop.
    assertEquals(result!.figures.length, 9);
    for (const f of result!.figures) {
      positive(f.ms.p50, f.what);
      positive(f.bytes, `${f.what} bytes`);
    }
    assertMatch(inspectTable([result!]), /100 items from the middle/);
  },
});

Deno.test("bench: capacity ramps sessions, floods them and meets a slow client", async () => {
  const result = await benchCapacity({ ...quick, reps: 4 });
  assertEquals(result.ramp.map((r) => r.sessions), [0, 4]);
  positive(result.flood.deliveredPerSecond, "delivered per second");
  positive(result.slow.alone.n, "events to the fast client alone");
  positive(result.slow.withSlow.n, "events to the fast client beside a slow one");
  assertEquals(result.stalled.received, result.stalled.lines);
  assertEquals(result.stalled.inOrder, true);
  assertMatch(capacityTables(result), /Memory per idle session/);
});

Deno.test({
  name: "bench: several servers: steps across, routed messages, idle memory and a failover",
  ignore: !HAVE_REDIS,
  async fn() {
    const result = await benchCluster({ ...quick, reps: 5 });
    positive(result.routedPerSecond.one, "routed on one server");
    positive(result.routedPerSecond.two, "routed across two");
    positive(result.idleKb.alone, "idle memory alone");
    if (result.stepMs) {
      assertEquals(result.stepMs.two.n, 5);
      positive(result.stepMs.two.p50, "a step across two servers");
      positive(result.failoverMs!.p50, "a failover");
    }
    assertMatch(clusterTable(result), /two \/ one/);
  },
});

Deno.test({
  name:
    "bench: fleet: a snapshot's cost, a false condition on a hot line, a group command, stored snapshots",
  ignore: pythons.length === 0,
  async fn() {
    const result = await benchFleet(quick);
    assertEquals(result.cost.length, 1);
    const cost = result.cost[0]!;
    positive(cost.callUs.snapshot.median, "a call taking a snapshot");
    positive(cost.hotSeconds.falseCondition, "a hot loop with a false condition");
    assertEquals(result.groupMs.members, 10);
    positive(result.groupMs.p50, "a group command");
    assertEquals(result.stored.snapshots, 100);
    assertMatch(fleetTables(result), /group set_break applied on 10 members/);
  },
});

const HAVE_NODE = await new Deno.Command("node", { args: ["--version"], stdout: "null" }).output()
  .then((o) => o.success, () => false);

Deno.test({
  name: "bench: JavaScript: steps through qdb, the engine and CDP; start-up; an unhit breakpoint",
  ignore: !HAVE_NODE,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const result = await benchJavaScript({ ...quick, reps: 5 });
    for (const kind of ["qdb", "engine", "cdp"] as const) {
      assertEquals(result.step[kind].n, 5);
      positive(result.step[kind].p50, `a step through ${kind}`);
    }
    positive(result.startup.qdb.p50, "qdb's start-up");
    positive(result.overhead.qdb.p50, "the work under qdb");
    assertMatch(javascriptTables(result), /qdb\/CDP p50/);
  },
});

Deno.test({
  name: "bench: attaching to a running program, through the engine and qdb trace --pid",
  ignore: pythons.length === 0,
  async fn() {
    const results = await benchAttach({ ...quick, reps: 1 });
    // Where gdb or ptrace is not allowed it says so and measures nothing.
    for (const result of results) {
      for (const path of ["engine", "trace"] as const) {
        assertEquals(result.attachMs[path]?.n, 1);
        positive(result.attachMs[path]?.p50, `${path}: time to attachable`);
        assert(result.holdMs[path] !== undefined, `${path}: the program's hold`);
      }
      assertMatch(attachTable(results), /engine p50/);
    }
  },
});
