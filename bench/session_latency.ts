/**
 * Latency of a typical session's requests, through the real protocol: a server, the tracer
 * with the Python engine and a client in this process, on loopback (as `qdb run`).
 *
 * - step: from sending `next` to receiving the next stop (`stack`), in a loop.
 * - inspect: after a stop, `threads`, then `stack_trace`, then `scopes` (protocol 2), one after
 *   the other, as an editor does at each stop.
 * - page: `variables` for 100 items of a list of ten million (protocol 2).
 *
 * Each is the median of `--reps` (default 200) round trips, on every CPython found (`--all`) or
 * the newest one. A server speaking protocol 1 (an older checkout) reports only `step`.
 *
 * Usage: `deno run --allow-all bench/session_latency.ts [--reps N] [--all] [--watches N]
 * [--threads N]` (`--watches N`: that many watched expressions, evaluated at every stop;
 * `--threads N`: that many idle threads in the program, held at every stop).
 *
 * @module
 */

import { QdbClient } from "../client/client.ts";
import { pythonEngine } from "../engine/python/python_engine.ts";
import type { Message } from "../protocol/mod.ts";
import { serve } from "../server.ts";
import { startTracer } from "../tracer.ts";
import { findPythons } from "../tests/support/pythons.ts";

const PROGRAM = new URL("./stepper.py", import.meta.url).pathname;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? NaN;
}

/** The next event named `e` from the client's events. */
async function next(events: AsyncIterator<Message>, e: string): Promise<Message> {
  while (true) {
    const item = await events.next();
    if (item.done) throw new Error(`The session ended before "${e}"`);
    if (item.value.e === e) return item.value;
  }
}

async function measure(python: string, reps: number, watches: number, threads: number) {
  const line = Deno.readTextFileSync(PROGRAM).split("\n")
    .findIndex((l) => l.includes("# @bench_step")) + 1;
  await using server = serve({ hostname: "127.0.0.1", clientPort: 0, tracerPort: 0 });
  const session = "bench";
  await using _tracer = await startTracer({
    engine: pythonEngine,
    program: PROGRAM,
    args: [String(threads)],
    interpreter: python,
    server: server.tracerUrl,
    session,
    stopOnEntry: false,
    breakpoints: [`${PROGRAM}:${line}`],
  });
  await using client = await QdbClient.connect(server.clientUrl, { session });
  const events = client.events[Symbol.asyncIterator]();
  const stop = await next(events, "stack");
  if (watches > 0) {
    client.send("set_watch", Array.from({ length: watches }, (_, i) => `total + ${i}`));
    await next(events, "watchlist");
  }
  const steps: number[] = [];
  // Stepping over the breakpoint's line twice per loop turn: next, next.
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    client.send("next");
    await next(events, "stack");
    steps.push(performance.now() - t0);
  }
  const result: Record<string, number> = { step: median(steps) };
  if (client.attached.protocol >= 2) {
    const thread = (stop.p as { thread: { id: number } }).thread.id;
    const inspect: number[] = [];
    const page: number[] = [];
    let bigRef = 0;
    for (let i = 0; i < reps; i++) {
      const t0 = performance.now();
      await client.request("threads");
      const { frames } = await client.request("stack_trace", { thread, levels: 20 });
      const { scopes } = await client.request("scopes", { frame: frames[0]!.id });
      inspect.push(performance.now() - t0);
      if (bigRef === 0) {
        const { variables } = await client.request("variables", { ref: scopes.at(-1)!.ref });
        bigRef = variables.find((v) => v.name === "big")!.ref;
      }
      const t1 = performance.now();
      const start = (i * 7919) % 9_999_900;
      await client.request("variables", { ref: bigRef, start, count: 100 });
      page.push(performance.now() - t1);
    }
    result.inspect = median(inspect);
    result.page = median(page);
  }
  client.send("disable", "hard");
  return result;
}

async function main() {
  const args = Deno.args;
  const repsAt = args.indexOf("--reps");
  const reps = repsAt >= 0 ? Number(args[repsAt + 1]) : 200;
  const watchesAt = args.indexOf("--watches");
  const watches = watchesAt >= 0 ? Number(args[watchesAt + 1]) : 0;
  const threadsAt = args.indexOf("--threads");
  const threads = threadsAt >= 0 ? Number(args[threadsAt + 1]) : 0;
  const all = await findPythons();
  const pythons = args.includes("--all") ? all : all.slice(-1);
  if (pythons.length === 0) throw new Error("No CPython 3.8+ found");
  console.log(
    `Median of ${reps} round trips, in ms (loopback, server + tracer + client), ` +
      `with ${watches} watches and ${threads} idle threads.\n`,
  );
  console.log("| Python | step | threads + stack_trace + scopes | variables (100 of 10^7) |");
  console.log("|--------|------|-------------------------------|-------------------------|");
  for (const python of pythons) {
    const r = await measure(python.path, reps, watches, threads);
    const f = (n: number | undefined) => n === undefined ? "-" : n.toFixed(2);
    console.log(`| ${python.version} | ${f(r.step)} | ${f(r.inspect)} | ${f(r.page)} |`);
  }
}

if (import.meta.main) await main();
