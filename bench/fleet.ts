/**
 * Fleet debugging (issue 25, item 7), side by side in one run:
 *
 * - **a snapshot's cost to the program**: a function timed from inside the program, called 105 ms
 *   apart (median and p99, µs), run plain, under qdb with no breakpoint, and under qdb with a
 *   snapshot breakpoint in it (a snapshot at every call);
 * - **a false condition on a hot line**: a loop of 2 million iterations, plain, under qdb with no
 *   breakpoint, and under qdb with a snapshot breakpoint on its line whose condition is false;
 * - **a group command**: the time from a group `set_break` to its `applied` (the last of 200
 *   members acknowledged it), the members simulated tracers that answer at once;
 * - **stored snapshots**: a server's memory (VmRSS) before and after it keeps 1,000 snapshots
 *   (10 sessions of 100), each of about 2 KiB.
 *
 * Usage: `deno run --allow-all bench/fleet.ts [--quick] [--reps N] [--json FILE]`
 *
 * @module
 */

import { GroupClient } from "../client/group.ts";
import { encodeFrame, PROTOCOL_VERSION } from "../protocol/mod.ts";
import {
  type BenchFlags,
  benchPythons,
  connectRawTracer,
  fixed,
  markedLine,
  outputOf,
  parseFlags,
  procKb,
  program,
  type PythonInstall,
  QDB_COMMAND,
  startServer,
  type Stats,
  stats,
  table,
  TOKEN,
} from "./_common.ts";
import { wsClient } from "./step.ts";

const SNAPCOST = program("snapcost.py");
const HOTCOND = program("hotcond.py");

/** The figures of one Python. */
export interface SnapshotCost {
  /** The Python's version. */
  python: string;
  /** A call's median and p99, µs: plain, under qdb, under qdb taking a snapshot in it. */
  callUs: Record<"plain" | "qdb" | "snapshot", { median: number; p99: number }>;
  /** The hot loop's seconds: plain, under qdb, with a false snapshot condition on its line. */
  hotSeconds: Record<"plain" | "qdb" | "falseCondition", number>;
}

/** Every figure of one run. */
export interface FleetResult {
  /** Per Python. */
  cost: SnapshotCost[];
  /** Milliseconds from a group `set_break` to its `applied`, over `members` members. */
  groupMs: Stats & { members: number };
  /** Server memory for stored snapshots. */
  stored: { snapshots: number; bytes: number; rssKb: number };
}

/** Runs `python argv` plainly; its last line of output. */
async function plain(python: string, argv: string[]): Promise<string> {
  const out = await new Deno.Command(python, { args: argv, stdout: "piped" }).output();
  return new TextDecoder().decode(out.stdout).trim().split("\n").at(-1)!;
}

/**
 * Runs `argv` under `qdb trace` (stopped at its first line), sets `breakpoint` (if any) from a
 * client, lets it run; its last line of output.
 */
async function traced(
  python: string,
  argv: string[],
  breakpoint?: Record<string, unknown>,
): Promise<string> {
  await using server = await startServer();
  const child = new Deno.Command(QDB_COMMAND[0]!, {
    args: [
      ...QDB_COMMAND.slice(1),
      "trace",
      "--server",
      server.tracer,
      "--token",
      TOKEN,
      "--session",
      "cost",
      "--python",
      python,
      "--",
      ...argv,
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const output = outputOf(child.stdout, "qdb trace");
  const client = await wsClient(`${server.client}/cost`);
  client.send({ e: "start", p: { auth: TOKEN, protocol: PROTOCOL_VERSION }, id: 0 });
  await client.next("stack");
  if (breakpoint) {
    client.send({ e: "set_break", p: breakpoint, id: 1 });
    await client.next("breakpoints");
  }
  client.send({ e: "continue" });
  await client.next("exited");
  const m = await output.until(/([^\n]+)\n$/);
  client.close();
  await child.status;
  return m[1]!;
}

async function costOf(python: PythonInstall, calls: number, loop: number): Promise<SnapshotCost> {
  const snapLine = markedLine(SNAPCOST, "@snap");
  const hotLine = markedLine(HOTCOND, "@hot");
  const call = (line: string) => JSON.parse(line) as { median: number; p99: number };
  const snapshot = { file: SNAPCOST, line: snapLine, snapshot: true, max: calls };
  return {
    python: python.version,
    callUs: {
      plain: call(await plain(python.path, [SNAPCOST, String(calls)])),
      qdb: call(await traced(python.path, [SNAPCOST, String(calls)])),
      snapshot: call(await traced(python.path, [SNAPCOST, String(calls)], snapshot)),
    },
    hotSeconds: {
      plain: Number(await plain(python.path, [HOTCOND, String(loop)])),
      qdb: Number(await traced(python.path, [HOTCOND, String(loop)])),
      falseCondition: Number(
        await traced(python.path, [HOTCOND, String(loop)], {
          file: HOTCOND,
          line: hotLine,
          snapshot: true,
          cond: "i < 0",
        }),
      ),
    },
  };
}

/** A simulated member of `group` that answers each routed command at once. */
function member(url: string, session: string, group: string): Promise<Deno.TcpConn> {
  return connectRawTracer(url, session, TOKEN, {
    groups: [group],
    answer: (msg) => {
      const id = msg.id !== undefined ? { id: msg.id } : {};
      if (msg.e === "set_break" || msg.e === "clear_break") {
        return { e: "breakpoints", p: [], ...id };
      }
      if (msg.e === "start" && msg.id !== undefined) return { e: "running", ...id };
      return undefined;
    },
  });
}

async function groupCommand(members: number, reps: number): Promise<FleetResult["groupMs"]> {
  await using server = await startServer();
  const conns = [];
  for (let i = 0; i < members; i++) conns.push(await member(server.tracer, `m-${i}`, "bench"));
  const group = await GroupClient.connect(server.client, { group: "bench", auth: TOKEN });
  if (group.state.members.length < members) {
    throw new Error(`the group lists ${group.state.members.length} of ${members} members`);
  }
  const times: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    const applied = await group.request("set_break", { file: "member.py", line: i + 1 });
    times.push(performance.now() - t0);
    const p = applied.p as { sessions: number; rule: string };
    if (p.sessions !== members) throw new Error(`applied on ${p.sessions} of ${members}`);
    await group.request("clear_break", { rule: p.rule });
  }
  group.close();
  for (const conn of conns) conn.close();
  return { ...stats(times), members };
}

/** A snapshot of about 2 KiB: three frames, the newest with twenty locals. */
function sampleSnapshot(i: number) {
  const locals: Record<string, string> = {};
  for (let k = 0; k < 20; k++) locals[`name_${k}`] = `[${i}, ${k}, ${"x".repeat(60)}]`;
  return {
    breakpoint: 1,
    time: new Date().toISOString(),
    thread: { id: 1, name: "MainThread" },
    stack: [
      { file: "/srv/jobs/main.py", line: 30, func: "<module>" },
      { file: "/srv/jobs/job.py", line: 50, func: "run", locals: { job: "'j'" } },
      { file: "/srv/jobs/job.py", line: 12, func: "work", locals },
    ],
  };
}

async function storedSnapshots(sessions: number, each: number): Promise<FleetResult["stored"]> {
  await using server = await startServer();
  const tracers = [];
  for (let s = 0; s < sessions; s++) tracers.push(await member(server.tracer, `s-${s}`, "store"));
  // Settled first: the server's heap after its sessions came, before any snapshot.
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const before = procKb(server.pid, "VmRSS") ?? 0;
  let bytes = 0;
  for (const [s, conn] of tracers.entries()) {
    for (let i = 0; i < each; i++) {
      const snap = sampleSnapshot(s * each + i);
      bytes += JSON.stringify(snap).length;
      await conn.write(encodeFrame({ e: "snapshot", p: snap }));
    }
  }
  // Every session keeps its snapshots: the last one listed by a client says they are in.
  const client = await wsClient(`${server.client}/s-${sessions - 1}`);
  client.send({ e: "start", p: { auth: TOKEN }, id: 0 });
  await client.next("attached");
  while (true) {
    client.send({ e: "snapshots", id: 1 });
    const listed = await client.next("snapshots");
    if ((listed.p as unknown[]).length >= each) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const after = procKb(server.pid, "VmRSS") ?? 0;
  client.close();
  for (const conn of tracers) conn.close();
  return { snapshots: sessions * each, bytes, rssKb: after - before };
}

/** Runs the fleet benchmarks. */
export async function benchFleet(flags: BenchFlags): Promise<FleetResult> {
  const pythons = await benchPythons(flags.quick);
  const calls = flags.quick ? 5 : 50;
  const loop = flags.quick ? 100_000 : 2_000_000;
  const cost: SnapshotCost[] = [];
  for (const python of pythons) cost.push(await costOf(python, calls, loop));
  return {
    cost,
    groupMs: await groupCommand(flags.quick ? 10 : 200, flags.reps ?? (flags.quick ? 3 : 20)),
    stored: await storedSnapshots(10, flags.quick ? 10 : 100),
  };
}

/** The figures as tables. */
export function fleetTables(result: FleetResult): string {
  const rows = [[
    "Python",
    "call plain µs",
    "qdb",
    "snapshot (p50/p99)",
    "hot loop plain s",
    "qdb",
    "false condition",
  ]];
  for (const c of result.cost) {
    rows.push([
      c.python,
      fixed(c.callUs.plain.median, 0),
      fixed(c.callUs.qdb.median, 0),
      `${fixed(c.callUs.snapshot.median, 0)} / ${fixed(c.callUs.snapshot.p99, 0)}`,
      fixed(c.hotSeconds.plain, 3),
      `${fixed(c.hotSeconds.qdb, 3)} (${fixed(c.hotSeconds.qdb / c.hotSeconds.plain)}x)`,
      `${fixed(c.hotSeconds.falseCondition, 3)} (${
        fixed(c.hotSeconds.falseCondition / c.hotSeconds.plain)
      }x)`,
    ]);
  }
  const g = result.groupMs;
  const s = result.stored;
  return [
    "A snapshot's cost to the program, and a false snapshot condition on a hot line:",
    table(rows),
    `A group set_break applied on ${g.members} members: p50 ${fixed(g.p50)} ms, p99 ${
      fixed(g.p99)
    } ms`,
    `${s.snapshots} stored snapshots (${fixed(s.bytes / 1024, 0)} KiB of JSON): server RSS +${
      fixed(s.rssKb / 1024, 1)
    } MiB`,
  ].join("\n");
}

if (import.meta.main) {
  const flags = parseFlags(Deno.args);
  const result = await benchFleet(flags);
  console.log(fleetTables(result));
  if (flags.json) await Deno.writeTextFile(flags.json, JSON.stringify(result, null, 2));
}
