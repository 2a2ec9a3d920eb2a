/**
 * Attaching to a running program (issue 29), side by side in one run, each attach on a fresh
 * copy of `programs/attach.py` (a busy loop that prints the longest time between two of its
 * turns every 100 ms: how long it was held):
 *
 * - `engine`: `pythonEngine.attach` in this process, until the session is there (gdb put the
 *   bridge in, it connected and said hello), then a detach;
 * - `trace`: `qdb trace --pid` (its own process, Deno's start included) until it says the
 *   session is on the server, then a detach (SIGINT to the tracer);
 * - `debugpy`: `python -m debugpy --listen PORT --pid PID` until the port takes a connection
 *   (Debian's python3-debugpy: on the system Python only; debugpy cannot be detached, so the
 *   program is ended).
 *
 * For each: the time to attachable, and the program's longest hold while it was being attached
 * (the worst gap it printed from the start of the attach to 300 ms after it), p50 and p99 in ms,
 * over `--reps` attaches (default 20; 2 with `--quick`), the paths in turn.
 *
 * Usage: `deno run --allow-all bench/attach.ts [--quick] [--reps N] [--json FILE]`
 *
 * @module
 */

import { pythonEngine } from "../engine/python/python_engine.ts";
import {
  type BenchFlags,
  benchPythons,
  fixed,
  freePort,
  hasDebugpy,
  kill,
  parseFlags,
  program,
  type PythonInstall,
  QDB_COMMAND,
  startServer,
  type Stats,
  stats,
  table,
  TOKEN,
} from "./_common.ts";
import { attachSkipReason } from "../tests/support/ptrace.ts";

/**
 * The program, copied to a folder of its own for the run (see {@linkcode benchAttach}): run
 * from bench/programs, its sys.path[0] would hold programs/inspect.py, which shadows the
 * standard library's for what debugpy imports.
 */
let PROGRAM = program("attach.py");
/** After the attach, how long its holds still count. */
const AFTER_MS = 300;

/** The ways measured. */
export type AttachPath = "engine" | "trace" | "debugpy";

/** The figures of one Python. */
export interface AttachResult {
  python: string;
  reps: number;
  /** Time to attachable, ms, by path (debugpy where it runs). */
  attachMs: Partial<Record<AttachPath, Stats>>;
  /** The program's longest hold during the attach, ms, by path. */
  holdMs: Partial<Record<AttachPath, Stats>>;
}

/** A fresh copy of the program, and the gaps it printed with when they came. */
async function startTarget(python: string) {
  const child = new Deno.Command(python, {
    args: [PROGRAM],
    stdin: "null",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const gaps: { at: number; ms: number }[] = [];
  const { promise: isReady, resolve: ready } = Promise.withResolvers<void>();
  void (async () => {
    const decoder = new TextDecoder();
    let partial = "";
    try {
      for await (const chunk of child.stdout) {
        partial += decoder.decode(chunk, { stream: true });
        const lines = partial.split("\n");
        partial = lines.pop()!;
        for (const line of lines) {
          if (line === "ready") ready();
          const m = /^gap ([\d.]+)$/.exec(line);
          if (m) gaps.push({ at: performance.now(), ms: Number(m[1]) });
        }
      }
    } catch { /* killed */ }
  })();
  await isReady;
  // A few windows first: the loop is warm.
  await new Promise((resolve) => setTimeout(resolve, 300));
  return {
    child,
    /** The worst hold printed for the windows from `from` to `to` (+ one window). */
    async worst(from: number, to: number): Promise<number> {
      while (gaps.at(-1)!.at < to + AFTER_MS) {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      return Math.max(
        0,
        ...gaps.filter((g) => g.at >= from).filter((g) => g.at <= to + AFTER_MS).map((g) => g.ms),
      );
    },
  };
}

/** One attach by `path` to a fresh program: [ms to attachable, worst hold ms]. */
async function attachOnce(
  path: AttachPath,
  python: PythonInstall,
  tracerUrl: string,
): Promise<[number, number]> {
  const target = await startTarget(python.path);
  try {
    const start = performance.now();
    let end: number;
    if (path === "engine") {
      const session = await pythonEngine.attach({ pid: target.child.pid });
      end = performance.now();
      const hold = await target.worst(start, end);
      await session.dispose();
      return [end - start, hold];
    }
    if (path === "trace") {
      const [command, ...args] = QDB_COMMAND;
      const trace = new Deno.Command(command!, {
        args: [
          ...args,
          "trace",
          "--pid",
          String(target.child.pid),
          "--server",
          tracerUrl,
          "--token",
          TOKEN,
          "--quiet",
        ],
        stdin: "null",
        stdout: "null",
        stderr: "piped",
      }).spawn();
      const decoder = new TextDecoder();
      let said = "";
      for await (const chunk of trace.stderr) {
        said += decoder.decode(chunk, { stream: true });
        if (/is session/.test(said)) break;
      }
      end = performance.now();
      if (!/is session/.test(said)) throw new Error(`qdb trace --pid failed: ${said}`);
      const hold = await target.worst(start, end);
      trace.kill("SIGINT");
      await trace.status;
      return [end - start, hold];
    }
    const port = freePort();
    await new Deno.Command(python.path, {
      args: ["-m", "debugpy", "--listen", `127.0.0.1:${port}`, "--pid", String(target.child.pid)],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).output();
    while (true) {
      try {
        const conn = await Deno.connect({ hostname: "127.0.0.1", port });
        conn.close();
        break;
      } catch {
        if (performance.now() - start > 60_000) throw new Error("debugpy never listened");
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    }
    end = performance.now();
    return [end - start, await target.worst(start, end)];
  } finally {
    await kill(target.child);
  }
}

/** Runs the benchmark. */
export async function benchAttach(flags: BenchFlags): Promise<AttachResult[]> {
  const skip = await attachSkipReason();
  if (skip) {
    console.error(`attach: skipped: ${skip}`);
    return [];
  }
  const reps = flags.reps ?? (flags.quick ? 2 : 20);
  const results: AttachResult[] = [];
  const dir = await Deno.makeTempDir({ prefix: "qdb-bench-attach-" });
  await Deno.copyFile(program("attach.py"), `${dir}/attach.py`);
  PROGRAM = `${dir}/attach.py`;
  await using _dir = { [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }) };
  await using server = await startServer();
  for (const python of await benchPythons(flags.quick)) {
    const paths: AttachPath[] = ["engine", "trace"];
    if (python.path === "/usr/bin/python3" && await hasDebugpy(python.path)) paths.push("debugpy");
    const times: Record<string, number[]> = {};
    const holds: Record<string, number[]> = {};
    for (let i = 0; i < reps; i++) {
      for (const path of paths) {
        const [ms, hold] = await attachOnce(path, python, server.tracer);
        (times[path] ??= []).push(ms);
        (holds[path] ??= []).push(hold);
      }
    }
    results.push({
      python: python.version,
      reps,
      attachMs: Object.fromEntries(paths.map((p) => [p, stats(times[p]!)])),
      holdMs: Object.fromEntries(paths.map((p) => [p, stats(holds[p]!)])),
    });
    if (!flags.quick) console.error(`attach: Python ${python.version} done`);
  }
  return results;
}

/** The table of the results. */
export function attachTable(results: AttachResult[]): string {
  const paths: AttachPath[] = ["engine", "trace", "debugpy"];
  const rows = [[
    "python",
    ...paths.flatMap((p) => [`${p} p50`, `${p} p99`, `hold p50`, `hold p99`]),
  ]];
  for (const r of results) {
    rows.push([
      r.python,
      ...paths.flatMap((p) => [
        fixed(r.attachMs[p]?.p50, 0),
        fixed(r.attachMs[p]?.p99, 0),
        fixed(r.holdMs[p]?.p50, 0),
        fixed(r.holdMs[p]?.p99, 0),
      ]),
    ]);
  }
  return `Attach to a running program, ms to attachable and the program's longest hold (${
    results[0]?.reps ?? 0
  } attaches):\n${table(rows)}`;
}

if (import.meta.main) {
  const flags = parseFlags(Deno.args);
  const results = await benchAttach(flags);
  console.log(attachTable(results));
  if (flags.json) await Deno.writeTextFile(flags.json, JSON.stringify(results, null, 2));
}
