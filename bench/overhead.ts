/**
 * Debuggee overhead (issue #13, item 1): CPU-bound programs of three shapes
 * (`programs/overhead.py`: call-heavy recursion, a tight loop, json and regex over generated
 * records), side by side in one run on every CPython found, each run:
 *
 * - `plain`: `python overhead.py ...`;
 * - `floor` (3.8-3.11): with `sys.settrace(getattr)`, the cheapest trace function there is (a C
 *   builtin that traces nothing): the least any sys.settrace debugger costs;
 * - `compiled`: `qdb trace --no-stop` to a running `qdb serve`, a breakpoint in a function
 *   never called (compiled into its code, the default); `compiled hot`: on a line of the hot
 *   function that is never reached; `compiled cond`: on the hot line, with a condition that is
 *   always false;
 * - `traced`, `traced hot`, `traced cond`: the same with `--traced-breakpoints` (a trace function
 *   looks for them, as before issue 28, and as pdb does);
 * - `pdb`, `pdb cond`: `python -m pdb` with the never-called and the false-condition breakpoints
 *   (driven through its stdin);
 * - `debugpy`, `debugpy cond`: `python -m debugpy --listen`, the same breakpoints set by a
 *   minimal DAP client, where the Python can import debugpy.
 *
 * The program times its work itself (start-up is `bench/startup.ts`'s), so the ratios to plain
 * are the cost of debugging. Memory: the debuggee's peak resident set (it reports its own), the
 * `qdb trace` process's peak and the server's.
 *
 * Then logpoints: the tight loop with a logpoint on its hot line, hit 10^5 times (1,000 with
 * `--quick`), the cost of one hit in microseconds ((time - plain's) / hits): qdb's bridge driven
 * by the Python engine in this process (what the program pays; the server's part is
 * bench/capacity.ts's), pdb's equivalent (a breakpoint whose `commands` print and continue) and
 * debugpy's logpoint (`logMessage`).
 *
 * Usage: `deno run --allow-all bench/overhead.ts [--quick] [--reps N] [--json FILE]`
 *
 * @module
 */

import { pythonEngine } from "../engine/python/python_engine.ts";
import {
  type BenchFlags,
  benchPythons,
  fixed,
  followPeak,
  hasDebugpy,
  launchDebugpy,
  markedLine,
  median,
  parseFlags,
  procKb,
  program,
  type PythonInstall,
  ratio,
  startServer,
  table,
  traceArgs,
} from "./_common.ts";

/** The shapes of program measured. */
export type Shape = "calls" | "loop" | "workload";
/** The ways to run a program. */
export type Mode =
  | "plain"
  | "floor"
  | "compiled"
  | "compiled hot"
  | "compiled cond"
  | "traced"
  | "traced hot"
  | "traced cond"
  | "pdb"
  | "pdb cond"
  | "debugpy"
  | "debugpy cond";

const SHAPES: Shape[] = ["calls", "loop", "workload"];
/** The debuggers' modes measured on every Python (besides `plain`, and `floor` on 3.8-3.11). */
export const EVERY_PYTHON_MODES: readonly Mode[] = [
  "compiled",
  "compiled hot",
  "compiled cond",
  "traced",
  "traced hot",
  "traced cond",
  "pdb",
  "pdb cond",
];
/** Where the Python can import debugpy. */
const DEBUGPY_MODES: readonly Mode[] = ["debugpy", "debugpy cond"];
const PROGRAM = program("overhead.py");
/** Sizes that take plain CPython about 0.1 s (full) or a few ms (quick). */
const SIZES: Record<"full" | "quick", Record<Shape, number>> = {
  full: { calls: 29, loop: 1_500_000, workload: 8_000 },
  quick: { calls: 15, loop: 20_000, workload: 100 },
};
/** A condition on the hot line that is always false, in the terms of that line. */
const FALSE_CONDITION: Record<Shape, string> = {
  calls: "n == -1",
  loop: "i == -1",
  workload: "found == -1",
};

/** One run: the time of the work and the debuggee's peak memory; the tracer's for qdb. */
interface Run {
  workS: number;
  peakKb: number;
  tracerPeakKb?: number | undefined;
}

/** The figures of one Python and shape. */
export interface OverheadResult {
  /** The Python's version. */
  python: string;
  /** The program's shape. */
  shape: Shape;
  /** Its size argument (fib's n, the loop's turns, the records). */
  size: number;
  /** Median seconds of the work, per mode measured. */
  seconds: Partial<Record<Mode, number>>;
  /** Ratio of each mode's median to plain's. */
  ratio: Partial<Record<Mode, number>>;
  /** Median peak resident memory of the debuggee, KiB, per mode. */
  peakKb: Partial<Record<Mode, number>>;
  /** Median peak resident memory of the `qdb trace` process, KiB. */
  tracerPeakKb: number | undefined;
}

/** A logpoint's cost per hit, on one Python. */
export interface LogpointResult {
  /** The Python's version. */
  python: string;
  /** Hits of the logpoint (turns of the loop). */
  hits: number;
  /** Median seconds of the work: plain, and with the logpoint (or pdb's equivalent). */
  seconds: { plain: number; qdb: number; pdb: number; debugpy?: number };
  /** Microseconds one hit costs, per debugger: (its time - plain's) / hits. */
  usPerHit: { qdb: number; pdb: number; debugpy?: number };
}

/** Everything the benchmark measured. */
export interface OverheadReport {
  /** One per Python and shape. */
  results: OverheadResult[];
  /** One per Python. */
  logpoints: LogpointResult[];
  /** The server's peak resident memory at the end, KiB. */
  serverPeakKb: number | undefined;
}

interface Context {
  python: PythonInstall;
  server: { tracer: string };
  shape: Shape;
  size: number;
  out: string;
}

async function readRun(out: string): Promise<Run> {
  const r = JSON.parse(await Deno.readTextFile(out)) as { work_s: number; peak_kb: number };
  await Deno.remove(out);
  return { workS: r.work_s, peakKb: r.peak_kb };
}

function argv(c: Context): string[] {
  return [PROGRAM, c.shape, String(c.size), c.out];
}

function breakpointOf(c: Context, mode: Mode): { path: string; line: number; condition?: string } {
  if (mode.endsWith("cond")) {
    return {
      path: PROGRAM,
      line: markedLine(PROGRAM, `@hot ${c.shape}`),
      condition: FALSE_CONDITION[c.shape],
    };
  }
  if (mode.endsWith("hot")) {
    return { path: PROGRAM, line: markedLine(PROGRAM, `@unreached ${c.shape}`) };
  }
  return { path: PROGRAM, line: markedLine(PROGRAM, "@never") };
}

/** Waits for a child whose stderr is piped; a failure says what it printed there. */
async function check(what: string, child: Deno.ChildProcess) {
  const out = await child.output();
  if (!out.success) {
    const said = new TextDecoder().decode(out.stderr).slice(-2000);
    throw new Error(`${what} failed (exit ${out.code}): ${said}`);
  }
}

async function runOnce(c: Context, mode: Mode): Promise<Run> {
  const py = c.python.path;
  if (mode === "plain" || mode === "floor") {
    const child = new Deno.Command(py, {
      args: [...argv(c), ...(mode === "floor" ? ["floor"] : [])],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    await check(mode, child);
    return await readRun(c.out);
  }
  const bp = breakpointOf(c, mode);
  if (mode.startsWith("compiled") || mode.startsWith("traced")) {
    const trace = traceArgs({
      ...(mode.startsWith("traced") ? { options: ["--traced-breakpoints"] } : {}),
      server: c.server.tracer,
      session: `overhead-${crypto.randomUUID()}`,
      python: py,
      breakpoint: `${bp.path}:${bp.line}${bp.condition ? `, ${bp.condition}` : ""}`,
      argv: argv(c),
    });
    const child = new Deno.Command(trace[0]!, {
      args: trace.slice(1),
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const peak = followPeak(child.pid);
    await check(mode, child);
    return { ...await readRun(c.out), tracerPeakKb: peak.stop() };
  }
  if (mode.startsWith("pdb")) {
    const child = new Deno.Command(py, {
      args: ["-m", "pdb", ...argv(c)],
      stdin: "piped",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const writer = child.stdin.getWriter();
    const where = `${bp.path}:${bp.line}${bp.condition ? `, ${bp.condition}` : ""}`;
    await writer.write(new TextEncoder().encode(`b ${where}\nc\nq\n`));
    await writer.close();
    await check(mode, child);
    return await readRun(c.out);
  }
  const debugpy = await launchDebugpy(py, argv(c), [bp]);
  try {
    const status = await debugpy.child.status;
    if (!status.success) throw new Error(`${mode} failed (exit ${status.code})`);
    // Whether it stopped (it must not), as far as it said before its adapter was closed.
    const stopped = await Promise.race([debugpy.stopped, debugpy.close().then(() => undefined)]);
    if (stopped !== undefined) throw new Error("debugpy stopped");
  } finally {
    await debugpy.close();
  }
  return await readRun(c.out);
}

/** The modes measured on `python`. */
async function modesFor(python: PythonInstall): Promise<Mode[]> {
  const modes: Mode[] = ["plain"];
  // 3.12+ trace with sys.monitoring, which has no such floor.
  if (Number(python.minor.split(".")[1]) < 12) modes.push("floor");
  modes.push(...EVERY_PYTHON_MODES);
  if (await hasDebugpy(python.path)) modes.push(...DEBUGPY_MODES);
  return modes;
}

/** The loop with a logpoint on its hot line, under the Python engine in this process. */
async function qdbLogpoint(python: PythonInstall, hits: number, out: string): Promise<number> {
  const line = markedLine(PROGRAM, "@hot loop");
  await using session = await pythonEngine.launch({
    program: PROGRAM,
    args: ["loop", String(hits), out],
    interpreter: python.path,
    stdin: "null",
  });
  let logged = 0;
  for await (const m of session.events) {
    if (m.e === "stopped") {
      // At the first line: the logpoint, as the core sets it, then run.
      session.send({
        e: "request",
        id: "bp",
        p: {
          command: "set_breakpoint",
          args: { breakpoint: { id: 1, file: PROGRAM, line, log: "i={i}" } },
        },
      });
      session.send({ e: "continue" });
    }
    if (m.e === "print" && (m.p as { input?: string }).input === "<log>") logged++;
  }
  await session.exited;
  if (logged !== hits) throw new Error(`qdb logged ${logged} of ${hits} hits`);
  return (await readRun(out)).workS;
}

/** pdb's logpoint: a breakpoint whose commands print and continue. */
async function pdbLogpoint(python: PythonInstall, hits: number, out: string): Promise<number> {
  const line = markedLine(PROGRAM, "@hot loop");
  const child = new Deno.Command(python.path, {
    args: ["-m", "pdb", PROGRAM, "loop", String(hits), out],
    stdin: "piped",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(
    new TextEncoder().encode(`b ${line}\ncommands 1\nsilent\np "i=%d" % i\nc\nend\nc\nq\n`),
  );
  await writer.close();
  await check("pdb logpoint", child);
  return (await readRun(out)).workS;
}

async function debugpyLogpoint(python: PythonInstall, hits: number, out: string) {
  const debugpy = await launchDebugpy(python.path, [PROGRAM, "loop", String(hits), out], [
    { path: PROGRAM, line: markedLine(PROGRAM, "@hot loop"), logMessage: "i={i}" },
  ]);
  try {
    const status = await debugpy.child.status;
    if (!status.success) throw new Error(`debugpy logpoint failed (exit ${status.code})`);
  } finally {
    await debugpy.close();
  }
  return (await readRun(out)).workS;
}

async function benchLogpoints(
  python: PythonInstall,
  hits: number,
  reps: number,
  dir: string,
): Promise<LogpointResult> {
  const out = `${dir}/logpoint.json`;
  const debugpy = await hasDebugpy(python.path);
  const times: { plain: number[]; qdb: number[]; pdb: number[]; debugpy: number[] } = {
    plain: [],
    qdb: [],
    pdb: [],
    debugpy: [],
  };
  for (let i = 0; i < reps; i++) {
    const plain = new Deno.Command(python.path, {
      args: [PROGRAM, "loop", String(hits), out],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    await check("plain", plain);
    times.plain.push((await readRun(out)).workS);
    times.qdb.push(await qdbLogpoint(python, hits, out));
    times.pdb.push(await pdbLogpoint(python, hits, out));
    if (debugpy) times.debugpy.push(await debugpyLogpoint(python, hits, out));
  }
  const plain = median(times.plain);
  const per = (list: number[]) => (median(list) - plain) / hits * 1e6;
  return {
    python: python.version,
    hits,
    seconds: {
      plain,
      qdb: median(times.qdb),
      pdb: median(times.pdb),
      ...(debugpy ? { debugpy: median(times.debugpy) } : {}),
    },
    usPerHit: {
      qdb: per(times.qdb),
      pdb: per(times.pdb),
      ...(debugpy ? { debugpy: per(times.debugpy) } : {}),
    },
  };
}

/** Runs the benchmark. */
export async function benchOverhead(flags: BenchFlags): Promise<OverheadReport> {
  const pythons = await benchPythons(flags.quick);
  const reps = flags.reps ?? (flags.quick ? 1 : 3);
  const sizes = flags.quick ? SIZES.quick : SIZES.full;
  const dir = await Deno.makeTempDir({ prefix: "qdb-bench-" });
  await using server = await startServer();
  const results: OverheadResult[] = [];
  const logpoints: LogpointResult[] = [];
  try {
    for (const python of pythons) {
      const modes = await modesFor(python);
      for (const shape of SHAPES) {
        const c: Context = { python, server, shape, size: sizes[shape], out: `${dir}/out.json` };
        const runs = new Map<Mode, Run[]>(modes.map((m) => [m, []]));
        // Interleaved, so that a change in the machine's load falls on every mode alike.
        for (let i = 0; i < reps; i++) {
          for (const mode of modes) runs.get(mode)!.push(await runOnce(c, mode));
        }
        const seconds: OverheadResult["seconds"] = {};
        const peakKb: OverheadResult["peakKb"] = {};
        for (const [mode, list] of runs) {
          seconds[mode] = median(list.map((r) => r.workS));
          peakKb[mode] = median(list.map((r) => r.peakKb));
        }
        const ratio = Object.fromEntries(
          Object.entries(seconds).map(([m, s]) => [m, s / seconds.plain!]),
        );
        const tracer = runs.get("compiled")!.map((r) => r.tracerPeakKb).filter((k) =>
          k !== undefined
        );
        results.push({
          python: python.version,
          shape,
          size: c.size,
          seconds,
          ratio,
          peakKb,
          tracerPeakKb: tracer.length ? median(tracer) : undefined,
        });
      }
      logpoints.push(await benchLogpoints(python, flags.quick ? 1_000 : 100_000, reps, dir));
      if (!flags.quick) console.error(`overhead: Python ${python.version} done`);
    }
    return { results, logpoints, serverPeakKb: procKb(server.pid, "VmHWM") };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** The tables of a report: time ratios, then memory. */
export function overheadTables(report: OverheadReport): string {
  const modes: Mode[] = ["floor", ...EVERY_PYTHON_MODES, ...DEBUGPY_MODES];
  const times = [["python", "shape", "plain ms", ...modes.map((m) => `${m} x`)]];
  for (const r of report.results) {
    times.push([
      r.python,
      r.shape,
      fixed(r.seconds.plain! * 1000, 0),
      ...modes.map((m) => ratio(r.ratio[m])),
    ]);
  }
  const mb = (kb: number | undefined) => fixed(kb === undefined ? undefined : kb / 1024, 1);
  const memory = [[
    "python",
    "shape",
    "plain MB",
    "qdb MB",
    "pdb MB",
    "debugpy MB",
    "qdb trace MB",
  ]];
  for (const r of report.results) {
    memory.push([
      r.python,
      r.shape,
      mb(r.peakKb.plain),
      mb(r.peakKb.compiled),
      mb(r.peakKb.pdb),
      mb(r.peakKb.debugpy),
      mb(r.tracerPeakKb),
    ]);
  }
  return [
    "Time of the work, ratio to plain (median):",
    table(times),
    "",
    "Peak resident memory of the debuggee (and of the qdb trace process):",
    table(memory),
    "",
    `qdb serve's peak resident memory: ${mb(report.serverPeakKb)} MB`,
    "",
    "A logpoint hit in a tight loop: microseconds per hit ((time - plain's) / hits):",
    table([
      ["python", "hits", "plain ms", "qdb us", "pdb us", "debugpy us"],
      ...report.logpoints.map((l) => [
        l.python,
        String(l.hits),
        fixed(l.seconds.plain * 1000, 0),
        fixed(l.usPerHit.qdb, 1),
        fixed(l.usPerHit.pdb, 1),
        fixed(l.usPerHit.debugpy, 1),
      ]),
    ]),
  ].join("\n");
}

if (import.meta.main) {
  const flags = parseFlags(Deno.args);
  const report = await benchOverhead(flags);
  console.log(overheadTables(report));
  if (flags.json) await Deno.writeTextFile(flags.json, JSON.stringify(report, null, 2));
}
