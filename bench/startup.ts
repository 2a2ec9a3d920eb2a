/**
 * Start-up: from launching a program to its first stop, where a person can type, side by side
 * in one run on every CPython found (issue #13's item 5):
 *
 * - `pdb`: `python -m pdb PROGRAM`, until its first `(Pdb) ` prompt.
 * - `qdb run`: `qdb run --json PROGRAM`, until the first `stack` line (a whole qdb: server,
 *   tracer and client in one process, as a newcomer starts it).
 * - `qdb trace`: `qdb trace` of a server already running, until a client attached to the
 *   session (by `qdb attach --json --wait`, started first) sees the first `stack`.
 *
 * - `debugpy`: `python -m debugpy --listen PORT --wait-for-client PROGRAM`, until a DAP client
 *   (initialize, attach, a breakpoint on the first line, configurationDone) gets `stopped`; on
 *   the Pythons that can import debugpy (Debian's `python3-debugpy` adds its `python3`).
 *
 * Each is the median (and the spread) of `--reps` runs (default 5; `--quick`: 1, and only the
 * newest Python). The table shows milliseconds and the ratio to pdb; `--json FILE` writes the
 * same figures.
 *
 * Usage: `deno run --allow-all bench/startup.ts [--reps N] [--quick] [--json FILE]`
 *
 * @module
 */

import {
  benchPythons,
  fixed,
  hasDebugpy,
  kill,
  launchDebugpy,
  median,
  outputOf,
  parseFlags,
  program,
  type PythonInstall,
  QDB_COMMAND,
  startServer,
  table,
  TOKEN,
} from "./_common.ts";

export type { PythonInstall };

const PROGRAM = program("empty.py");

/** One measured launch, in milliseconds. */
type Measure = (python: PythonInstall) => Promise<number>;

/** Starts `argv` and resolves with the time until its output matches `ready`; then ends it. */
async function timeUntil(
  argv: string[],
  ready: RegExp,
  options: { stdin?: "piped" | "null" } = {},
): Promise<number> {
  const started = performance.now();
  const child = new Deno.Command(argv[0]!, {
    args: argv.slice(1),
    stdin: options.stdin ?? "null",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  try {
    await outputOf(child.stdout, argv.join(" ")).until(ready);
    return performance.now() - started;
  } finally {
    await kill(child);
  }
}

const pdb: Measure = (python) =>
  timeUntil([python.path, "-m", "pdb", PROGRAM], /\(Pdb\) /, { stdin: "piped" });

const qdbRun: Measure = (python) =>
  timeUntil(
    [...QDB_COMMAND, "run", "--json", "--python", python.path, PROGRAM],
    /"e":"stack"/,
    { stdin: "piped" },
  );

/** `qdb trace` to a server that runs already, seen by a client waiting in the session. */
async function qdbTrace(python: PythonInstall, server: { client: string; tracer: string }) {
  const session = `startup-${crypto.randomUUID()}`;
  const client = new Deno.Command(QDB_COMMAND[0]!, {
    args: [
      ...QDB_COMMAND.slice(1),
      "attach",
      "--json",
      "--wait",
      "--server",
      server.client,
      "--token",
      TOKEN,
      session,
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const output = outputOf(client.stdout, "qdb attach");
  let tracer: Deno.ChildProcess | undefined;
  try {
    await output.until(/"e":"attached"/);
    output.forget();
    const started = performance.now();
    tracer = new Deno.Command(QDB_COMMAND[0]!, {
      args: [
        ...QDB_COMMAND.slice(1),
        "trace",
        "--python",
        python.path,
        "--server",
        server.tracer,
        "--token",
        TOKEN,
        "--session",
        session,
        "--quiet",
        PROGRAM,
      ],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    await output.until(/"e":"stack"/);
    return performance.now() - started;
  } finally {
    await kill(tracer);
    await kill(client);
    await output.cancel();
  }
}

/** debugpy started as its README says, until a minimal DAP client sees the first stop. */
async function debugpy(python: PythonInstall): Promise<number> {
  const started = performance.now();
  const session = await launchDebugpy(python.path, [PROGRAM], [{ path: PROGRAM, line: 1 }]);
  // A hang guard: a debugpy that never stops is ended, and the benchmark says so.
  const guard = setTimeout(() => void session.close(), 60_000);
  try {
    const stopped = await session.stopped;
    if (stopped === undefined) throw new Error("debugpy ended before its first stop");
    return stopped - started;
  } finally {
    clearTimeout(guard);
    await session.close();
  }
}

/** The figures of one Python: median, min and max milliseconds of each way to start. */
export interface StartupResult {
  /** The Python's version. */
  python: string;
  /** Milliseconds to the first stop, for each way to start measured on it. */
  ms: Record<Way, { median: number; min: number; max: number }>;
}

/**
 * The ways to start that are measured; debugpy where the Python has it. Two floors beside
 * them: `python`, the program run plain to its end; `qdb --version`, Deno starting and loading
 * qdb's modules, to its end.
 */
export type Way = "python" | "qdb --version" | "pdb" | "qdb run" | "qdb trace" | "debugpy";

/** Milliseconds from launching `argv` to its exit. */
async function timeToExit(argv: string[]): Promise<number> {
  const started = performance.now();
  const out = await new Deno.Command(argv[0]!, {
    args: argv.slice(1),
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).output();
  if (!out.success) throw new Error(`${argv.join(" ")} failed (exit ${out.code})`);
  return performance.now() - started;
}

/** Runs the benchmark; `reps` launches of each way to start, on each of `pythons`. */
export async function benchStartup(
  pythons: PythonInstall[],
  reps: number,
): Promise<StartupResult[]> {
  const server = await startServer();
  try {
    const results: StartupResult[] = [];
    for (const python of pythons) {
      const times: Partial<Record<Way, number[]>> = {
        "python": [],
        "qdb --version": [],
        "pdb": [],
        "qdb run": [],
        "qdb trace": [],
      };
      if (await hasDebugpy(python.path)) times.debugpy = [];
      // Interleaved, so that a change in the machine's load falls on all of them alike.
      for (let i = 0; i < reps; i++) {
        times.python!.push(await timeToExit([python.path, PROGRAM]));
        times["qdb --version"]!.push(await timeToExit([...QDB_COMMAND, "--version"]));
        times.pdb!.push(await pdb(python));
        times["qdb run"]!.push(await qdbRun(python));
        times["qdb trace"]!.push(await qdbTrace(python, server));
        times.debugpy?.push(await debugpy(python));
      }
      const ms = Object.fromEntries(
        Object.entries(times).map((
          [k, v],
        ) => [k, { median: median(v), min: Math.min(...v), max: Math.max(...v) }]),
      ) as StartupResult["ms"];
      results.push({ python: python.version, ms });
    }
    return results;
  } finally {
    await server.close();
  }
}

/** The table of `results`, as printed. */
export function startupTable(results: StartupResult[]): string {
  const rows = [[
    "python",
    "plain ms",
    "pdb ms",
    "qdb --version ms",
    "qdb run ms",
    "x pdb",
    "qdb trace ms",
    "x pdb",
    "debugpy ms",
    "x pdb",
  ]];
  for (const r of results) {
    const p = r.ms.pdb.median;
    const ms = (way: Way) => fixed(r.ms[way]?.median, 0);
    const cells = (way: Way) => [ms(way), fixed(r.ms[way] && r.ms[way].median / p)];
    rows.push([
      r.python,
      ms("python"),
      ms("pdb"),
      ms("qdb --version"),
      ...cells("qdb run"),
      ...cells("qdb trace"),
      ...cells("debugpy"),
    ]);
  }
  return table(rows);
}
if (import.meta.main) {
  const flags = parseFlags(Deno.args);
  const reps = flags.reps ?? (flags.quick ? 1 : 5);
  const pythons = await benchPythons(flags.quick);
  if (pythons.length === 0) throw new Error("No CPython 3.8+ found");
  const results = await benchStartup(pythons, reps);
  console.log(`Start-up to the first stop (median of ${reps}), ${new Date().toISOString()}`);
  console.log(startupTable(results));
  if (flags.json) await Deno.writeTextFile(flags.json, JSON.stringify(results, null, 2));
}
