// End to end: the real `qdb serve` process, scripted tracers over TCP and scripted clients
// over WebSocket, including a client nobody here wrote (the npm `ws` package).
import WebSocketFromNpm from "ws";
import { assertEquals, assertMatch } from "./support/assert.ts";
import { fakeTracer } from "./support/fake_tracer.ts";
import { Inbox } from "./support/inbox.ts";
import { QdbProcess, startServe } from "./support/processes.ts";
import { connectTcp } from "../transport/tcp.ts";
import { connectWebSocket } from "../transport/websocket.ts";

function tracer(url: string, session: string, extra: Record<string, unknown> = {}) {
  return fakeTracer(url, session, { argv: ["job.py", "--fast"], pid: 31337, ...extra });
}

async function client(url: string, session: string, auth?: string) {
  const link = await connectWebSocket(`${url}/${session}`);
  link.send({ e: "start", p: auth === undefined ? "" : { auth }, id: "hello" });
  return new Inbox(link);
}

function closeAll(...inboxes: Inbox[]) {
  return Promise.all(inboxes.map(async (i) => {
    i.transport.close();
    await i.closed();
  }));
}

Deno.test("qdb serve routes commands and broadcasts events between a tracer and two clients", async () => {
  await using serve = await startServe();
  const t = await tracer(serve.tracerUrl, "job-1");
  await t.expect("started");
  const a = await client(serve.clientUrl, "job-1");
  const b = await client(serve.clientUrl, "job-1");
  assertEquals((await a.expect("attached")).p.tracer.argv, ["job.py", "--fast"]);
  await b.expect("attached");
  a.transport.send({ e: "set_break", p: { file: "job.py", line: 3 }, id: 41 });
  const routed = await t.expect("set_break");
  assertEquals(routed.p, { file: "job.py", line: 3 });
  t.transport.send({ e: "breakpoints", p: [], id: routed.id! });
  assertEquals((await a.expect("breakpoints")).id, 41);
  // b is told who sent the command, then sees the reply without a's id.
  assertEquals((await b.expect("command")).p.e, "set_break");
  const other = await b.expect("breakpoints");
  assertEquals(other.id, undefined);
  // Both see the program's output.
  t.transport.send({ e: "print", p: { input: "<stdout>", exc: false, output: "tick\n" } });
  assertEquals((await a.expect("print")).p.output, "tick\n");
  assertEquals((await b.expect("print")).p.output, "tick\n");
  await closeAll(a, b, t);
  assertMatch(serve.process.stderrLines.join("\n"), /session job-1: tracer attached/);
});

Deno.test("malformed JSON, unknown events and bad payloads get errors; the session lives on", async () => {
  await using serve = await startServe();
  const t = await tracer(serve.tracerUrl, "job-2");
  await t.expect("started");
  const raw = new WebSocket(`${serve.clientUrl}/job-2`);
  const received: { e: string; p?: { type?: string; data?: string }; id?: unknown }[] = [];
  let wake = () => {};
  raw.onmessage = (m) => {
    received.push(JSON.parse(m.data));
    wake();
  };
  await new Promise((r) => raw.onopen = r);
  const next = async (e: string) => {
    while (true) {
      const i = received.findIndex((m) => m.e === e);
      if (i >= 0) return received.splice(0, i + 1).pop()!;
      await new Promise<void>((r) => wake = r);
    }
  };
  raw.send('{"e": "start", "p": ""}');
  await next("attached");
  raw.send("{this is not json");
  assertMatch((await next("error")).p!.data!, /not valid JSON/);
  raw.send('{"e": "teleport", "id": 7}');
  const unknown = await next("error");
  assertEquals([unknown.p!.type, unknown.id], ["event", 7]);
  raw.send('{"e": "until", "p": "soon"}');
  const bad = await next("error");
  assertEquals(bad.p!.type, "payload");
  assertEquals(
    bad.p!.data,
    'until: payload must be an integer >= 1 or an object {thread?, line?}, or absent, got "soon"',
  );
  raw.send('{"e": "step", "id": 8}');
  assertEquals((await t.expect("step")).e, "step");
  raw.close();
  await closeAll(t);
});

Deno.test("auth: the token is required on both links, and start must come in time", async () => {
  await using serve = await startServe(["--token", "tok", "--auth-timeout", "0.3"]);
  const badTracer = await tracer(serve.tracerUrl, "job-3", { auth: "nope" });
  assertEquals((await badTracer.expect("error")).p.type, "auth");
  await badTracer.expect("disable");
  await badTracer.closed();
  const t = await tracer(serve.tracerUrl, "job-3", { auth: "tok" });
  await t.expect("started");
  const bad = await client(serve.clientUrl, "job-3", "nope");
  assertEquals((await bad.expect("error")).p, { type: "auth", data: "Authentication failed" });
  await bad.expect("disable");
  await bad.closed();
  const good = await client(serve.clientUrl, "job-3", "tok");
  await good.expect("attached");
  // A client that never sends start is dropped after the auth timeout.
  const silent = new Inbox(await connectWebSocket(`${serve.clientUrl}/job-3`));
  assertMatch((await silent.expect("error")).p.data, /No start message within 0.3 s/);
  await silent.expect("disable");
  await silent.closed();
  // So is a tracer.
  const silentTracer = new Inbox(await connectTcp(serve.tracerUrl));
  assertEquals((await silentTracer.expect("error")).p.type, "auth");
  await silentTracer.closed();
  await closeAll(good, t);
});

Deno.test("attach timeouts both ways, and orphans when it is 0", async (t) => {
  await t.step("a tracer alone is disabled after the attach timeout", async () => {
    await using serve = await startServe(["--attach-timeout", "0.2"]);
    const tr = await tracer(serve.tracerUrl, "alone");
    await tr.expect("started");
    assertEquals((await tr.expect("error")).p.type, "client");
    assertEquals((await tr.expect("disable")).p, "soft");
    await tr.closed();
  });
  await t.step("a client alone gives up after the attach timeout", async () => {
    await using serve = await startServe(["--attach-timeout", "0.2"]);
    const c = await client(serve.clientUrl, "nobody");
    await c.expect("attached");
    assertEquals((await c.expect("error")).p.type, "tracer");
    await c.expect("disable");
    await c.closed();
  });
  await t.step("with no attach timeout, a tracer's session waits as an orphan", async () => {
    await using serve = await startServe();
    const tr = await tracer(serve.tracerUrl, "orphan");
    await tr.expect("started");
    const listed = new QdbProcess(["sessions", "--server", serve.clientUrl]);
    await listed.line(/^orphan\s+job\.py --fast\s+worker, pid 31337\s+0\s+\d+ s$/);
    await listed.close();
    const c = await client(serve.clientUrl, "orphan");
    await c.expect("attached");
    await tr.expect("start");
    await closeAll(c, tr);
  });
});

for (const mode of ["soft", "hard"]) {
  Deno.test(`inactivity timeout disables the session (${mode})`, async () => {
    await using serve = await startServe([
      "--inactivity-timeout",
      "0.3",
      "--timeout-disable-mode",
      mode,
    ]);
    const tr = await tracer(serve.tracerUrl, "idle");
    const c = await client(serve.clientUrl, "idle");
    await c.expect("attached");
    assertEquals((await tr.expect("disable")).p, mode);
    assertMatch((await c.expect("disable")).p.reason, /No client activity for 0.3 s/);
    await Promise.all([c.closed(), tr.closed()]);
  });
}

Deno.test("a second tracer claiming a live session id is refused", async () => {
  await using serve = await startServe();
  const first = await tracer(serve.tracerUrl, "taken");
  await first.expect("started");
  const second = await tracer(serve.tracerUrl, "taken", { pid: 2 });
  const error = await second.expect("error");
  assertEquals(error.p.type, "session");
  assertMatch(error.p.data, /already has a live tracer \(pid 31337 on worker\)/);
  await second.closed();
  await closeAll(first);
});

Deno.test("a tracer process killed mid-session: clients are told, and get disable after the grace", async () => {
  await using serve = await startServe(["--tracer-grace", "0.2"]);
  const echo = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-all",
      new URL("./support/echo_tracer.ts", import.meta.url).pathname,
      serve.tracerUrl,
      "doomed",
    ],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = echo.stdout.pipeThrough(new TextDecoderStream()).getReader();
  assertEquals((await reader.read()).value?.trim(), "ready");
  const c = await client(serve.clientUrl, "doomed");
  await c.expect("attached");
  await c.expect("stack");
  c.transport.send({ e: "locals", id: 3 });
  assertEquals((await c.expect("print")).id, 3);
  echo.kill("SIGKILL");
  await echo.status;
  assertMatch((await c.expect("error")).p.data, /link was lost/);
  assertEquals(
    (await c.expect("disable")).p.reason,
    "The tracer disconnected and did not come back",
  );
  await c.closed();
  await reader.cancel();
});

Deno.test("a client that drops may attach again and gets the state", async () => {
  await using serve = await startServe();
  const tr = await tracer(serve.tracerUrl, "resume");
  const a = await client(serve.clientUrl, "resume");
  await a.expect("attached");
  await tr.expect("start");
  await closeAll(a);
  const again = await client(serve.clientUrl, "resume");
  await again.expect("attached");
  const start = await tr.expect("start");
  tr.transport.send({ e: "stack", p: { index: 0, stack: [] }, id: start.id! });
  assertEquals((await again.expect("stack")).id, "hello");
  await closeAll(again, tr);
});

Deno.test("a client nobody here wrote (npm ws) can attach and drive a session", async () => {
  await using serve = await startServe();
  const tr = await tracer(serve.tracerUrl, "foreign");
  await tr.expect("started");
  const ws = new WebSocketFromNpm(`${serve.clientUrl}/foreign`);
  const got: { e: string; p?: unknown; id?: unknown }[] = [];
  let wake = () => {};
  ws.on("message", (data: unknown) => {
    got.push(JSON.parse(String(data)));
    wake();
  });
  await new Promise((resolve, reject) => {
    ws.on("open", resolve);
    ws.on("error", reject);
  });
  const next = async (e: string) => {
    while (true) {
      const i = got.findIndex((m) => m.e === e);
      if (i >= 0) return got.splice(0, i + 1).pop()!;
      await new Promise<void>((r) => wake = r);
    }
  };
  ws.send(JSON.stringify({ e: "start", p: "" }));
  await next("attached");
  ws.send(JSON.stringify({ e: "eval", p: "2 + 2", id: "npm-1" }));
  const routed = await tr.expect("eval");
  tr.transport.send({ e: "print", p: { input: "2 + 2", exc: false, output: "4" }, id: routed.id! });
  const reply = await next("print");
  assertEquals(reply, { e: "print", p: { input: "2 + 2", exc: false, output: "4" }, id: "npm-1" });
  const closed = new Promise((r) => ws.on("close", r));
  ws.close();
  await closed;
  await closeAll(tr);
});

Deno.test("qdb sessions lists sessions, and needs the token when the server has one", async () => {
  await using serve = await startServe(["--token", "tok"]);
  const tr = await tracer(serve.tracerUrl, "listed", { auth: "tok" });
  await tr.expect("started");
  const denied = new QdbProcess(["sessions", "--server", serve.clientUrl]);
  assertEquals((await denied.status).code, 1);
  await denied.close();
  assertMatch(
    denied.stderrLines.join("\n"),
    /refused: Authentication failed \(give the right --token\)/,
  );
  const json = new QdbProcess(["sessions", "--server", serve.clientUrl, "--json"], {
    env: { QDB_TOKEN: "tok" },
  });
  assertEquals((await json.status).code, 0);
  await json.close();
  const body = JSON.parse(json.stdoutLines.join("\n"));
  assertEquals(body.sessions[0].id, "listed");
  assertEquals(body.sessions[0].tracer.pid, 31337);
  await closeAll(tr);
});

Deno.test("the handler mounts as one route of a larger Deno.serve app", async () => {
  const { createServer } = await import("../server.ts");
  const qdb = createServer({ basePath: "/debug" });
  const ac = new AbortController();
  const app = Deno.serve(
    { hostname: "127.0.0.1", port: 0, signal: ac.signal, onListen() {} },
    (req, info) => {
      const { pathname } = new URL(req.url);
      if (pathname === "/health") return new Response("ok");
      if (pathname.startsWith("/debug/")) return qdb.handler(req, info);
      return new Response("app", { status: 404 });
    },
  );
  const base = `127.0.0.1:${app.addr.port}`;
  try {
    assertEquals(await (await fetch(`http://${base}/health`)).text(), "ok");
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const accepting = qdb.serveTracers(listener);
    const tr = await tracer(`tcp://127.0.0.1:${listener.addr.port}`, "mounted");
    await tr.expect("started");
    const c = await client(`ws://${base}/debug`, "mounted");
    assertEquals((await c.expect("attached")).p.session, "mounted");
    const list = await (await fetch(`http://${base}/debug/sessions`)).json();
    assertEquals(list.sessions[0].clients, 1);
    await closeAll(c, tr);
    await qdb.close();
    await accepting;
  } finally {
    await qdb.close();
    ac.abort();
    await app.finished;
  }
});
