/**
 * Inspection (issue #13, item 3): the time and the size of the answers an editor asks for at a
 * stop, through a `qdb serve` process and a `qdb trace` process on loopback, with a client in
 * this process (`programs/inspect.py`, stopped where its big values are alive):
 *
 * - threads, then the stopped thread's stack, then its top frame's scopes, with 50 more
 *   threads alive (waiting);
 * - the locals, each previewed: a list of 10^7 items, a dict of 10^6 keys, a 100 MB string, a
 *   linked list 1,000 deep;
 * - a page of 100 children from the middle of the list and of the dict;
 * - the string evaluated (a bounded repr);
 * - the linked list's children, and a walk down its 1,000 `next`s, one page each.
 *
 * Milliseconds (p50, p99, max of `--reps` rounds, default 20) and the bytes of each reply's
 * payload as JSON, on the newest CPython (`--quick`: small values). Those rounds ask again at
 * one stop, where the bridge keeps what it computed (the cached cost); then the program passes
 * its breakpoint `--reps` more times, and the first page of the list and of the dict is timed
 * at each new stop (the cost an editor pays when it opens a value).
 *
 * Usage: `deno run --allow-all bench/inspect.ts [--quick] [--reps N] [--json FILE]`
 *
 * @module
 */

import { QdbClient } from "../client/client.ts";
import type { Variable } from "../protocol/mod.ts";
import {
  type BenchFlags,
  benchPythons,
  fixed,
  kill,
  markedLine,
  parseFlags,
  program,
  startServer,
  type Stats,
  stats,
  table,
  TOKEN,
  traceArgs,
} from "./_common.ts";

const PROGRAM = program("inspect.py");

/** The sizes of the values inspected. */
export interface InspectSizes {
  /** Items of the list. */
  items: number;
  /** Keys of the dict. */
  keys: number;
  /** Bytes of the string. */
  bytes: number;
  /** Nodes of the linked list. */
  depth: number;
  /** Idle threads besides the main one. */
  threads: number;
}

const SIZES: Record<"full" | "quick", InspectSizes> = {
  full: { items: 10_000_000, keys: 1_000_000, bytes: 100 * 1024 * 1024, depth: 1000, threads: 50 },
  quick: { items: 10_000, keys: 1_000, bytes: 100_000, depth: 20, threads: 3 },
};

/** One measured request (or sequence). */
export interface InspectFigure {
  /** What was asked. */
  what: string;
  /** Milliseconds per round. */
  ms: Stats;
  /** Bytes of the replies' payloads, as JSON. */
  bytes: number;
}

/** The figures of one Python. */
export interface InspectResult {
  /** The Python's version. */
  python: string;
  /** The sizes of the values. */
  sizes: InspectSizes;
  /** One per request measured. */
  figures: InspectFigure[];
}

function byName(variables: Variable[], name: string): Variable {
  const found = variables.find((v) => v.name === name);
  if (!found) throw new Error(`No variable ${name}: ${variables.map((v) => v.name).join(", ")}`);
  return found;
}

/** Runs the benchmark on the newest Python. */
export async function benchInspect(flags: BenchFlags): Promise<InspectResult[]> {
  const python = (await benchPythons(true))[0];
  if (!python) throw new Error("No CPython 3.8+ found");
  const sizes = flags.quick ? SIZES.quick : SIZES.full;
  const reps = flags.reps ?? (flags.quick ? 2 : 20);
  await using server = await startServer();
  const session = `inspect-${crypto.randomUUID()}`;
  const argv = traceArgs({
    server: server.tracer,
    session,
    python: python.path,
    breakpoint: `${PROGRAM}:${markedLine(PROGRAM, "@inspect")}`,
    argv: [
      PROGRAM,
      ...[sizes.items, sizes.keys, sizes.bytes, sizes.depth, sizes.threads, reps + 1].map(String),
    ],
  });
  const tracer = new Deno.Command(argv[0]!, {
    args: argv.slice(1),
    stdin: "null",
    stdout: "null",
    // Its status line ("... is session ..."): noise here.
    stderr: "null",
  }).spawn();
  try {
    await using client = await QdbClient.connect(server.client, { session, auth: TOKEN });
    const events = client.events[Symbol.asyncIterator]();
    /** The next stop's thread. */
    const nextStop = async () => {
      while (true) {
        const item = await events.next();
        if (item.done) throw new Error("The session ended");
        const p = item.value.p as { thread?: { id: number }; reason?: string } | undefined;
        if (item.value.e === "stack" && p?.thread && p.reason !== "select") return p.thread.id;
      }
    };
    const thread = await nextStop();
    const figures: InspectFigure[] = [];
    const measure = async (what: string, rounds: number, fn: () => Promise<unknown[]>) => {
      const times: number[] = [];
      let bytes = 0;
      for (let i = 0; i < rounds; i++) {
        const t0 = performance.now();
        const replies = await fn();
        times.push(performance.now() - t0);
        bytes = replies.reduce<number>((n, r) => n + JSON.stringify(r).length, 0);
      }
      figures.push({ what, ms: stats(times), bytes });
    };
    await measure(
      `threads + stack_trace + scopes (${sizes.threads + 1} threads)`,
      reps,
      async () => {
        const threads = await client.request("threads");
        const stack = await client.request("stack_trace", { thread, levels: 20 });
        const scopes = await client.request("scopes", { frame: stack.frames[0]!.id });
        return [threads, stack, scopes];
      },
    );
    const { frames } = await client.request("stack_trace", { thread, levels: 1 });
    const { scopes } = await client.request("scopes", { frame: frames[0]!.id });
    const locals = scopes.find((s) => s.kind === "locals")!;
    let variables: Variable[] = [];
    await measure("locals: the five big values previewed", reps, async () => {
      const reply = await client.request("variables", { ref: locals.ref });
      variables = reply.variables;
      return [reply];
    });
    const list = byName(variables, "big_list");
    const dict = byName(variables, "big_dict");
    const linked = byName(variables, "linked");
    const mid = (n: number) => Math.floor(n / 2);
    await measure(`list of ${sizes.items}: 100 items from the middle`, reps, async () => [
      await client.request("variables", { ref: list.ref, start: mid(sizes.items), count: 100 }),
    ]);
    await measure(`dict of ${sizes.keys}: 100 keys from the middle`, reps, async () => [
      await client.request("variables", { ref: dict.ref, start: mid(sizes.keys), count: 100 }),
    ]);
    await measure(`string of ${sizes.bytes} bytes: evaluated`, reps, async () => [
      await client.request("evaluate", { expr: "big_str" }),
    ]);
    await measure(`linked list ${sizes.depth} deep: its children`, reps, async () => [
      await client.request("variables", { ref: linked.ref }),
    ]);
    await measure(
      `linked list: walk down ${sizes.depth - 1} next (all pages)`,
      Math.min(reps, 3),
      async () => {
        const replies = [];
        let ref = linked.ref;
        for (let level = 1; level < sizes.depth; level++) {
          const reply = await client.request("variables", { ref });
          replies.push(reply);
          ref = byName(reply.variables, "next").ref;
        }
        return replies;
      },
    );
    // The first page at each new stop: nothing kept from the last.
    const first = { list: [] as number[], dict: [] as number[] };
    let bytes = { list: 0, dict: 0 };
    for (let i = 0; i < reps; i++) {
      client.send("continue");
      const at = await nextStop();
      const top = (await client.request("stack_trace", { thread: at, levels: 1 })).frames[0]!;
      const scope = (await client.request("scopes", { frame: top.id })).scopes
        .find((s) => s.kind === "locals")!;
      const values = (await client.request("variables", { ref: scope.ref })).variables;
      for (
        const [key, name, n] of [["list", "big_list", sizes.items], [
          "dict",
          "big_dict",
          sizes.keys,
        ]] as const
      ) {
        const t0 = performance.now();
        const page = await client.request("variables", {
          ref: byName(values, name).ref,
          start: mid(n),
          count: 100,
        });
        first[key].push(performance.now() - t0);
        bytes = { ...bytes, [key]: JSON.stringify(page).length };
      }
    }
    figures.push(
      {
        what: `list of ${sizes.items}: 100 items from the middle, first at each stop`,
        ms: stats(first.list),
        bytes: bytes.list,
      },
      {
        what: `dict of ${sizes.keys}: 100 keys from the middle, first at each stop`,
        ms: stats(first.dict),
        bytes: bytes.dict,
      },
    );
    return [{ python: python.version, sizes, figures }];
  } finally {
    await kill(tracer);
  }
}

/** The table of the results. */
export function inspectTable(results: InspectResult[]): string {
  return results.map((r) => {
    const rows = [["request", "p50 ms", "p99 ms", "max ms", "bytes"]];
    for (const f of r.figures) {
      rows.push([f.what, fixed(f.ms.p50), fixed(f.ms.p99), fixed(f.ms.max), String(f.bytes)]);
    }
    return `Inspection, Python ${r.python}:\n${table(rows)}`;
  }).join("\n\n");
}

if (import.meta.main) {
  const flags = parseFlags(Deno.args);
  const results = await benchInspect(flags);
  console.log(inspectTable(results));
  if (flags.json) await Deno.writeTextFile(flags.json, JSON.stringify(results, null, 2));
}
