/**
 * The benchmark suite (issue #13): start-up, debuggee overhead, step round trip, inspection and
 * server capacity, one after the other, each side by side with its peers (plain Python, pdb,
 * debugpy, a bare relay). Prints each table as it is done, then writes every figure, with the
 * date and the machine, as JSON.
 *
 * Usage: `deno task bench [--quick] [--only NAME,...] [--reps N] [--json FILE]`
 *
 * - `--quick`: a smoke run (tiny sizes, one repetition, the newest Python), in seconds;
 * - `--only startup,overhead,step,inspect,attach,capacity,cluster,fleet,javascript`: some of them;
 * - `--reps N`: passed to each (repetitions; steps for `step`; sessions for `capacity`);
 * - `--json FILE`: where the figures go (default `bench/results.json`, none with `--quick`).
 *
 * A full run takes about half an hour on 2 cores. The latest results are in bench/README.md.
 *
 * @module
 */

import { type BenchFlags, benchPythons, parseFlags } from "./_common.ts";
import { attachTable, benchAttach } from "./attach.ts";
import { benchCapacity, capacityTables } from "./capacity.ts";
import { benchCluster, clusterTable } from "./cluster.ts";
import { benchFleet, fleetTables } from "./fleet.ts";
import { benchInspect, inspectTable } from "./inspect.ts";
import { benchJavaScript, javascriptTables } from "./javascript.ts";
import { benchOverhead, overheadTables } from "./overhead.ts";
import { benchStartup, startupTable } from "./startup.ts";
import { benchStep, stepTable } from "./step.ts";

/** The benchmarks, in the order they run. */
export const BENCHMARKS: Record<
  string,
  (flags: BenchFlags) => Promise<{ figures: unknown; table: string }>
> = {
  startup: async (flags) => {
    const figures = await benchStartup(
      await benchPythons(flags.quick),
      flags.reps ?? (flags.quick ? 1 : 5),
    );
    return { figures, table: `Start-up to the first stop, ms (median):\n${startupTable(figures)}` };
  },
  overhead: async (flags) => {
    const figures = await benchOverhead(flags);
    return { figures, table: overheadTables(figures) };
  },
  step: async (flags) => {
    const figures = await benchStep(flags);
    return { figures, table: stepTable(figures) };
  },
  inspect: async (flags) => {
    const figures = await benchInspect(flags);
    return { figures, table: inspectTable(figures) };
  },
  attach: async (flags) => {
    const figures = await benchAttach(flags);
    return { figures, table: attachTable(figures) };
  },
  capacity: async (flags) => {
    const figures = await benchCapacity(flags);
    return { figures, table: capacityTables(figures) };
  },
  cluster: async (flags) => {
    const figures = await benchCluster(flags);
    return { figures, table: `Several servers on one Redis:\n${clusterTable(figures)}` };
  },
  fleet: async (flags) => {
    const figures = await benchFleet(flags);
    return { figures, table: fleetTables(figures) };
  },
  javascript: async (flags) => {
    const figures = await benchJavaScript(flags);
    return { figures, table: javascriptTables(figures) };
  },
};

/** What the machine is, for the record. */
export async function machine(): Promise<Record<string, unknown>> {
  let cpu = "unknown";
  try {
    const info = await Deno.readTextFile("/proc/cpuinfo");
    cpu = /^model name\s*:\s*(.+)$/m.exec(info)?.[1] ?? cpu;
  } catch { /* not Linux */ }
  return {
    cpu,
    cores: navigator.hardwareConcurrency,
    memoryGiB: Math.round(Deno.systemMemoryInfo().total / 2 ** 30),
    os: `${Deno.build.os} ${Deno.osRelease()}`,
    deno: Deno.version.deno,
    pythons: (await benchPythons(false)).map((p) => p.version),
  };
}

if (import.meta.main) {
  const flags = parseFlags(Deno.args);
  const onlyAt = Deno.args.indexOf("--only");
  const names = onlyAt >= 0 ? Deno.args[onlyAt + 1]!.split(",") : Object.keys(BENCHMARKS);
  for (const name of names) {
    if (!BENCHMARKS[name]) throw new Error(`No benchmark "${name}": ${Object.keys(BENCHMARKS)}`);
  }
  const report: Record<string, unknown> = {
    date: new Date().toISOString(),
    quick: flags.quick,
    machine: await machine(),
  };
  const json = flags.json ?? (flags.quick ? undefined : "bench/results.json");
  for (const name of names) {
    const started = performance.now();
    const { figures, table } = await BENCHMARKS[name]!(flags);
    report[name] = figures;
    console.log(`\n## ${name} (${((performance.now() - started) / 1000).toFixed(0)} s)\n`);
    console.log(table);
    // Written after each, so that a long run stopped halfway keeps what it measured.
    if (json) await Deno.writeTextFile(json, `${JSON.stringify(report, null, 2)}\n`);
  }
  if (json) console.log(`\nThe figures are in ${json}.`);
}
