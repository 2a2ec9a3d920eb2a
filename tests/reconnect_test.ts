// Surviving restarts and network loss (issue 8, item 7): a tracer that loses its server keeps
// the program as it was and connects again; the session resumes under its id with its
// breakpoints; clients (the terminal too) attach again by themselves and say so; a tracer that
// cannot get back lets the program run on untraced.
import { assert, assertEquals, assertMatch } from "./support/assert.ts";
import { fakeTracer } from "./support/fake_tracer.ts";
import { relay } from "./support/relay.ts";
import { Inbox } from "./support/inbox.ts";
import { QdbProcess, type ServeProcess, startServe } from "./support/processes.ts";
import { findPythons } from "./support/pythons.ts";
import { qdbInTmux, TMUX_MISSING } from "./support/tmux.ts";
import { serve } from "../server.ts";
import { connectWebSocket } from "../transport/websocket.ts";

const STEPS = new URL("../testdata/steps.py", import.meta.url).pathname;
const PYTHON = (await findPythons()).at(-1)?.path;
const noPython = PYTHON === undefined;
if (noPython) console.log("reconnect_test: Python tests skipped: no CPython 3.8+ found");

/** The line of `steps.py` tagged `# @tag`. */
const STEPS_LINES = (await Deno.readTextFile(STEPS)).split("\n");
function line(tag: string): number {
  return STEPS_LINES.findIndex((l) => l.includes(`# @${tag}`)) + 1;
}

/** Two ports free right now (for a server that must come back on the same ones). */
function freePorts(): [number, number] {
  const a = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const b = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const ports: [number, number] = [a.addr.port, b.addr.port];
  a.close();
  b.close();
  return ports;
}

function serveOn([client, tracer]: [number, number], extra: string[] = []): Promise<ServeProcess> {
  return startServe(["--client-port", String(client), "--tracer-port", String(tracer), ...extra]);
}

async function client(url: string, session: string) {
  const link = await connectWebSocket(`${url}/${session}`);
  link.send({ e: "start", p: {}, id: "hello" });
  return new Inbox(link);
}

async function closeAll(...inboxes: Inbox[]) {
  await Promise.all(inboxes.map(async (i) => {
    i.transport.close();
    await i.closed();
  }));
}

function trace(tracerUrl: string, session: string, extra: string[] = []): QdbProcess {
  return new QdbProcess([
    "trace",
    "--server",
    tracerUrl,
    "--session",
    session,
    "--python",
    PYTHON!,
    ...extra,
    STEPS,
  ]);
}

Deno.test({
  name:
    "a tracer outlives a server restart: the session resumes under its id, with its breakpoints",
  ignore: noPython,
  async fn() {
    const ports = freePorts();
    const first = await serveOn(ports);
    await using tracer = trace(first.tracerUrl, "job-7");
    const a = await client(first.clientUrl, "job-7");
    await a.expect("stack");
    a.transport.send({ e: "set_break", p: { line: line("helper_body") }, id: 1 });
    await a.expect("breakpoints", (p) => p.length === 1);
    // The server dies without a word.
    first.process.kill("SIGKILL");
    await first.process.exited();
    await a.closed();
    await tracer.line(/lost the server; reconnecting/, "stderr");
    await using second = await serveOn(ports);
    await tracer.line(/reconnected to tcp:\/\/\S+ as session job-7/, "stderr");
    // A client of the new server finds the program where it was, with its breakpoint.
    const b = await client(second.clientUrl, "job-7");
    assert(
      (await b.expect("attached", (p) => p.tracer !== null)).p.tracer.argv[0].endsWith("steps.py"),
    );
    const bps = await b.expect("breakpoints");
    assertEquals(bps.p.map((bp: { line: number }) => bp.line), [line("helper_body")]);
    const entry = await b.expect("stack");
    assertEquals(entry.p.stack.at(-1).line, 1);
    b.transport.send({ e: "continue", id: 2 });
    const hit = await b.expect("stack");
    assertEquals(hit.p.stack.at(-1).line, line("helper_body"));
    b.transport.send({ e: "clear_break", p: { id: bps.p[0].id }, id: 3 });
    await b.expect("breakpoints");
    b.transport.send({ e: "continue", id: 4 });
    assertEquals((await b.expect("exited")).p.code, 0);
    assertEquals((await tracer.exited()).code, 0);
    assert(tracer.text.stdout.includes("result 90"), tracer.text.stdout);
    await closeAll(a, b);
  },
});

Deno.test({
  name: "network loss: clients are told at once, and the tracer takes its session back",
  ignore: noPython,
  async fn() {
    await using server = await serve({ clientPort: 0, tracerPort: 0, tracerGrace: 60_000 });
    const port = Number(new URL(server.tracerUrl.replace("tcp:", "http:")).port);
    const net = relay({ hostname: "127.0.0.1", port });
    try {
      await using tracer = trace(net.url, "blip");
      const a = await client(server.clientUrl, "blip");
      await a.expect("stack");
      net.cut();
      const lost = await a.expect("error");
      assertEquals(lost.p.type, "tracer");
      assertMatch(lost.p.data, /link was lost; waiting 60 s for it to reconnect/);
      // The same client, still attached, sees the tracer come back and the state again.
      await a.expect("attached", (p) => p.tracer !== null);
      assertEquals((await a.expect("stack")).p.stack.at(-1).line, 1);
      a.transport.send({ e: "continue", id: 1 });
      assertEquals((await a.expect("exited")).p.code, 0);
      assertEquals((await tracer.exited()).code, 0);
      assertMatch(tracer.text.stderr, /reconnected to tcp:\/\/\S+ as session blip/);
      await closeAll(a);
    } finally {
      await net.close();
    }
  },
});

Deno.test("an orphaned session goes back only to a tracer with its resume key", async () => {
  await using server = await serve({ clientPort: 0, tracerPort: 0, tracerGrace: 60_000 });
  const open = (extra: Record<string, unknown> = {}) => fakeTracer(server.tracerUrl, "mine", extra);
  const first = await open();
  const resume = (await first.expect("started")).p.resume;
  assertMatch(resume, /^[0-9a-f]{32}$/);
  const c = await client(server.clientUrl, "mine");
  await c.expect("attached");
  first.transport.close();
  assertEquals((await c.expect("error")).p.type, "tracer");
  // Someone else's tracer may not take the session while its own may still come back.
  const intruder = await open({ resume: "0".repeat(32) });
  const refused = await intruder.expect("error");
  assertEquals(refused.p.type, "session");
  assertMatch(refused.p.data, /waiting for its own tracer/);
  const back = await open({ resume, pid: 2 });
  assertEquals((await back.expect("started")).p.resume, resume);
  assertEquals((await c.expect("attached", (p) => p.tracer !== null)).p.tracer.pid, 2);
  // The returning tracer is sent each client's start, to send the state again.
  await back.expect("start");
  // A returning tracer also displaces a link the server still thinks alive.
  const again = await open({ resume, pid: 3 });
  await again.expect("started");
  await back.closed();
  assertEquals((await c.expect("attached", (p) => p.tracer?.pid === 3)).p.tracer.pid, 3);
  await closeAll(first, intruder, back, again, c);
});

Deno.test({
  name: "a tracer that cannot reach its server again lets the program run on untraced",
  ignore: noPython,
  async fn() {
    const server = await startServe();
    await using tracer = trace(server.tracerUrl, "alone", ["--reconnect", "1"]);
    const a = await client(server.clientUrl, "alone");
    await a.expect("stack");
    server.process.kill("SIGKILL");
    await server.process.exited();
    // The program was stopped at its first line; it runs to its end.
    assertEquals((await tracer.exited()).code, 0);
    assertMatch(tracer.text.stderr, /did not come back in 1 s: debugging is detached/);
    assert(tracer.text.stdout.includes("result 90"), tracer.text.stdout);
    await closeAll(a);
  },
});

Deno.test({
  name: "qdb serve stopped with SIGTERM: tracers detach at once and do not try again",
  ignore: noPython,
  async fn() {
    const server = await startServe();
    await using tracer = trace(server.tracerUrl, "bye");
    const a = await client(server.clientUrl, "bye");
    await a.expect("stack");
    server.process.kill("SIGTERM");
    assertEquals((await a.expect("disable")).p.reason, "The server is shutting down");
    assertEquals((await server.process.exited()).code, 0);
    // The program, stopped at its first line, runs on untraced to its end.
    assertEquals((await tracer.exited()).code, 0);
    assert(tracer.text.stdout.includes("result 90"), tracer.text.stdout);
    assert(!/reconnecting/.test(tracer.text.stderr), tracer.text.stderr);
    await closeAll(a);
  },
});

Deno.test({
  name: "qdb attach attaches again by itself after a server restart, and says so",
  ignore: noPython || TMUX_MISSING !== undefined,
  async fn() {
    const ports = freePorts();
    const first = await serveOn(ports);
    await using tracer = trace(first.tracerUrl, "tty");
    await tracer.line(/is session tty/, "stderr");
    await using t = await qdbInTmux(["attach", "--server", first.clientUrl, "tty"]);
    await t.waitFor(/\(qdb\) $|\(qdb\)$/);
    first.process.kill("SIGKILL");
    await first.process.exited();
    await t.waitFor(/qdb: lost the server \(.*\); reconnecting for up to 60 s/);
    await using _second = await serveOn(ports);
    await t.waitFor(/qdb: reconnected to session tty/);
    // The tracer comes back too (the client may be first: a command before then is refused).
    await tracer.line(/reconnected to tcp:\/\/\S+ as session tty/, "stderr");
    // Still stopped where it was, and driven as before.
    const before = (await t.screen()).length;
    await t.line("c");
    await t.waitFor(/result 90/, before);
    assertEquals((await tracer.exited()).code, 0);
  },
});
