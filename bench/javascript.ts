/**
 * The JavaScript engine, side by side with V8's inspector driven directly over CDP (what a
 * debugger of its own would do, with no qdb between), in one run:
 *
 * - step round trip: a `next` and its stop, through qdb (a client, the server, the tracer and
 *   the core), through the engine alone, and as one CDP `stepOver` and its `paused`, in
 *   interleaved blocks of 100 (so that load falls on all three alike);
 * - start-up to the first stop: `qdb`'s engine (the runtime started, connected, stopped at the
 *   program's first line) against `node --inspect-brk` and a CDP client doing the same;
 * - an unhit breakpoint's cost: call-heavy work (fib), timed by the program itself, under the
 *   engine with a breakpoint in a function never called, against plain `node`.
 *
 * @module
 */

import { type BenchFlags, fixed, markedLine, type Stats, stats, table } from "./_common.ts";
import { javascriptEngine } from "../engine/javascript/javascript_engine.ts";
import { CdpClient } from "../engine/javascript/cdp.ts";
import { startRuntime } from "../engine/javascript/inspector.ts";
import type { EngineSession } from "../engine/engine.ts";
import { serve } from "../server.ts";
import { startTracer } from "../tracer.ts";
import { QdbClient } from "../client.ts";

const PROGRAM = new URL("./programs/step.js", import.meta.url).pathname;
const BLOCK = 100;

/** The figures of one run. */
export interface JavaScriptResult {
  /** Node's version. */
  runtime: string;
  /** Step round trips, ms. */
  step: { qdb: Stats; engine: Stats; cdp: Stats };
  /** Start-up to the first stop, ms. */
  startup: { qdb: Stats; cdp: Stats };
  /** The work's wall time, ms: plain node, and under the engine with an unhit breakpoint. */
  overhead: { plain: Stats; qdb: Stats };
}

function events(session: EngineSession) {
  const it = session.events[Symbol.asyncIterator]();
  return async (e: string) => {
    while (true) {
      const next = await it.next();
      if (next.done) throw new Error(`The program ended before ${e}`);
      if (next.value.e === e) return next.value;
    }
  };
}

/** A stepper of each kind, at the loop's line, and how to step it once. */
async function steppers() {
  const line = markedLine(PROGRAM, "@step");
  // Through qdb: server, tracer, core, engine.
  const server = await serve({ clientPort: 0, tracerPort: 0, token: "b" });
  const tracer = await startTracer({
    engine: javascriptEngine,
    program: PROGRAM,
    args: ["0"],
    stopOnEntry: false,
    breakpoints: [`${PROGRAM}:${line}`],
    server: server.tracerUrl,
    session: "js",
    token: "b",
    stdin: "null",
  });
  const client = await QdbClient.connect(server.clientUrl, { session: "js", auth: "b" });
  const stops = client.events[Symbol.asyncIterator]();
  const nextStop = async () => {
    while (true) {
      const next = await stops.next();
      if (next.done) throw new Error("qdb's session ended");
      if (next.value.e === "stack" && next.value.p.reason !== "select") return;
    }
  };
  await nextStop();
  // The engine alone.
  const engine = await javascriptEngine.launch({
    program: PROGRAM,
    args: ["0"],
    stopOnEntry: false,
    breakpoints: [`${PROGRAM}:${line}`],
    stdin: "null",
  });
  const engineNext = events(engine);
  await engineNext("stopped");
  // CDP straight to node.
  const node = await startNode();
  let paused: (() => void) | undefined;
  const cdp = await CdpClient.connect(node.url, (event) => {
    if (event.method === "Debugger.paused") paused?.();
  });
  const pause = () => new Promise<void>((resolve) => paused = resolve);
  await cdp.send("Debugger.enable");
  await cdp.send("Debugger.setBreakpointByUrl", {
    url: new URL(`file://${PROGRAM}`).href,
    lineNumber: line - 1,
  });
  let first = pause();
  await cdp.send("Runtime.runIfWaitingForDebugger");
  await first; // at the start
  first = pause();
  await cdp.send("Debugger.resume");
  await first; // at the loop
  return {
    qdb: async () => {
      client.send("next");
      await nextStop();
    },
    engine: async () => {
      engine.send({ e: "next" });
      await engineNext("stopped");
    },
    cdp: async () => {
      const stopped = pause();
      await cdp.send("Debugger.stepOver");
      await stopped;
    },
    async close() {
      client.close();
      await tracer.close();
      await server.close();
      await engine.dispose();
      cdp.close();
      node.process.kill("SIGKILL");
      await node.process.status;
    },
  };
}

/** `node --inspect-brk` on the program (stepping, not working), as qdb starts it. */
function startNode() {
  return startRuntime({
    runtime: "node",
    program: PROGRAM,
    args: ["0"],
    cwd: Deno.cwd(),
    env: undefined,
    stdin: "null",
  });
}

async function timed(f: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await f();
  return performance.now() - t0;
}

async function startupCdp(): Promise<void> {
  const node = await startNode();
  let resolve!: () => void;
  const paused = new Promise<void>((r) => resolve = r);
  const cdp = await CdpClient.connect(node.url, (e) => e.method === "Debugger.paused" && resolve());
  await cdp.send("Runtime.enable");
  await cdp.send("Debugger.enable");
  await cdp.send("Runtime.runIfWaitingForDebugger");
  await paused;
  cdp.close();
  node.process.kill("SIGKILL");
  await node.process.status;
}

async function startupQdb(): Promise<void> {
  const session = await javascriptEngine.launch({ program: PROGRAM, args: ["0"], stdin: "null" });
  await events(session)("stopped");
  await session.dispose();
}

/** The work's own time, as the program measured it (start-up not counted). */
function workMs(output: string): number {
  const ms = Number(/^work ([\d.]+)$/m.exec(output)?.[1]);
  if (!(ms >= 0)) throw new Error(`No work time in ${JSON.stringify(output.slice(0, 200))}`);
  return ms;
}

async function plainRun(rounds: number): Promise<number> {
  const out = await new Deno.Command("node", {
    args: [PROGRAM, String(rounds)],
    stdout: "piped",
    stderr: "null",
  }).output();
  if (!out.success) throw new Error("node failed");
  return workMs(new TextDecoder().decode(out.stdout));
}

async function qdbRun(rounds: number): Promise<number> {
  const session = await javascriptEngine.launch({
    program: PROGRAM,
    args: [String(rounds)],
    stopOnEntry: false,
    breakpoints: [`${PROGRAM}:${markedLine(PROGRAM, "@never")}`],
    stdin: "null",
  });
  let output = "";
  for await (const event of session.events) {
    if (event.e === "print") output += (event.p as { output: string }).output;
    if (event.e === "exited") break;
  }
  await session.dispose();
  return workMs(output);
}

/** Runs it: `flags.reps` steps of each kind (default 1,000; 20 with `--quick`). */
export async function benchJavaScript(flags: BenchFlags): Promise<JavaScriptResult> {
  const steps = flags.reps ?? (flags.quick ? 20 : 1000);
  const runs = flags.quick ? 1 : 5;
  const rounds = flags.quick ? 20 : 400;
  const version = await new Deno.Command("node", { args: ["--version"] }).output()
    .then((o) => new TextDecoder().decode(o.stdout).trim());
  const s = await steppers();
  const times = { qdb: [] as number[], engine: [] as number[], cdp: [] as number[] };
  try {
    for (const kind of ["qdb", "engine", "cdp"] as const) await s[kind](); // warm up
    for (let done = 0; done < steps; done += BLOCK) {
      for (const kind of ["qdb", "engine", "cdp"] as const) {
        for (let i = 0; i < Math.min(BLOCK, steps - done); i++) {
          times[kind].push(await timed(s[kind]));
        }
      }
    }
  } finally {
    await s.close();
  }
  const startup = { qdb: [] as number[], cdp: [] as number[] };
  const overhead = { plain: [] as number[], qdb: [] as number[] };
  for (let i = 0; i < runs; i++) {
    startup.qdb.push(await timed(startupQdb));
    startup.cdp.push(await timed(startupCdp));
    overhead.plain.push(await plainRun(rounds));
    overhead.qdb.push(await qdbRun(rounds));
  }
  return {
    runtime: `Node ${version}`,
    step: { qdb: stats(times.qdb), engine: stats(times.engine), cdp: stats(times.cdp) },
    startup: { qdb: stats(startup.qdb), cdp: stats(startup.cdp) },
    overhead: { plain: stats(overhead.plain), qdb: stats(overhead.qdb) },
  };
}

/** The tables of a run. */
export function javascriptTables(r: JavaScriptResult): string {
  const ms = (s: Stats) => [fixed(s.p50), fixed(s.p99)];
  return [
    `JavaScript (${r.runtime}): step round trip, ms (interleaved blocks of ${BLOCK}):`,
    table([
      ["qdb p50", "qdb p99", "engine p50", "engine p99", "CDP p50", "CDP p99", "qdb/CDP p50"],
      [
        ...ms(r.step.qdb),
        ...ms(r.step.engine),
        ...ms(r.step.cdp),
        fixed(r.step.qdb.p50 / r.step.cdp.p50),
      ],
    ]),
    "Start-up to the first stop, ms (median), and an unhit breakpoint's cost (fib, median ms):",
    table([
      ["qdb start", "CDP start", "qdb/CDP", "plain node", "qdb, unhit bp", "qdb/plain"],
      [
        fixed(r.startup.qdb.p50),
        fixed(r.startup.cdp.p50),
        fixed(r.startup.qdb.p50 / r.startup.cdp.p50),
        fixed(r.overhead.plain.p50),
        fixed(r.overhead.qdb.p50),
        fixed(r.overhead.qdb.p50 / r.overhead.plain.p50),
      ],
    ]),
  ].join("\n");
}
