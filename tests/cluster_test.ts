// Several `qdb serve` on one Redis, through the real CLI: clients on one server debug tracers on
// another, in order, and the servers ride out Redis going away. Each test starts its own Redis on
// a free port (tests/support/redis.ts), and waits on events, never on time.
import { assert, assertEquals, assertMatch } from "./support/assert.ts";
import { FAKE_TRACER, fakeTracer } from "./support/fake_tracer.ts";
import { Inbox } from "./support/inbox.ts";
import { QdbProcess } from "./support/processes.ts";
import { HAVE_REDIS, startRedis, type TestRedis } from "./support/redis.ts";
import { connectWebSocket } from "../transport/websocket.ts";
import { findPythons } from "./support/pythons.ts";
import { ReconnectingSession } from "../client/reconnect.ts";
import { rawClient } from "../bench/_common.ts";
import { connectTcp } from "../transport/tcp.ts";

const STEPS = new URL("../testdata/steps.py", import.meta.url).pathname;
const PYTHON = (await findPythons()).at(-1)?.path;
if (PYTHON === undefined) {
  console.log("cluster_test: failover tests skipped: no CPython 3.8+ found");
}
const HELPER_BODY = (await Deno.readTextFile(STEPS)).split("\n")
  .findIndex((l) => l.includes("# @helper_body")) + 1;

/** One `qdb serve --redis`: its process and addresses. */
interface Node {
  serve: QdbProcess;
  clientUrl: string;
  tracerUrl: string;
  name: string;
}

async function node(redis: TestRedis): Promise<Node> {
  const serve = new QdbProcess([
    "serve",
    "--client-port",
    "0",
    "--tracer-port",
    "0",
    "--no-web",
    "--redis",
    redis.url,
  ]);
  const m = await serve.line(/^qdb serve: clients (ws:\/\/\S+) {2}tracers (tcp:\/\/\S+)$/);
  const name = (await serve.line(/server (s\d+) of the sessions shared through/, "stderr"))[1]!;
  return { serve, clientUrl: m[1]!, tracerUrl: m[2]!, name };
}

/** A client of session `session` on `at`, started with `start`'s payload. */
async function attach(at: Node, session: string, p: Record<string, unknown> = {}) {
  const link = await connectWebSocket(`${at.clientUrl}/${session}`);
  link.send({ e: "start", p });
  return new Inbox(link);
}

async function sessionsOn(at: Node): Promise<{ id: string; clients: number }[]> {
  const response = await fetch(`${at.clientUrl.replace(/^ws/, "http")}/sessions`);
  return (await response.json()).sessions;
}

const test = (name: string, fn: () => Promise<void>) =>
  Deno.test({ name, ignore: !HAVE_REDIS, sanitizeResources: false, sanitizeOps: false, fn });

test("two servers on one Redis: a client on one debugs a tracer on the other, in order, and both list it", async () => {
  await using redis = await startRedis();
  const nodeA = await node(redis);
  await using _a = nodeA.serve;
  const nodeB = await node(redis);
  await using _b = nodeB.serve;
  const tracer = await fakeTracer(nodeA.tracerUrl, "job");
  await tracer.expect("started");
  const onA = await attach(nodeA, "job", { name: "ana" });
  await onA.expect("attached");
  await tracer.expect("start");
  const onB = await attach(nodeB, "job", { name: "bo" });
  const attached = await onB.expect("attached");
  assertEquals(attached.p.tracer.program, "job.py");
  assertEquals(attached.p.clients.map((c: { name: string }) => c.name).sort(), ["ana", "bo"]);
  const start = await tracer.expect("start");
  assertEquals(start.p.client, attached.p.you);
  // bo's command reaches the tracer on server a; the answer comes back to bo with bo's id.
  onB.transport.send({ e: "eval", p: "x", id: "mine" });
  const routed = await tracer.expect("eval");
  tracer.transport.send({ e: "print", p: { input: "x", exc: false, output: "1" }, id: routed.id! });
  assertEquals((await onB.expect("print", (p) => p.input === "x")).id, "mine");
  // A flood of output reaches both servers' clients in order.
  const lines = 2000;
  for (let i = 0; i < lines; i++) {
    tracer.transport.send({ e: "print", p: { input: "<stdout>", exc: false, output: `${i}` } });
  }
  for (const inbox of [onA, onB]) {
    for (let i = 0; i < lines; i++) {
      const p = (await inbox.expect("print", (p) => p.input === "<stdout>")).p;
      assertEquals(p.output, `${i}`);
    }
  }
  // Both servers list the session with its two clients.
  for (const at of [nodeA, nodeB]) {
    assertEquals((await sessionsOn(at)).map((s) => [s.id, s.clients]), [["job", 2]]);
  }
  for (const inbox of [onA, onB, tracer]) inbox.transport.close();
});

test("three servers: a client on each; what one sends, the others see, and the tracer gets it", async () => {
  await using redis = await startRedis();
  const nodes: Node[] = [];
  for (let i = 0; i < 3; i++) nodes.push(await node(redis));
  try {
    assertEquals(new Set(nodes.map((n) => n.name)).size, 3);
    const tracer = await fakeTracer(nodes[0]!.tracerUrl, "tri");
    await tracer.expect("started");
    const inboxes = [];
    const ids = new Set<string>();
    for (const [i, at] of nodes.entries()) {
      const inbox = await attach(at, "tri", { name: `n${i}` });
      ids.add((await inbox.expect("attached")).p.you);
      await tracer.expect("start");
      inboxes.push(inbox);
    }
    assertEquals(ids.size, 3);
    inboxes[2]!.transport.send({ e: "step" });
    await tracer.expect("step");
    for (const inbox of inboxes.slice(0, 2)) {
      assertEquals((await inbox.expect("command")).p.client.name, "n2");
    }
    assertEquals((await sessionsOn(nodes[1]!)).map((s) => [s.id, s.clients]), [["tri", 3]]);
    for (const inbox of [...inboxes, tracer]) inbox.transport.close();
  } finally {
    for (const at of nodes) await at.serve[Symbol.asyncDispose]();
  }
});

test("Redis goes away and comes back: the session goes on locally, and the servers join again", async () => {
  await using redis = await startRedis();
  const a = await node(redis);
  const b = await node(redis);
  try {
    const tracer = await fakeTracer(a.tracerUrl, "steady");
    await tracer.expect("started");
    const onA = await attach(a, "steady", { name: "ana" });
    await onA.expect("attached");
    await tracer.expect("start");
    await redis.stop();
    // The session goes on for the client on its own server.
    tracer.transport.send({ e: "print", p: { input: "<stdout>", exc: false, output: "alone" } });
    assertEquals((await onA.expect("print")).p.output, "alone");
    onA.transport.send({ e: "step" });
    await tracer.expect("step");
    // A client that comes meanwhile is served where its session is.
    const late = await attach(a, "steady", { name: "late" });
    assertMatch((await late.expect("attached")).p.you, /^c/);
    await tracer.expect("start");
    await a.serve.line(/redis: .*; reconnecting/, "stderr");
    await redis.restart();
    await a.serve.line(/redis: connected again; 1 sessions registered again/, "stderr");
    await b.serve.line(/redis: connected again/, "stderr");
    // The other server sees the session again, and its clients attach across.
    assertEquals((await sessionsOn(b)).map((s) => [s.id, s.clients]), [["steady", 2]]);
    const onB = await attach(b, "steady", { name: "bo" });
    assert((await onB.expect("attached")).p.tracer !== null, "no tracer across the hop");
    await tracer.expect("start");
    for (const inbox of [onA, late, onB, tracer]) inbox.transport.close();
  } finally {
    await a.serve[Symbol.asyncDispose]();
    await b.serve[Symbol.asyncDispose]();
  }
});

test("a client across the hop that does not read paces the program: no server, and not Redis, holds its backlog", async () => {
  await using redis = await startRedis();
  const a = await node(redis);
  const b = await node(redis);
  try {
    const link = await connectTcp(a.tracerUrl);
    link.send({ e: "start", p: { ...FAKE_TRACER, session: "slow" } });
    const tracer = new Inbox(link);
    await tracer.expect("started");
    // A client on b that reads nothing until the program is held.
    const slow = await rawClient(b.clientUrl, "slow");
    await b.serve.line(/client c\d+ \(raw\) attached from .*relayed to server/, "stderr");
    await tracer.expect("start");
    // 100 MB of output: without pacing across the hop, b (or Redis) would hold most of it.
    const lines = 2000;
    const filler = "x".repeat(50_000);
    for (let i = 0; i < lines; i++) {
      link.send({ e: "print", p: { input: "<stdout>", exc: false, output: `${i} ${filler}` } });
    }
    // The program's link stops being read once the client is a pace behind (the kernel's
    // buffers on the way hold a few MB more): watched until nothing moves for a second.
    const mb = 1024 * 1024;
    let written = -1;
    for (let still = 0; still < 10 && link.writtenBytes < 100 * mb;) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      still = link.writtenBytes === written ? still + 1 : 0;
      written = link.writtenBytes;
    }
    console.log(`the program wrote ${Math.round(written / mb)} MB before it was held`);
    assert(written < 50 * mb, `the program wrote ${Math.round(written / mb)} MB`);
    // Then it reads: every line, in order.
    let next = 0;
    for await (const msg of slow.messages()) {
      if (msg.e !== "print") continue;
      const output = (msg.p as { output: string }).output;
      assertEquals(Number(output.slice(0, output.indexOf(" "))), next++);
      if (next === lines) break;
    }
    slow.close();
    const peak = (at: Node) => peakRss(at.serve.child.pid);
    const mib = (n: number) => Math.round(n / 1024 / 1024);
    const [peakA, peakB] = [await peak(a), await peak(b)];
    const redisPeak = await redisPeakMemory(redis);
    console.log(
      `100 MB across the hop: peaks a ${mib(peakA)} MiB, b ${mib(peakB)} MiB, redis ${
        mib(redisPeak)
      } MiB`,
    );
    assert(
      peakA < 300 * 1024 * 1024 && peakB < 300 * 1024 * 1024,
      `${mib(peakA)} / ${mib(peakB)} MiB`,
    );
    assert(redisPeak < 64 * 1024 * 1024, `redis peaked at ${mib(redisPeak)} MiB`);
    link.close();
  } finally {
    await a.serve[Symbol.asyncDispose]();
    await b.serve[Symbol.asyncDispose]();
  }
});

test("a client's command while its session's server is gone gets an error naming it, never a silent drop", async () => {
  await using redis = await startRedis();
  const a = await node(redis);
  const b = await node(redis);
  try {
    // A tracer that will not move (a scripted one), on a; a client on b.
    const tracer = await fakeTracer(a.tracerUrl, "stuck");
    await tracer.expect("started");
    const onB = await attach(b, "stuck", { name: "bo" });
    await onB.expect("attached", (p) => p.tracer !== null);
    await tracer.expect("start");
    a.serve.child.kill("SIGKILL");
    await a.serve.status;
    onB.transport.send({ e: "step", id: "s1" });
    const error = await onB.expect("error", (p) => p.command === "step");
    assertEquals([error.id, error.p.type], ["s1", "tracer"]);
    assertMatch(error.p.data, /The server of session "stuck" is away.*"step" was not sent/);
    onB.transport.close();
  } finally {
    await a.serve[Symbol.asyncDispose]();
    await b.serve[Symbol.asyncDispose]();
  }
});

Deno.test({
  name:
    "kill -9 of the server holding a tracer: the session is debuggable again through another server, breakpoints kept",
  ignore: !HAVE_REDIS || PYTHON === undefined,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await using redis = await startRedis();
    const a = await node(redis);
    const b = await node(redis);
    try {
      await using tracer = new QdbProcess([
        "trace",
        "--server",
        `${a.tracerUrl},${b.tracerUrl}`,
        "--session",
        "job-9",
        "--python",
        PYTHON!,
        STEPS,
      ]);
      await a.serve.line(/session job-9: tracer attached/, "stderr");
      // A client on b, relayed to a.
      const onB = await attach(b, "job-9", { name: "bo" });
      await onB.expect("attached", (p) => p.tracer !== null);
      assertEquals((await onB.expect("stack")).p.stack.at(-1).line, 1);
      onB.transport.send({ e: "set_break", p: { line: HELPER_BODY }, id: 1 });
      await onB.expect("breakpoints", (p) => p.length === 1);
      // Server a dies without a word.
      a.serve.child.kill("SIGKILL");
      await a.serve.status;
      await tracer.line(/reconnected to tcp:\/\/\S+ as session job-9/, "stderr");
      assertMatch(tracer.text.stderr, new RegExp(`reconnected to ${b.tracerUrl} `));
      await b.serve.line(/session job-9: tracer came back \(from server s\d+\)/, "stderr");
      // bo, still attached to b, sees the session again: the program where it was, its breakpoint.
      await onB.expect("attached", (p) => p.tracer !== null);
      const bps = await onB.expect("breakpoints");
      assertEquals(bps.p.map((bp: { line: number }) => bp.line), [HELPER_BODY]);
      assertEquals((await onB.expect("stack")).p.stack.at(-1).line, 1);
      onB.transport.send({ e: "continue", id: 2 });
      assertEquals((await onB.expect("stack")).p.stack.at(-1).line, HELPER_BODY);
      onB.transport.send({ e: "clear_break", p: { id: bps.p[0].id }, id: 3 });
      await onB.expect("breakpoints");
      onB.transport.send({ e: "continue", id: 4 });
      assertEquals((await onB.expect("exited")).p.code, 0);
      assertEquals((await tracer.exited()).code, 0);
      onB.transport.close();
    } finally {
      await a.serve[Symbol.asyncDispose]();
      await b.serve[Symbol.asyncDispose]();
    }
  },
});

Deno.test({
  name:
    "rolling restart: SIGTERM to each server in turn hands the session on; no client and no breakpoint is lost",
  ignore: !HAVE_REDIS || PYTHON === undefined,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await using redis = await startRedis();
    const nodes: Node[] = [];
    for (let i = 0; i < 3; i++) nodes.push(await node(redis));
    const [a, b, c] = nodes as [Node, Node, Node];
    try {
      await using tracer = new QdbProcess([
        "trace",
        "--server",
        nodes.map((n) => n.tracerUrl).join(","),
        "--session",
        "roll",
        "--python",
        PYTHON!,
        STEPS,
      ]);
      await a.serve.line(/session roll: tracer attached/, "stderr");
      // One client on c (relayed), one as qdb attach makes them, on a with the list of all.
      const onC = await attach(c, "roll", { name: "cy" });
      await onC.expect("attached", (p) => p.tracer !== null);
      await onC.expect("stack");
      await using ana = await ReconnectingSession.connect(nodes.map((n) => n.clientUrl).join(","), {
        session: "roll",
        name: "ana",
      });
      const seen = eventsOf(ana);
      onC.transport.send({ e: "set_break", p: { line: HELPER_BODY }, id: 1 });
      await onC.expect("breakpoints", (p) => p.length === 1);
      // a stops: the tracer moves to b, both clients follow.
      a.serve.child.kill("SIGTERM");
      assertEquals((await a.serve.status).code, 0);
      assertMatch(a.serve.text.stderr, /session roll: handed over/);
      await b.serve.line(/session roll: tracer came back/, "stderr");
      await onC.expect("attached", (p) => p.tracer !== null);
      assertEquals((await onC.expect("breakpoints")).p.length, 1);
      await seen.expect("link", (p) => p.state === "back");
      // b stops: the tracer moves to c, where cy is.
      b.serve.child.kill("SIGTERM");
      assertEquals((await b.serve.status).code, 0);
      await c.serve.line(/session roll: tracer came back/, "stderr");
      await onC.expect("attached", (p) => p.tracer !== null);
      const bps = await onC.expect("breakpoints");
      assertEquals(bps.p.map((bp: { line: number }) => bp.line), [HELPER_BODY]);
      assertEquals((await onC.expect("stack")).p.stack.at(-1).line, 1);
      await seen.expect("link", (p) => p.state === "back");
      // The program runs on to the breakpoint, and to its end. (ana's attaching again makes the
      // tracer send its state, the stop at line 1, which cy sees too: the stop that counts is
      // the breakpoint's.)
      onC.transport.send({ e: "continue", id: 2 });
      await onC.expect("stack", (p) => p.stack.at(-1).line === HELPER_BODY);
      onC.transport.send({ e: "clear_break", p: { id: bps.p[0].id }, id: 3 });
      await onC.expect("breakpoints");
      onC.transport.send({ e: "continue", id: 4 });
      assertEquals((await onC.expect("exited")).p.code, 0);
      await seen.expect("exited");
      assertEquals((await tracer.exited()).code, 0);
      onC.transport.close();
    } finally {
      for (const n of nodes) await n.serve[Symbol.asyncDispose]();
    }
  },
});

/** The events of a reconnecting session, as an inbox a test waits on. */
function eventsOf(session: ReconnectingSession) {
  const seen: { e: string; p?: unknown }[] = [];
  const waiters = new Set<() => void>();
  (async () => {
    for await (const event of session.events) {
      seen.push(event as { e: string; p?: unknown });
      for (const wake of [...waiters]) wake();
    }
  })();
  let cursor = 0;
  return {
    // deno-lint-ignore no-explicit-any
    async expect(e: string, where: (p: any) => boolean = () => true) {
      while (true) {
        for (let i = cursor; i < seen.length; i++) {
          if (seen[i]!.e === e && where(seen[i]!.p)) {
            cursor = i + 1;
            return seen[i]!;
          }
        }
        await new Promise<void>((resolve) => {
          const wake = () => {
            waiters.delete(wake);
            resolve();
          };
          waiters.add(wake);
        });
      }
    },
  };
}

/** The peak resident memory of a process so far, in bytes. */
async function peakRss(pid: number): Promise<number> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  return Number(/^VmHWM:\s+(\d+) kB/m.exec(status)![1]) * 1024;
}

/** Redis's own peak memory (`INFO memory`), in bytes. */
async function redisPeakMemory(redis: TestRedis): Promise<number> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: redis.port });
  try {
    await conn.write(new TextEncoder().encode("INFO memory\r\n"));
    let text = "";
    const buf = new Uint8Array(65536);
    while (!/used_memory_peak:\d+/.test(text)) {
      const n = await conn.read(buf);
      if (n === null) break;
      text += new TextDecoder().decode(buf.subarray(0, n));
    }
    return Number(/used_memory_peak:(\d+)/.exec(text)?.[1] ?? NaN);
  } finally {
    conn.close();
  }
}
