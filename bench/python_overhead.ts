/**
 * Overhead of debugging a CPU-bound program with breakpoints set but never hit: plain Python,
 * the qdb Python engine (`stopOnEntry: false`, one breakpoint in a function never called), and
 * `python -m pdb` with the same breakpoint (driven through stdin: `b`, `c`, `q`). Each runs a
 * few times on every CPython found, side by side; the table shows medians and ratios.
 *
 * Memory: each program reports its own peak resident set size at its end; under qdb that
 * includes the bridge, which runs inside the debugged process (the tracer is a separate one).
 *
 * Two programs: an empty one (start-up cost: launching the interpreter and, for qdb, the bridge
 * and its socket) and the CPU-bound one scaled up (`--scale`, default 4) so that its run time,
 * not start-up, decides the ratios.
 *
 * Usage: `deno run --allow-all bench/python_overhead.ts [--reps N] [--scale N]`
 *
 * @module
 */

import { pythonEngine } from "../engine/python/python_engine.ts";
import { findPythons } from "../tests/support/pythons.ts";

const PROGRAM = new URL("./cpu.py", import.meta.url).pathname;
const EMPTY = new URL("./empty.py", import.meta.url).pathname;

/** The line marked `# @bench_breakpoint` in `program`: in a function that is never called. */
function breakpointLine(program: string): number {
  const lines = Deno.readTextFileSync(program).split("\n");
  return lines.findIndex((l) => l.includes("# @bench_breakpoint")) + 1;
}

/** One run: wall time, and the program's peak resident memory as it reported it. */
interface Run {
  seconds: number;
  rssKb: number;
}

/** The program prints `qdb-bench-maxrss-kb N` last (see cpu.py). */
function peakRss(stdout: string): number {
  const m = /qdb-bench-maxrss-kb (\d+)/.exec(stdout);
  if (!m) throw new Error(`The program did not report its memory: ${stdout.slice(-200)}`);
  return Number(m[1]);
}

async function runPlain(python: string, program: string, args: string[]): Promise<Run> {
  const start = performance.now();
  const out = await new Deno.Command(python, {
    args: [program, ...args],
    stdout: "piped",
    stderr: "inherit",
    stdin: "null",
  }).output();
  const seconds = (performance.now() - start) / 1000;
  if (!out.success) throw new Error(`${python} ${program} failed`);
  return { seconds, rssKb: peakRss(new TextDecoder().decode(out.stdout)) };
}

async function runQdb(python: string, program: string, args: string[], line: number): Promise<Run> {
  const start = performance.now();
  await using session = await pythonEngine.launch({
    program,
    args,
    interpreter: python,
    stopOnEntry: false,
    breakpoints: [`${program}:${line}`],
    stdin: "null",
  });
  let stops = 0;
  let stdout = "";
  for await (const event of session.events) {
    if (event.e === "stack") stops++;
    const p = event.p as { input?: string; output?: string } | undefined;
    if (event.e === "print" && p?.input === "<stdout>") stdout += p.output;
  }
  const status = await session.exited;
  const seconds = (performance.now() - start) / 1000;
  if (status.code !== 0 || stops !== 0) {
    throw new Error(`qdb run failed: ${JSON.stringify(status)}, ${stops} stops`);
  }
  return { seconds, rssKb: peakRss(stdout) };
}

async function runPdb(python: string, program: string, args: string[], line: number): Promise<Run> {
  const start = performance.now();
  const child = new Deno.Command(python, {
    args: ["-m", "pdb", program, ...args],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(`b ${program}:${line}\nc\nq\n`));
  await writer.close();
  const out = await child.output();
  const seconds = (performance.now() - start) / 1000;
  if (!out.success) throw new Error(`pdb run failed: ${out.code}`);
  return { seconds, rssKb: peakRss(new TextDecoder().decode(out.stdout)) };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

function option(name: string, fallback: number): number {
  const i = Deno.args.indexOf(name);
  return i >= 0 ? Number(Deno.args[i + 1]) : fallback;
}

async function main(): Promise<void> {
  const reps = option("--reps", 3);
  const scale = option("--scale", 4);
  const line = breakpointLine(PROGRAM);
  const emptyLine = breakpointLine(EMPTY);
  const rows: string[][] = [];
  for (const python of await findPythons()) {
    const runs = { plain: [] as Run[], qdb: [] as Run[], pdb: [] as Run[] };
    const startup = { plain: [] as Run[], qdb: [] as Run[], pdb: [] as Run[] };
    // Interleaved, so that a slow moment of the machine hits every mode alike.
    for (let i = 0; i < reps; i++) {
      startup.plain.push(await runPlain(python.path, EMPTY, []));
      startup.qdb.push(await runQdb(python.path, EMPTY, [], emptyLine));
      startup.pdb.push(await runPdb(python.path, EMPTY, [], emptyLine));
      const args = [String(scale)];
      runs.plain.push(await runPlain(python.path, PROGRAM, args));
      runs.qdb.push(await runQdb(python.path, PROGRAM, args, line));
      runs.pdb.push(await runPdb(python.path, PROGRAM, args, line));
    }
    const secs = (r: Run[]) => median(r.map((x) => x.seconds));
    const rss = (r: Run[]) => median(r.map((x) => x.rssKb));
    const [p, q, d] = [secs(runs.plain), secs(runs.qdb), secs(runs.pdb)];
    const [mp, mq, md] = [rss(runs.plain), rss(runs.qdb), rss(runs.pdb)];
    rows.push([
      python.version,
      ms(secs(startup.plain)),
      ms(secs(startup.qdb)),
      ms(secs(startup.pdb)),
      p.toFixed(3),
      q.toFixed(3),
      d.toFixed(3),
      (q / p).toFixed(2),
      (d / p).toFixed(2),
      `${(mp / 1024).toFixed(1)} MB`,
      `${(mq / 1024).toFixed(1)} MB`,
      `${(md / 1024).toFixed(1)} MB`,
      (mq / mp).toFixed(2),
    ]);
    console.log(`Python ${python.version}: done`);
  }
  const header = [
    "Python",
    "start plain",
    "start qdb",
    "start pdb",
    "plain s",
    "qdb s",
    "pdb s",
    "qdb/plain",
    "pdb/plain",
    "rss plain",
    "rss qdb",
    "rss pdb",
    "rss qdb/plain",
  ];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const fmt = (r: string[]) => `| ${r.map((c, i) => c.padStart(widths[i]!)).join(" | ")} |`;
  console.log(
    `\nMedian of ${reps} runs. Start-up: an empty program, in ms. Then cpu.py ${scale} with a ` +
      `breakpoint at cpu.py:${line} that is never hit, in s, and the program's peak memory ` +
      `(resident set, as the debugged process reports it).\n`,
  );
  console.log(fmt(header));
  console.log(`|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`);
  for (const row of rows) console.log(fmt(row));
}

function ms(seconds: number): string {
  return `${(seconds * 1000).toFixed(0)} ms`;
}

if (import.meta.main) await main();
