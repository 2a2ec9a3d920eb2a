/**
 * Step round trip (issue #13, item 2): a client sends `next` and waits for the stop it causes
 * (`stack`), many times in a row, on loopback, side by side in one run:
 *
 * - `qdb`: a `qdb serve` process and a `qdb trace` process; the client is a WebSocket in this
 *   process, speaking the protocol as it is written (no client library in the way);
 * - `relay`: the same tracer and client through a bare relay (`bench/relay.ts`, its own process)
 *   instead of the server: the ratio qdb / relay is what the server adds;
 * - `engine`: the Python engine in this process, no server and no link: what the bridge and
 *   the engine cost;
 * - `pdb`: `python -m pdb` driven over a pipe (`n`, then its prompt).
 *
 * All four are open at once and step in turn, in blocks of 100 (after 50 steps of warm-up
 * each), so that a change in the machine's load falls on every path alike (run one after the
 * other, a busy minute made the server look faster than a bare relay). p50, p90, p99 and max in
 * milliseconds, on every CPython found (`--quick`: the newest, 50 steps).
 *
 * Usage: `deno run --allow-all bench/step.ts [--quick] [--reps STEPS] [--json FILE]`
 *
 * @module
 */

import { pythonEngine } from "../engine/python/python_engine.ts";
import type { Message } from "../protocol/mod.ts";
import {
  type BenchFlags,
  benchPythons,
  fixed,
  kill,
  markedLine,
  outputOf,
  parseFlags,
  program,
  type PythonInstall,
  ratio,
  startServer,
  type Stats,
  stats,
  table,
  TOKEN,
  traceArgs,
} from "./_common.ts";

const PROGRAM = program("step.py");
const WARM_UP = 50;
/** Steps each path takes in its turn. */
const BLOCK = 100;

/** One path, open and stopped at the step program's breakpoint. */
interface Stepper {
  /** One round trip: `next`, and the stop it causes. */
  step(): Promise<unknown>;
  close(): Promise<void>;
}

/** The ways measured. */
export type Path = "qdb" | "relay" | "engine" | "pdb";

/** The figures of one Python. */
export interface StepResult {
  /** The Python's version. */
  python: string;
  /** Round trips measured per path. */
  steps: number;
  /** Milliseconds per round trip, per path. */
  ms: Record<Path, Stats>;
}

/** A WebSocket client that hands out messages one at a time. */
export async function wsClient(url: string): Promise<{
  send(msg: Message): void;
  next(e: string | string[]): Promise<Message>;
  close(): void;
}> {
  const socket = new WebSocket(url);
  const queue: Message[] = [];
  let wake: (() => void) | undefined;
  let closed = false;
  socket.onmessage = (event) => {
    queue.push(JSON.parse(String(event.data)) as Message);
    wake?.();
  };
  socket.onclose = () => {
    closed = true;
    wake?.();
  };
  await new Promise((resolve, reject) => {
    socket.onopen = resolve;
    socket.onerror = () => reject(new Error(`Cannot open ${url}`));
  });
  return {
    send: (msg) => socket.send(JSON.stringify(msg)),
    async next(e) {
      const wanted = typeof e === "string" ? [e] : e;
      while (true) {
        const msg = queue.shift();
        if (msg && wanted.includes(msg.e)) return msg;
        if (msg?.e === "error") throw new Error(`error: ${JSON.stringify(msg.p)}`);
        if (msg) continue;
        if (closed) throw new Error(`The connection closed before "${e}"`);
        await new Promise<void>((resolve) => wake = resolve);
      }
    },
    close: () => socket.close(),
  };
}

/**
 * Waits for the answer to the client's `start` (id 0): the stop, or `running` and then the
 * stop at the breakpoint. A stop from before the client attached may come first (the server
 * keeps what came before anyone attached): stepping before the answer would race with it.
 */
export async function settled(client: { next(e: string[]): Promise<Message> }): Promise<void> {
  while (true) {
    const msg = await client.next(["stack", "running"]);
    if (msg.id !== 0) continue;
    if (msg.e === "running") await client.next(["stack"]);
    return;
  }
}

/** Steps `n` times after the warm-up; milliseconds of each round trip. */
async function loop(n: number, step: () => Promise<unknown>): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < WARM_UP + n; i++) {
    const t0 = performance.now();
    await step();
    if (i >= WARM_UP) times.push(performance.now() - t0);
  }
  return times;
}

/** `n` round trips of a client: `next`, then the `stack` it causes. */
export function nextUntilStack(
  client: { send(msg: Message): void; next(e: string): Promise<Message> },
  n: number,
): Promise<number[]> {
  return loop(n, () => nextStack(client));
}

/** One round trip of a client: `next`, then the `stack` it causes. */
function nextStack(
  client: { send(msg: Message): void; next(e: string): Promise<Message> },
): Promise<Message> {
  client.send({ e: "next" });
  return client.next("stack");
}

/** `qdb trace` of the step program, stopped at its breakpoint, linked to `tracerUrl`. */
export function trace(
  python: PythonInstall,
  tracerUrl: string,
  session: string,
): Deno.ChildProcess {
  const argv = traceArgs({
    server: tracerUrl,
    session,
    python: python.path,
    breakpoint: `${PROGRAM}:${markedLine(PROGRAM, "@step")}`,
    argv: [PROGRAM],
  });
  return new Deno.Command(argv[0]!, {
    args: argv.slice(1),
    stdin: "null",
    stdout: "null",
    // Its status line ("... is session ..."): noise here.
    stderr: "null",
  }).spawn();
}

async function throughServer(python: PythonInstall): Promise<Stepper> {
  const server = await startServer();
  const session = `step-${crypto.randomUUID()}`;
  const tracer = trace(python, server.tracer, session);
  try {
    const client = await wsClient(`${server.client}/${session}`);
    client.send({ e: "start", p: { protocol: 2, auth: TOKEN }, id: 0 });
    await client.next("attached");
    await settled(client);
    return {
      step: () => nextStack(client),
      close: async () => {
        client.close();
        await kill(tracer);
        await server.close();
      },
    };
  } catch (error) {
    await kill(tracer);
    await server.close();
    throw error;
  }
}

/**
 * `n` step round trips of the step program traced to `tracerUrl`, by a client of `clientUrl`
 * (the same server, or another of its cluster).
 */
export async function stepsThrough(
  python: PythonInstall,
  tracerUrl: string,
  clientUrl: string,
  n: number,
): Promise<number[]> {
  const session = `step-${crypto.randomUUID()}`;
  const tracer = trace(python, tracerUrl, session);
  try {
    const client = await wsClient(`${clientUrl}/${session}`);
    try {
      client.send({ e: "start", p: { protocol: 2, auth: TOKEN }, id: 0 });
      await client.next("attached");
      await settled(client);
      return await nextUntilStack(client, n);
    } finally {
      client.close();
    }
  } finally {
    await kill(tracer);
  }
}

async function throughRelay(python: PythonInstall): Promise<Stepper> {
  const relay = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-net", new URL("./relay.ts", import.meta.url).pathname],
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  let tracer: Deno.ChildProcess | undefined;
  try {
    const out = outputOf(relay.stdout, "relay");
    const m = await out.until(/clients (\S+) {2}tracers (\S+)/);
    out.drain();
    tracer = trace(python, m[2]!, "relay");
    const client = await wsClient(m[1]!);
    // What the server would send the tracer when a client attaches; it answers with its state.
    client.send({ e: "start", p: { client: "bench" }, id: 0 });
    await settled(client);
    const started = tracer;
    return {
      step: () => nextStack(client),
      close: async () => {
        client.close();
        await kill(started);
        await kill(relay);
      },
    };
  } catch (error) {
    await kill(tracer);
    await kill(relay);
    throw error;
  }
}

async function engineAlone(python: PythonInstall): Promise<Stepper> {
  const session = await pythonEngine.launch({
    program: PROGRAM,
    interpreter: python.path,
    stopOnEntry: false,
    breakpoints: [`${PROGRAM}:${markedLine(PROGRAM, "@step")}`],
    stdin: "null",
  });
  const events = session.events[Symbol.asyncIterator]();
  const nextStack = async () => {
    while (true) {
      const item = await events.next();
      if (item.done) throw new Error("The program ended");
      // The engine says a thread stopped; the core would ask for its frames.
      if (item.value.e === "stopped") return;
    }
  };
  await nextStack();
  return {
    step: () => {
      session.send({ e: "next" });
      return nextStack();
    },
    close: () => session.dispose(),
  };
}

async function pdb(python: PythonInstall): Promise<Stepper> {
  const child = new Deno.Command(python.path, {
    args: ["-m", "pdb", PROGRAM],
    stdin: "piped",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const writer = child.stdin.getWriter();
  const out = outputOf(child.stdout, "pdb");
  const say = async (line: string) => {
    out.forget();
    await writer.write(new TextEncoder().encode(`${line}\n`));
    await out.until(/\(Pdb\) $/);
  };
  const close = async () => {
    await writer.close().catch(() => {});
    await out.cancel();
    await kill(child);
  };
  try {
    await out.until(/\(Pdb\) $/);
    await say(`b ${markedLine(PROGRAM, "@step")}`);
    await say("c");
    return { step: () => say("n"), close };
  } catch (error) {
    await close();
    throw error;
  }
}

/** Each path's round trips, `n` each after the warm-up, in turns of BLOCK. */
async function interleaved(
  paths: Record<Path, Stepper>,
  n: number,
): Promise<Record<Path, number[]>> {
  const names = Object.keys(paths) as Path[];
  const times = Object.fromEntries(names.map((p) => [p, [] as number[]])) as Record<
    Path,
    number[]
  >;
  for (const p of names) {
    for (let i = 0; i < WARM_UP; i++) await paths[p].step();
  }
  for (let done = 0; done < n; done += BLOCK) {
    for (const p of names) {
      for (let i = done; i < Math.min(n, done + BLOCK); i++) {
        const t0 = performance.now();
        await paths[p].step();
        times[p].push(performance.now() - t0);
      }
    }
  }
  return times;
}

/** Runs the benchmark: `flags.reps` steps (default 10,000; 50 with `--quick`). */
export async function benchStep(flags: BenchFlags): Promise<StepResult[]> {
  const steps = flags.reps ?? (flags.quick ? 50 : 10_000);
  const results: StepResult[] = [];
  for (const python of await benchPythons(flags.quick)) {
    const open: Partial<Record<Path, Stepper>> = {};
    try {
      open.qdb = await throughServer(python);
      open.relay = await throughRelay(python);
      open.engine = await engineAlone(python);
      open.pdb = await pdb(python);
      const times = await interleaved(open as Record<Path, Stepper>, steps);
      results.push({
        python: python.version,
        steps,
        ms: {
          qdb: stats(times.qdb),
          relay: stats(times.relay),
          engine: stats(times.engine),
          pdb: stats(times.pdb),
        },
      });
    } finally {
      for (const stepper of Object.values(open)) await stepper.close();
    }
    if (!flags.quick) console.error(`step: Python ${python.version} done`);
  }
  return results;
}

/** The table of the results. */
export function stepTable(results: StepResult[]): string {
  const paths: Path[] = ["qdb", "relay", "engine", "pdb"];
  const rows = [[
    "python",
    ...paths.flatMap((p) => [`${p} p50`, `${p} p99`]),
    "qdb max",
    "qdb/relay p50",
    "qdb/relay p99",
  ]];
  for (const r of results) {
    rows.push([
      r.python,
      ...paths.flatMap((p) => [fixed(r.ms[p].p50), fixed(r.ms[p].p99)]),
      fixed(r.ms.qdb.max, 1),
      ratio(r.ms.qdb.p50 / r.ms.relay.p50),
      ratio(r.ms.qdb.p99 / r.ms.relay.p99),
    ]);
  }
  return `Step round trip, ms (${results[0]?.steps ?? 0} steps):\n${table(rows)}`;
}

if (import.meta.main) {
  const flags = parseFlags(Deno.args);
  const results = await benchStep(flags);
  console.log(stepTable(results));
  if (flags.json) await Deno.writeTextFile(flags.json, JSON.stringify(results, null, 2));
}
