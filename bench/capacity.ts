/**
 * Server capacity (issue #13, item 4): one `qdb serve` process, and simulated tracers and
 * clients in other processes (`bench/capacity_peer.ts`), ramped to 1,000 sessions of 2 clients
 * each (`--quick`: 10):
 *
 * - the server's resident memory at each step of the ramp, and per idle session, on a fresh
 *   server (one that earlier phases grew has room that hides what sessions take);
 * - routed messages per second at saturation: every tracer sends `print` events as fast as the
 *   server takes them, every client counts what it receives;
 * - a slow client: a session with a fast client and one that reads nothing, its tracer sending
 *   8 MB/s: the fast client's event latency beside the same session without the slow client,
 *   the server's memory meanwhile, and when the server drops the slow client;
 * - a stalled reader: a real program under `qdb trace` printing 200 MB to its only client,
 *   which reads nothing for 5 s, then everything: lines received in order, and the memory of
 *   the tracer and the server meanwhile (flow control makes the program wait).
 *
 * Usage: `deno run --allow-all bench/capacity.ts [--quick] [--reps SESSIONS] [--json FILE]`
 * (`--reps` sets the number of sessions). The open-file limit (`ulimit -n`) must allow three
 * connections per session in the server's process.
 *
 * @module
 */

import {
  type BenchFlags,
  benchPythons,
  connectRawTracer,
  fixed,
  followPeak,
  kill,
  outputOf,
  parseFlags,
  procKb,
  program,
  rawClient,
  startServer,
  type Stats,
  stats,
  table,
  TOKEN,
  traceArgs,
} from "./_common.ts";
import { encodeFrame } from "../protocol/framing.ts";
import { PROTOCOL_VERSION } from "../protocol/mod.ts";

const CLIENTS_PER_SESSION = 2;

/** What the benchmark measured. */
export interface CapacityResult {
  /** Sessions at the end of the ramp. */
  sessions: number;
  /** Clients of each. */
  clientsPerSession: number;
  /** A fresh server's resident memory (KiB) with no session, then at each step of the ramp. */
  ramp: { sessions: number; rssKb: number }[];
  /** Resident memory per idle session, KiB: the slope from no session to all of them. */
  perSessionKb: number;
  /**
   * The flood: tracer events sent, and messages the clients received, per second; clients
   * dropped; the server's resident memory (KiB) at its end, at most during it, and once it had
   * seen every connection close (waited for up to 60 s to come within 100 MB of the start).
   */
  flood: {
    seconds: number;
    sentPerSecond: number;
    deliveredPerSecond: number;
    dropped: number;
    rssKb: number;
    peakRssKb: number;
    afterCloseKb: number;
    /** The flood's server before its sessions opened (KiB). */
    beforeKb: number;
    /** Seconds the server went on reading what the tracers had written, after they closed. */
    readingSeconds: number;
    afterCloseSeconds: number;
  };
  /** The slow client's scenario. */
  slow: SlowResult;
  /** A real program flooding its only client, which stalls, then reads. */
  stalled: StalledResult;
}

/**
 * Resolves once `GET /sessions` shows no session with a tracer or a client attached: the server
 * has read everything its peers sent and seen every link close.
 */
async function serverSawEveryLinkClose(clientUrl: string): Promise<void> {
  const url = clientUrl.replace(/^ws/, "http") + "/sessions";
  while (true) {
    try {
      // A new connection each time: the server may close an idle kept-alive one as it is reused.
      const response = await fetch(url, {
        headers: { authorization: `Bearer ${TOKEN}`, connection: "close" },
      });
      const { sessions } = await response.json() as {
        sessions: { tracer: unknown; clients: number }[];
      };
      if (sessions.every((s) => s.tracer === null && s.clients === 0)) return;
    } catch {
      // A busy server; ask again.
    }
    await sleep(250);
  }
}

/** A real program (`qdb trace`) printing fast to its only client, which stalls a while. */
export interface StalledResult {
  /** Lines of 1 KB the program printed. */
  lines: number;
  /** How long the client read nothing, in seconds. */
  stallSeconds: number;
  /** Lines the client got. */
  received: number;
  /** Whether each came in order. */
  inOrder: boolean;
  /** Peak resident memory of the `qdb trace` process, KiB. */
  tracerPeakKb: number | undefined;
  /** The server's resident memory before and at most during, KiB. */
  serverKb: { start: number; max: number };
}

/** The slow client's scenario. */
export interface SlowResult {
  /** Bytes per second the tracer sent. */
  bytesPerSecond: number;
  /** The fast client's event latency (ms), alone with the tracer. */
  alone: Stats;
  /** The same with a client of the session that reads nothing. */
  withSlow: Stats;
  /** Seconds after the start when the server dropped the slow client (undefined: never). */
  droppedAfter: number | undefined;
  /** The server's resident memory at the start of the phase and its highest during it, KiB. */
  rssKb: { start: number; max: number };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A peer process (simulated tracers, or clients) and its line protocol. */
function startPeer(
  server: { client: string; tracer: string },
  role: "tracers" | "clients",
) {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-net",
      "--allow-read",
      new URL("./capacity_peer.ts", import.meta.url).pathname,
      "--role",
      role,
      "--tracer",
      server.tracer,
      "--client",
      server.client,
      "--token",
      TOKEN,
      "--clients",
      "1",
      "--name",
      "capacity",
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const writer = child.stdin.getWriter();
  const out = outputOf(child.stdout, `${role} peer`);
  let closing: Promise<void> | undefined;
  return {
    async ask<T>(command: object): Promise<T> {
      out.forget();
      await writer.write(new TextEncoder().encode(`${JSON.stringify(command)}\n`));
      return JSON.parse((await out.until(/^.*\n/))[0]) as T;
    },
    close() {
      return closing ??= (async () => {
        try {
          await this.ask({ close: true });
        } catch { /* gone */ }
        await writer.close().catch(() => {});
        await out.cancel();
        await child.status;
      })();
    },
  };
}

/** A phase of the slow-client scenario: the fast client's latencies, the server's memory. */
async function latencyPhase(
  server: { client: string; tracer: string; pid: number },
  withSlow: boolean,
  seconds: number,
): Promise<{ latencies: number[]; droppedAfter: number | undefined; rss: number[] }> {
  const session = `slow-${crypto.randomUUID()}`;
  const tracer = await connectRawTracer(server.tracer, session, TOKEN);
  const fast = new WebSocket(`${server.client}/${session}`);
  const latencies: number[] = [];
  let droppedAfter: number | undefined;
  const started = performance.now();
  await new Promise<void>((resolve, reject) => {
    fast.onopen = () =>
      fast.send(JSON.stringify({ e: "start", p: { protocol: PROTOCOL_VERSION, auth: TOKEN } }));
    fast.onerror = () => reject(new Error("The fast client failed"));
    fast.onmessage = (event) => {
      const msg = JSON.parse(String(event.data)) as { e: string; p: Record<string, unknown> };
      if (msg.e === "attached") resolve();
      if (msg.e === "print") {
        const sentAt = Number(String(msg.p.output).slice(0, String(msg.p.output).indexOf(" ")));
        latencies.push(performance.now() - sentAt);
      }
      if (msg.e === "clients" && msg.p.left !== undefined && droppedAfter === undefined) {
        droppedAfter = (performance.now() - started) / 1000;
      }
    };
  });
  // A client that never reads: the server's writes to it pile up.
  const slow = withSlow ? await rawClient(server.client, session) : undefined;
  const rss: number[] = [];
  const filler = "x".repeat(4000);
  const until = performance.now() + seconds * 1000;
  // 20 events of 4 KB every 10 ms: 8 MB/s.
  while (performance.now() < until) {
    const tick = performance.now();
    for (let i = 0; i < 20; i++) {
      await tracer.write(encodeFrame({
        e: "print",
        p: { input: "<stdout>", exc: false, output: `${performance.now()} ${filler}\n` },
      }));
    }
    rss.push(procKb(server.pid, "VmRSS") ?? 0);
    await sleep(Math.max(0, 10 - (performance.now() - tick)));
  }
  await sleep(200);
  fast.close();
  slow?.close();
  tracer.close();
  return { latencies, droppedAfter, rss };
}

/**
 * `qdb trace` of a program that prints `lines` numbered lines of 1 KB as fast as it can; its
 * only client reads nothing for `stallMs`, then everything. With flow control the program
 * waits meanwhile: nothing piles up in the tracer or the server, and nothing is lost.
 */
async function stalledReader(
  server: { client: string; tracer: string; pid: number },
  lines: number,
  stallMs: number,
): Promise<StalledResult> {
  const python = (await benchPythons(true))[0];
  if (!python) throw new Error("No CPython 3.8+ found");
  const session = `stalled-${crypto.randomUUID()}`;
  const client = await rawClient(server.client, session);
  const start = procKb(server.pid, "VmRSS") ?? 0;
  const argv = traceArgs({
    server: server.tracer,
    session,
    python: python.path,
    argv: [program("flood.py"), String(lines)],
  });
  const tracer = new Deno.Command(argv[0]!, {
    args: argv.slice(1),
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  const peak = followPeak(tracer.pid);
  const rss: number[] = [];
  const sampler = setInterval(() => rss.push(procKb(server.pid, "VmRSS") ?? 0), 50);
  try {
    await sleep(stallMs);
    let next = 0;
    let inOrder = true;
    let partial = "";
    for await (const msg of client.messages()) {
      if (msg.e !== "print") continue;
      const text = partial + (msg.p as { output: string }).output;
      const parts = text.split("\n");
      partial = parts.pop()!;
      for (const line of parts) {
        if (line === "done") break;
        if (Number(line.slice(0, line.indexOf(" "))) !== next) inOrder = false;
        next++;
      }
      if (parts.includes("done")) break;
    }
    return {
      lines,
      stallSeconds: stallMs / 1000,
      received: next,
      inOrder,
      tracerPeakKb: peak.stop(),
      serverKb: { start, max: Math.max(start, ...rss) },
    };
  } finally {
    clearInterval(sampler);
    peak.stop();
    client.close();
    await kill(tracer);
  }
}

function serverArgs(sessions: number): string[] {
  const connections = sessions * (1 + CLIENTS_PER_SESSION) + 100;
  return [
    "--max-sessions",
    String(sessions + 10),
    "--max-connections",
    String(connections),
    "--max-clients",
    String(CLIENTS_PER_SESSION + 2),
    "--max-pending",
    String(connections),
    "--max-pending-per-address",
    String(connections),
    "--inactivity-timeout",
    "0",
  ];
}

/** Opens `sessions` idle sessions on the server in steps; its memory before and at each. */
async function ramp(
  server: Awaited<ReturnType<typeof startServer>>,
  sessions: number,
  quick: boolean,
) {
  const steps = [{ sessions: 0, rssKb: procKb(server.pid, "VmRSS") ?? 0 }];
  // One process of tracers, two of clients (one client of each session in each).
  const tracers = startPeer(server, "tracers");
  const clientPeers = Array.from(
    { length: CLIENTS_PER_SESSION },
    () => startPeer(server, "clients"),
  );
  const targets = quick ? [sessions] : [0.25, 0.5, 0.75, 1].map((f) => f * sessions);
  let open = 0;
  for (const target of targets) {
    await tracers.ask({ open: target - open });
    await Promise.all(clientPeers.map((peer) => peer.ask({ open: target - open })));
    open = target;
    await sleep(quick ? 100 : 1000);
    steps.push({ sessions: open, rssKb: procKb(server.pid, "VmRSS") ?? 0 });
    if (!quick) console.error(`capacity: ${open} sessions open`);
  }
  return { steps, tracers, clientPeers };
}

/** Runs the benchmark. */
export async function benchCapacity(flags: BenchFlags): Promise<CapacityResult> {
  const sessions = flags.reps ?? (flags.quick ? 10 : 1000);
  // Memory per idle session, on a server nothing ran on before.
  let idle: Awaited<ReturnType<typeof ramp>>["steps"];
  {
    await using fresh = await startServer(serverArgs(sessions));
    const opened = await ramp(fresh, sessions, flags.quick);
    idle = opened.steps;
    await opened.tracers.close();
    await Promise.all(opened.clientPeers.map((peer) => peer.close()));
  }
  await using server = await startServer(serverArgs(sessions));
  // The latency phases first, on a quiet server.
  const phase = flags.quick ? 1 : 8;
  const alone = await latencyPhase(server, false, phase);
  const rssStart = procKb(server.pid, "VmRSS") ?? 0;
  const withSlow = await latencyPhase(server, true, phase);
  const stalled = await stalledReader(
    server,
    flags.quick ? 2_000 : 200_000,
    flags.quick ? 500 : 5_000,
  );
  await sleep(flags.quick ? 100 : 1000);
  // The sessions the flood runs in.
  const { steps: floodRamp, tracers, clientPeers } = await ramp(server, sessions, flags.quick);
  try {
    type Count = { received: number; dropped: number };
    const count = async () => {
      const counts = await Promise.all(clientPeers.map((peer) => peer.ask<Count>({ count: true })));
      return {
        received: counts.reduce((n, c) => n + c.received, 0),
        dropped: counts.reduce((n, c) => n + c.dropped, 0),
      };
    };
    const before = await count();
    let floodPeak = 0;
    const sampler = setInterval(() => {
      floodPeak = Math.max(floodPeak, procKb(server.pid, "VmRSS") ?? 0);
    }, 20);
    const sent = await tracers.ask<{ sent: number; seconds: number }>({
      flood: flags.quick ? 0.5 : 10,
    });
    clearInterval(sampler);
    const after = await count();
    const floodRss = procKb(server.pid, "VmRSS") ?? 0;
    const last = idle.at(-1)!;
    // Every connection closes; the server should give back what the flood took.
    await tracers.close();
    await Promise.all(clientPeers.map((peer) => peer.close()));
    const closedAt = performance.now();
    // The kernel still holds what the tracers wrote and the server had not read yet (their
    // sockets' buffers are delivered after the process exits): the server reads it all before
    // it sees their links close. Memory is judged from then on.
    await serverSawEveryLinkClose(server.client);
    const drainedAt = performance.now();
    let afterClose = procKb(server.pid, "VmRSS") ?? 0;
    while (
      afterClose > floodRamp[0]!.rssKb + 100 * 1024 && performance.now() - drainedAt < 60_000
    ) {
      await sleep(250);
      afterClose = procKb(server.pid, "VmRSS") ?? 0;
    }
    return {
      sessions,
      clientsPerSession: CLIENTS_PER_SESSION,
      ramp: idle,
      perSessionKb: (last.rssKb - idle[0]!.rssKb) / Math.max(1, last.sessions),
      flood: {
        beforeKb: floodRamp[0]!.rssKb,
        seconds: sent.seconds,
        sentPerSecond: sent.sent / sent.seconds,
        deliveredPerSecond: (after.received - before.received) / sent.seconds,
        dropped: after.dropped,
        rssKb: floodRss,
        peakRssKb: Math.max(floodPeak, floodRss),
        afterCloseKb: afterClose,
        readingSeconds: (drainedAt - closedAt) / 1000,
        afterCloseSeconds: (performance.now() - drainedAt) / 1000,
      },
      slow: {
        bytesPerSecond: 8_000_000,
        alone: stats(alone.latencies),
        withSlow: stats(withSlow.latencies),
        droppedAfter: withSlow.droppedAfter,
        rssKb: { start: rssStart, max: Math.max(rssStart, ...withSlow.rss) },
      },
      stalled,
    };
  } finally {
    await tracers.close();
    await Promise.all(clientPeers.map((peer) => peer.close()));
  }
}

/** The tables of the result. */
export function capacityTables(r: CapacityResult): string {
  const mb = (kb: number) => (kb / 1024).toFixed(1);
  const ramp = [["sessions", "server RSS MB"]];
  for (const step of r.ramp) ramp.push([String(step.sessions), mb(step.rssKb)]);
  const slow = [["fast client's latency", "p50 ms", "p90 ms", "p99 ms", "max ms", "events"]];
  for (
    const [name, s] of [["alone", r.slow.alone], ["with a slow client", r.slow.withSlow]] as const
  ) {
    slow.push([name, fixed(s.p50), fixed(s.p90), fixed(s.p99), fixed(s.max), String(s.n)]);
  }
  return [
    `Server capacity: ${r.sessions} sessions of ${r.clientsPerSession} clients`,
    "A fresh server's memory as idle sessions open:",
    table(ramp),
    "",
    `Memory per idle session: ${fixed(r.perSessionKb, 1)} KiB`,
    `Flood (${fixed(r.flood.seconds, 1)} s): ${
      fixed(r.flood.sentPerSecond, 0)
    } events/s written by the tracers, ` +
    `${fixed(r.flood.deliveredPerSecond, 0)} messages/s delivered; ` +
    `${r.flood.dropped} clients dropped; server RSS at most ${mb(r.flood.peakRssKb)} MB during ` +
    `it, ${mb(r.flood.rssKb)} MB at its end, ${mb(r.flood.afterCloseKb)} MB ` +
    `${fixed(r.flood.afterCloseSeconds, 1)} s after the server saw every connection close ` +
    `(it read on for ${fixed(r.flood.readingSeconds, 1)} s what the tracers had written; ` +
    `${mb(r.flood.beforeKb)} MB before its sessions opened)`,
    "",
    table(slow),
    `The slow client was ${
      r.slow.droppedAfter === undefined
        ? "never dropped"
        : `dropped after ${fixed(r.slow.droppedAfter, 1)} s`
    }; server RSS ${mb(r.slow.rssKb.start)} MB at the start, at most ${mb(r.slow.rssKb.max)} MB.`,
    "",
    `A program printing ${r.stalled.lines} lines of 1 KB to its only client, which read nothing ` +
    `for ${r.stalled.stallSeconds} s: ${r.stalled.received} lines received` +
    `${r.stalled.inOrder ? ", in order" : ", OUT OF ORDER"}; qdb trace at most ` +
    `${r.stalled.tracerPeakKb === undefined ? "-" : mb(r.stalled.tracerPeakKb)} MB, the server ` +
    `${mb(r.stalled.serverKb.start)} MB before and at most ${mb(r.stalled.serverKb.max)} MB.`,
  ].join("\n");
}

if (import.meta.main) {
  const flags = parseFlags(Deno.args);
  const result = await benchCapacity(flags);
  console.log(capacityTables(result));
  if (flags.json) await Deno.writeTextFile(flags.json, JSON.stringify(result, null, 2));
}
