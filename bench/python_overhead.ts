/**
 * Overhead of debugging a CPU-bound program with breakpoints set but never hit: plain Python,
 * the qdb Python engine (`stopOnEntry: false`, one breakpoint in a function never called), and
 * `python -m pdb` with the same breakpoint (driven through stdin: `b`, `c`, `q`). Each runs a
 * few times on every CPython found, side by side; the table shows medians and ratios.
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

async function timePlain(python: string, program: string, args: string[]): Promise<number> {
  const start = performance.now();
  const out = await new Deno.Command(python, {
    args: [program, ...args],
    stdout: "null",
    stderr: "inherit",
    stdin: "null",
  }).output();
  if (!out.success) throw new Error(`${python} ${program} failed`);
  return (performance.now() - start) / 1000;
}

async function timeQdb(
  python: string,
  program: string,
  args: string[],
  line: number,
): Promise<number> {
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
  for await (const event of session.events) {
    if (event.e === "stack") stops++;
  }
  const status = await session.exited;
  if (status.code !== 0 || stops !== 0) {
    throw new Error(`qdb run failed: ${JSON.stringify(status)}, ${stops} stops`);
  }
  return (performance.now() - start) / 1000;
}

async function timePdb(
  python: string,
  program: string,
  args: string[],
  line: number,
): Promise<number> {
  const start = performance.now();
  const child = new Deno.Command(python, {
    args: ["-m", "pdb", program, ...args],
    stdin: "piped",
    stdout: "null",
    stderr: "inherit",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(`b ${program}:${line}\nc\nq\n`));
  await writer.close();
  const status = await child.status;
  if (!status.success) throw new Error(`pdb run failed: ${status.code}`);
  return (performance.now() - start) / 1000;
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
    const times = { plain: [] as number[], qdb: [] as number[], pdb: [] as number[] };
    const startup = { plain: [] as number[], qdb: [] as number[], pdb: [] as number[] };
    // Interleaved, so that a slow moment of the machine hits every mode alike.
    for (let i = 0; i < reps; i++) {
      startup.plain.push(await timePlain(python.path, EMPTY, []));
      startup.qdb.push(await timeQdb(python.path, EMPTY, [], emptyLine));
      startup.pdb.push(await timePdb(python.path, EMPTY, [], emptyLine));
      const args = [String(scale)];
      times.plain.push(await timePlain(python.path, PROGRAM, args));
      times.qdb.push(await timeQdb(python.path, PROGRAM, args, line));
      times.pdb.push(await timePdb(python.path, PROGRAM, args, line));
    }
    const [p, q, d] = [median(times.plain), median(times.qdb), median(times.pdb)];
    rows.push([
      python.version,
      ms(median(startup.plain)),
      ms(median(startup.qdb)),
      ms(median(startup.pdb)),
      p.toFixed(3),
      q.toFixed(3),
      d.toFixed(3),
      (q / p).toFixed(2),
      (d / p).toFixed(2),
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
  ];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const fmt = (r: string[]) => `| ${r.map((c, i) => c.padStart(widths[i]!)).join(" | ")} |`;
  console.log(
    `\nMedian of ${reps} runs. Start-up: an empty program, in ms. Then cpu.py ${scale} with a ` +
      `breakpoint at cpu.py:${line} that is never hit, in s.\n`,
  );
  console.log(fmt(header));
  console.log(`|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`);
  for (const row of rows) console.log(fmt(row));
}

function ms(seconds: number): string {
  return `${(seconds * 1000).toFixed(0)} ms`;
}

if (import.meta.main) await main();
