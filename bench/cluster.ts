/**
 * Several servers on one Redis (issue 24, item 7), side by side in one run with one server:
 *
 * - **step round trip**: `next` and the stop it causes, the client on server B and the tracer on
 *   server A, beside both on one server (p50, p99; goal: p50 within 1.5 times one server's);
 * - **routed messages/s**: a simulated tracer prints as fast as its link takes, one client reads,
 *   across two servers and on one;
 * - **memory per idle session**: a server with `--redis` and one without, each given the same
 *   number of idle sessions (VmRSS before and after, per session);
 * - **failover**: `kill -9` of the server holding a real tracer (its `--server` lists both); the
 *   time until the client on the other server has the session again (`attached` with a tracer,
 *   then the stop the program is at). A process killed has its sockets closed by the kernel, so
 *   the tracer knows at once; a machine that vanishes is noticed by TCP's timeouts instead.
 *   Goal: under 10 s.
 *
 * Needs `redis-server` (Debian's); it starts its own on a free port.
 *
 * Usage: `deno run --allow-all bench/cluster.ts [--quick] [--reps N] [--json FILE]`
 *
 * @module
 */

import { encodeFrame } from "../protocol/mod.ts";
import { HAVE_REDIS, startRedis } from "../tests/support/redis.ts";
import {
  type BenchFlags,
  benchPythons,
  connectRawTracer,
  fixed,
  kill,
  parseFlags,
  procKb,
  type ServerProcess,
  startServer,
  type Stats,
  stats,
  table,
  TOKEN,
} from "./_common.ts";
import { settled, stepsThrough, trace, wsClient } from "./step.ts";

/** The figures of one run. */
export interface ClusterResult {
  /** The Python of the step and failover figures (null when none was found). */
  python: string | null;
  /** Step round trips, ms: both on one server, and the client on another. */
  stepMs: { one: Stats; two: Stats } | null;
  /** Messages delivered per second to one client: on the tracer's server, and on another. */
  routedPerSecond: { one: number; two: number; lines: number };
  /** KiB per idle session: a server alone, and one with `--redis`. */
  idleKb: { alone: number; redis: number; sessions: number };
  /** Milliseconds from `kill -9` to the session being back for a client of the other server. */
  failoverMs: Stats | null;
}

/** Servers of one Redis (`count` of them); closed with the returned handle. */
async function cluster(url: string, count: number): Promise<ServerProcess[]> {
  const servers: ServerProcess[] = [];
  for (let i = 0; i < count; i++) servers.push(await startServer(["--redis", url]));
  return servers;
}

async function closeAll(servers: ServerProcess[]): Promise<void> {
  await Promise.all(servers.map((s) => s.close()));
}

/** Prints `lines` as fast as the link takes them; messages/s the client on `clientOn` got. */
async function routed(
  tracerOn: ServerProcess,
  clientOn: ServerProcess,
  lines: number,
): Promise<number> {
  const session = `flood-${crypto.randomUUID()}`;
  const conn = await connectRawTracer(tracerOn.tracer, session, TOKEN);
  const client = await wsClient(`${clientOn.client}/${session}`);
  try {
    client.send({ e: "start", p: { protocol: 2, auth: TOKEN }, id: 0 });
    await client.next("attached");
    const frame = (i: number) =>
      encodeFrame({ e: "print", p: { input: "<stdout>", exc: false, output: `line ${i}` } });
    const t0 = performance.now();
    const writing = (async () => {
      for (let i = 0; i < lines; i += 100) {
        const batch = [];
        for (let j = i; j < Math.min(lines, i + 100); j++) batch.push(frame(j));
        const bytes = new Uint8Array(batch.reduce((n, b) => n + b.length, 0));
        let at = 0;
        for (const b of batch) {
          bytes.set(b, at);
          at += b.length;
        }
        for (let off = 0; off < bytes.length;) off += await conn.write(bytes.subarray(off));
      }
    })();
    for (let got = 0; got < lines; got++) await client.next("print");
    const seconds = (performance.now() - t0) / 1000;
    await writing;
    return lines / seconds;
  } finally {
    client.close();
    conn.close();
  }
}

/** KiB per idle session on `server`: `n` simulated tracers, no client. */
async function idleKb(server: ServerProcess, n: number): Promise<number> {
  // A session first, so that what every server allocates once is not counted.
  const warm = await connectRawTracer(server.tracer, "warm-up", TOKEN);
  const before = procKb(server.pid, "VmRSS") ?? 0;
  const conns = [];
  for (let i = 0; i < n; i++) {
    conns.push(await connectRawTracer(server.tracer, `idle-${i}`, TOKEN));
  }
  const after = procKb(server.pid, "VmRSS") ?? 0;
  for (const conn of [warm, ...conns]) conn.close();
  return (after - before) / n;
}

/** One failover: ms from `kill -9` of the tracer's server to the session back on the other. */
async function failover(
  python: Awaited<ReturnType<typeof benchPythons>>[number],
  url: string,
): Promise<number> {
  const [a, b] = await cluster(url, 2) as [ServerProcess, ServerProcess];
  const session = `failover-${crypto.randomUUID()}`;
  const tracer = trace(python, `${a.tracer},${b.tracer}`, session);
  try {
    // The tracer on a (the first of its list); the client on b.
    const client = await wsClient(`${b.client}/${session}`);
    try {
      client.send({ e: "start", p: { protocol: 2, auth: TOKEN }, id: 0 });
      await client.next("attached");
      await settled(client);
      const t0 = performance.now();
      Deno.kill(a.pid, "SIGKILL");
      // Debuggable again: attached to the tracer, and shown where the program stands.
      while (true) {
        const attached = await client.next("attached");
        if ((attached.p as { tracer: unknown }).tracer !== null) break;
      }
      await client.next("stack");
      return performance.now() - t0;
    } finally {
      client.close();
    }
  } finally {
    await kill(tracer);
    await closeAll([a, b]);
  }
}

/** Runs the benchmark (`--reps`: steps, default 2,000; 50 with `--quick`). */
export async function benchCluster(flags: BenchFlags): Promise<ClusterResult> {
  if (!HAVE_REDIS) throw new Error("bench/cluster.ts needs redis-server");
  await using redis = await startRedis();
  const python = (await benchPythons(flags.quick)).at(-1);
  const n = flags.reps ?? (flags.quick ? 50 : 2000);
  const lines = flags.quick ? 2000 : 50_000;
  const sessions = flags.quick ? 20 : 200;
  const servers = await cluster(redis.url, 2);
  const [a, b] = servers as [ServerProcess, ServerProcess];
  let stepMs: ClusterResult["stepMs"] = null;
  let routedPerSecond: ClusterResult["routedPerSecond"];
  try {
    if (python) {
      stepMs = {
        one: stats(await stepsThrough(python, a.tracer, a.client, n)),
        two: stats(await stepsThrough(python, a.tracer, b.client, n)),
      };
    }
    routedPerSecond = {
      one: await routed(a, a, lines),
      two: await routed(a, b, lines),
      lines,
    };
  } finally {
    await closeAll(servers);
  }
  const alone = await startServer();
  const joined = await startServer(["--redis", redis.url]);
  let idle: ClusterResult["idleKb"];
  try {
    idle = {
      alone: await idleKb(alone, sessions),
      redis: await idleKb(joined, sessions),
      sessions,
    };
  } finally {
    await closeAll([alone, joined]);
  }
  const failovers: number[] = [];
  if (python) {
    for (let i = 0; i < (flags.quick ? 1 : 5); i++) {
      failovers.push(await failover(python, redis.url));
    }
  }
  return {
    python: python?.version ?? null,
    stepMs,
    routedPerSecond: routedPerSecond!,
    idleKb: idle!,
    failoverMs: python ? stats(failovers) : null,
  };
}

/** The figures as Markdown. */
export function clusterTable(r: ClusterResult): string {
  const rows = [["", "one server", "two servers (client on B)", "two / one"]];
  if (r.stepMs) {
    rows.push([
      `step p50 ms (Python ${r.python})`,
      fixed(r.stepMs.one.p50),
      fixed(r.stepMs.two.p50),
      fixed(r.stepMs.two.p50 / r.stepMs.one.p50),
    ]);
    rows.push([
      "step p99 ms",
      fixed(r.stepMs.one.p99),
      fixed(r.stepMs.two.p99),
      fixed(r.stepMs.two.p99 / r.stepMs.one.p99),
    ]);
  }
  const per = r.routedPerSecond;
  rows.push([
    `routed msgs/s (${per.lines} prints, one client)`,
    fixed(per.one, 0),
    fixed(per.two, 0),
    fixed(per.two / per.one),
  ]);
  rows.push([
    `KiB per idle session (${r.idleKb.sessions}; alone / --redis)`,
    fixed(r.idleKb.alone, 1),
    fixed(r.idleKb.redis, 1),
    fixed(r.idleKb.redis / r.idleKb.alone),
  ]);
  const f = r.failoverMs;
  const failover = f
    ? `\nFailover after kill -9 (${f.n} runs): p50 ${fixed(f.p50 / 1000)} s, max ${
      fixed(f.max / 1000)
    } s.`
    : "";
  return table(rows) + failover;
}

if (import.meta.main) {
  const flags = parseFlags(Deno.args);
  const result = await benchCluster(flags);
  console.log(clusterTable(result));
  if (flags.json) await Deno.writeTextFile(flags.json, JSON.stringify(result, null, 2));
}
