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

import { encodeDap, readDap } from "../dap/wire.ts";
import { findPythons, type PythonInstall } from "../tests/support/pythons.ts";

export type { PythonInstall };

const PROGRAM = new URL("./empty.py", import.meta.url).pathname;
const QDB = new URL("../mod.ts", import.meta.url).pathname;
const QDB_COMMAND = [Deno.execPath(), "run", "--allow-all", QDB];
const TOKEN = "bench-startup";

/** One measured launch, in milliseconds. */
type Measure = (python: PythonInstall) => Promise<number>;

/** A process's output, read as far as needed: `until` reads on until a pattern shows. */
function outputOf(stream: ReadableStream<Uint8Array>, what: string) {
  const reader = stream.pipeThrough(new TextDecoderStream()).getReader();
  let seen = "";
  return {
    /** Reads until `pattern` matches what came since the last `forget`; returns the match. */
    async until(pattern: RegExp): Promise<RegExpExecArray> {
      let m: RegExpExecArray | null;
      while (!(m = pattern.exec(seen))) {
        const { value, done } = await reader.read();
        if (done) throw new Error(`${what} ended before ${pattern}: ${seen.slice(-300)}`);
        seen += value;
      }
      return m;
    },
    /** Forgets what came so far. */
    forget() {
      seen = "";
    },
    /** Reads the rest without keeping it (the process must not block on a full pipe). */
    drain() {
      void reader.read().then(function drain(r): unknown {
        return r.done ? undefined : reader.read().then(drain);
      });
    },
    cancel: () => reader.cancel().catch(() => {}),
  };
}

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
    try {
      child.kill("SIGKILL");
    } catch { /* ended */ }
    await child.status;
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
    for (const child of [tracer, client]) {
      try {
        child?.kill("SIGKILL");
      } catch { /* ended */ }
      await child?.status;
    }
    await output.cancel();
  }
}

/** Whether `python` can import debugpy. */
export async function hasDebugpy(python: string): Promise<boolean> {
  try {
    const out = await new Deno.Command(python, {
      args: ["-c", "import debugpy"],
      stdout: "null",
      stderr: "null",
    }).output();
    return out.success;
  } catch {
    return false;
  }
}

/** debugpy started as its README says, and a minimal DAP client until the first stop. */
async function debugpy(python: PythonInstall): Promise<number> {
  const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (probe.addr as Deno.NetAddr).port;
  probe.close();
  const started = performance.now();
  const child = new Deno.Command(python.path, {
    args: ["-m", "debugpy", "--listen", `127.0.0.1:${port}`, "--wait-for-client", PROGRAM],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  let conn: Deno.TcpConn | undefined;
  // A hang guard: a debugpy that never stops is ended, and the benchmark says so.
  const guard = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch { /* ended */ }
  }, 60_000);
  try {
    while (!conn) {
      if (await Promise.race([child.status.then(() => true), Promise.resolve(false)])) {
        throw new Error("debugpy ended before it listened");
      }
      try {
        conn = await Deno.connect({ hostname: "127.0.0.1", port });
      } catch {
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    }
    let seq = 1;
    const send = (command: string, args: object) =>
      conn!.write(encodeDap({ seq: seq++, type: "request", command, arguments: args }));
    const messages = readDap(conn.readable);
    await send("initialize", { adapterID: "bench", clientID: "bench", linesStartAt1: true });
    await send("attach", { justMyCode: true });
    for await (const message of messages) {
      if (message.type === "event" && message.event === "initialized") {
        await send("setBreakpoints", { source: { path: PROGRAM }, breakpoints: [{ line: 1 }] });
        await send("configurationDone", {});
      }
      if (message.type === "event" && message.event === "stopped") {
        return performance.now() - started;
      }
    }
    throw new Error("debugpy ended before its first stop");
  } finally {
    clearTimeout(guard);
    try {
      conn?.close();
    } catch { /* closed */ }
    try {
      child.kill("SIGKILL");
    } catch { /* ended */ }
    await child.status;
  }
}

/** `qdb serve` on free ports, for the `qdb trace` column. */
async function startServer() {
  const child = new Deno.Command(QDB_COMMAND[0]!, {
    args: [
      ...QDB_COMMAND.slice(1),
      "serve",
      "--client-port",
      "0",
      "--tracer-port",
      "0",
      "--token",
      TOKEN,
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const output = outputOf(child.stdout, "qdb serve");
  const m = await output.until(/clients (\S+) {2}tracers (\S+)/);
  output.drain();
  return {
    client: m[1]!,
    tracer: m[2]!,
    async close() {
      child.kill("SIGTERM");
      await child.status;
    },
  };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? NaN;
}

/** The figures of one Python: median, min and max milliseconds of each way to start. */
export interface StartupResult {
  /** The Python's version. */
  python: string;
  /** Milliseconds to the first stop, for each way to start measured on it. */
  ms: Record<Way, { median: number; min: number; max: number }>;
}

/** The ways to start that are measured; debugpy where the Python has it. */
export type Way = "pdb" | "qdb run" | "qdb trace" | "debugpy";

/** Runs the benchmark; `reps` launches of each way to start, on each of `pythons`. */
export async function benchStartup(
  pythons: PythonInstall[],
  reps: number,
): Promise<StartupResult[]> {
  const server = await startServer();
  try {
    const results: StartupResult[] = [];
    for (const python of pythons) {
      const times: Partial<Record<Way, number[]>> = { "pdb": [], "qdb run": [], "qdb trace": [] };
      if (await hasDebugpy(python.path)) times.debugpy = [];
      // Interleaved, so that a change in the machine's load falls on all of them alike.
      for (let i = 0; i < reps; i++) {
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
    "pdb ms",
    "qdb run ms",
    "x pdb",
    "qdb trace ms",
    "x pdb",
    "debugpy ms",
    "x pdb",
  ]];
  for (const r of results) {
    const p = r.ms.pdb.median;
    const cells = (way: Way) =>
      r.ms[way] ? [r.ms[way].median.toFixed(0), (r.ms[way].median / p).toFixed(2)] : ["-", "-"];
    rows.push([
      r.python,
      p.toFixed(0),
      ...cells("qdb run"),
      ...cells("qdb trace"),
      ...cells("debugpy"),
    ]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  return rows.map((row) => row.map((c, i) => c.padStart(widths[i]!)).join("  ")).join("\n");
}

if (import.meta.main) {
  const args = Deno.args;
  const quick = args.includes("--quick");
  const repsAt = args.indexOf("--reps");
  const reps = repsAt >= 0 ? Number(args[repsAt + 1]) : quick ? 1 : 5;
  const jsonAt = args.indexOf("--json");
  const found = await findPythons();
  const pythons = quick ? found.slice(-1) : [...found];
  // The system's python3 when it has debugpy (Debian's python3-debugpy) and pyenv's do not.
  const system = "/usr/bin/python3";
  if (!quick && !found.some((p) => p.path === system) && await hasDebugpy(system)) {
    const version = new TextDecoder().decode(
      (await new Deno.Command(system, {
        args: ["-c", "import platform; print(platform.python_version())"],
      })
        .output()).stdout,
    ).trim();
    const minor = version.split(".").slice(0, 2).join(".");
    pythons.push({ path: system, version: `${version} (system)`, minor } as PythonInstall);
  }
  if (pythons.length === 0) {
    console.error("No CPython 3.8+ found");
    Deno.exit(1);
  }
  const results = await benchStartup(pythons, reps);
  console.log(`Start-up to the first stop (median of ${reps}), ${new Date().toISOString()}`);
  console.log(startupTable(results));
  if (jsonAt >= 0) {
    await Deno.writeTextFile(args[jsonAt + 1]!, JSON.stringify({ startup: results }, null, 2));
  }
}
