/**
 * Overhead of debugging a CPU-bound program with breakpoints set but never hit: plain Python,
 * the qdb Python engine (`stopOnEntry: false`, one breakpoint in a function never called), and
 * `python -m pdb` with the same breakpoint (driven through stdin: `b`, `c`, `q`). Each runs a
 * few times on every CPython found, side by side; the table shows medians and ratios.
 *
 * Usage: `deno run --allow-all bench/python_overhead.ts [--reps N]`
 *
 * @module
 */

import { pythonEngine } from "../engine/python/python_engine.ts";
import { findPythons } from "../tests/support/pythons.ts";

const PROGRAM = new URL("./cpu.py", import.meta.url).pathname;

function breakpointLine(): number {
  const lines = Deno.readTextFileSync(PROGRAM).split("\n");
  return lines.findIndex((l) => l.includes("# @bench_breakpoint")) + 1;
}

async function timePlain(python: string): Promise<number> {
  const start = performance.now();
  const out = await new Deno.Command(python, {
    args: [PROGRAM],
    stdout: "null",
    stderr: "inherit",
    stdin: "null",
  }).output();
  if (!out.success) throw new Error(`${python} ${PROGRAM} failed`);
  return (performance.now() - start) / 1000;
}

async function timeQdb(python: string, line: number): Promise<number> {
  const start = performance.now();
  await using session = await pythonEngine.launch({
    program: PROGRAM,
    interpreter: python,
    stopOnEntry: false,
    breakpoints: [`${PROGRAM}:${line}`],
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

async function timePdb(python: string, line: number): Promise<number> {
  const start = performance.now();
  const child = new Deno.Command(python, {
    args: ["-m", "pdb", PROGRAM],
    stdin: "piped",
    stdout: "null",
    stderr: "inherit",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(`b ${PROGRAM}:${line}\nc\nq\n`));
  await writer.close();
  const status = await child.status;
  if (!status.success) throw new Error(`pdb run failed: ${status.code}`);
  return (performance.now() - start) / 1000;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

async function main(): Promise<void> {
  const repsArg = Deno.args.indexOf("--reps");
  const reps = repsArg >= 0 ? Number(Deno.args[repsArg + 1]) : 3;
  const line = breakpointLine();
  const rows: string[][] = [];
  for (const python of await findPythons()) {
    const plain: number[] = [];
    const qdb: number[] = [];
    const pdb: number[] = [];
    // Interleaved, so that a slow moment of the machine hits every mode alike.
    for (let i = 0; i < reps; i++) {
      plain.push(await timePlain(python.path));
      qdb.push(await timeQdb(python.path, line));
      pdb.push(await timePdb(python.path, line));
    }
    const p = median(plain);
    const q = median(qdb);
    const d = median(pdb);
    rows.push([
      python.version,
      p.toFixed(3),
      q.toFixed(3),
      d.toFixed(3),
      (q / p).toFixed(2),
      (d / p).toFixed(2),
    ]);
    console.log(`Python ${python.version}: done`);
  }
  const header = ["Python", "plain s", "qdb s", "pdb s", "qdb/plain", "pdb/plain"];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const fmt = (r: string[]) => `| ${r.map((c, i) => c.padStart(widths[i]!)).join(" | ")} |`;
  console.log(`\nMedian of ${reps} runs; breakpoint at cpu.py:${line} (never hit)\n`);
  console.log(fmt(header));
  console.log(`|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`);
  for (const row of rows) console.log(fmt(row));
}

if (import.meta.main) await main();
