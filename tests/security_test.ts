// The server attacked as a real attacker would (issue: security and reliability). Each test
// names the finding it reproduces; each failed on the code before the fix.
import { assert, assertEquals, assertMatch } from "./support/assert.ts";
import { FAKE_TRACER, fakeTracer } from "./support/fake_tracer.ts";
import { Inbox } from "./support/inbox.ts";
import { RawPeer } from "./support/raw_http.ts";
import { QdbProcess, startServe } from "./support/processes.ts";
import { findPythons } from "./support/pythons.ts";
import { serve, type ServeOptions } from "../server.ts";
import { connectTcp } from "../transport/tcp.ts";
import { connectWebSocket } from "../transport/websocket.ts";
import { encodeFrame } from "../protocol/mod.ts";

const TICKER = new URL("../testdata/ticker.py", import.meta.url).pathname;

async function withServe(
  options: ServeOptions,
  fn: (s: Awaited<ReturnType<typeof serve>>, logs: string[]) => Promise<void>,
) {
  const logs: string[] = [];
  const running = await serve({
    clientPort: 0,
    tracerPort: 0,
    inactivityTimeout: 0,
    log: (line) => logs.push(line),
    ...options,
  });
  try {
    await fn(running, logs);
  } finally {
    await running.close();
  }
}

async function tracer(url: string, session: string) {
  const inbox = await fakeTracer(url, session);
  await inbox.expect("started");
  return inbox;
}

async function client(url: string, session: string, auth = "") {
  const link = await connectWebSocket(`${url}/${session}`);
  link.send({ e: "start", p: { auth } });
  const inbox = new Inbox(link);
  return inbox;
}

function close(...inboxes: Inbox[]) {
  return Promise.all(inboxes.map(async (i) => {
    i.transport.close();
    await i.closed();
  }));
}

Deno.test("finding 1: a web page of another origin cannot open a client WebSocket", async () => {
  await withServe({}, async (s, logs) => {
    const port = new URL(s.clientUrl).port;
    await using evil = await RawPeer.connect(s.clientUrl);
    await evil.request("/s1", { Host: `127.0.0.1:${port}`, Origin: "http://evil.example" }, {
      upgrade: true,
    });
    const refused = await evil.responseHead();
    assertEquals(refused.status, 403);
    assertMatch(refused.head, /--allow-origin/);
    assertMatch(logs.join("\n"), /refused a request from the page at "http:\/\/evil.example"/);
    // The server's own pages (same origin) and programs (no Origin) may.
    await using same = await RawPeer.connect(s.clientUrl);
    await same.request("/s1", {
      Host: `127.0.0.1:${port}`,
      Origin: `http://127.0.0.1:${port}`,
    }, { upgrade: true });
    assertEquals((await same.responseHead()).status, 101);
    await using program = await RawPeer.connect(s.clientUrl);
    await program.request("/s1", { Host: `localhost:${port}` }, { upgrade: true });
    assertEquals((await program.responseHead()).status, 101);
  });
});

Deno.test("finding 1: --allow-origin lets a named origin in", async () => {
  await withServe({ allowedOrigins: ["https://ide.example"] }, async (s) => {
    const port = new URL(s.clientUrl).port;
    await using ide = await RawPeer.connect(s.clientUrl);
    await ide.request("/s1", { Host: `127.0.0.1:${port}`, Origin: "https://ide.example" }, {
      upgrade: true,
    });
    assertEquals((await ide.responseHead()).status, 101);
  });
});

Deno.test("finding 1: DNS rebinding (a foreign Host) cannot list sessions or attach", async () => {
  await withServe({}, async (s) => {
    const t = await tracer(s.tracerUrl, "secret-job");
    for (const upgrade of [false, true]) {
      await using rebind = await RawPeer.connect(s.clientUrl);
      await rebind.request(upgrade ? "/secret-job" : "/sessions", {
        Host: "rebind.attacker.example",
      }, { upgrade });
      const head = await rebind.responseHead();
      assertEquals(head.status, 403);
      assert(!head.head.includes("secret-job"));
    }
    // An IP address, localhost, or a name given with allowedHosts still works.
    const ok = await fetch(`http://localhost:${new URL(s.clientUrl).port}/sessions`);
    assertEquals((await ok.json()).sessions[0].id, "secret-job");
    await close(t);
  });
  await withServe({ allowedHosts: ["debug.internal"] }, async (s) => {
    await using named = await RawPeer.connect(s.clientUrl);
    await named.request("/sessions", { Host: "debug.internal:8002" });
    assertEquals((await named.responseHead()).status, 200);
  });
});

Deno.test("finding 2: a tracer may send only tracer events, of the documented shape", async () => {
  await withServe({ tracerGrace: 0 }, async (s) => {
    const t = await tracer(s.tracerUrl, "s1");
    const c = await client(s.clientUrl, "s1");
    await c.expect("attached");
    // Forged server events, and an `exited` whose code is a 5,000-deep array.
    let deep: unknown = 1;
    for (let i = 0; i < 5000; i++) deep = [deep];
    for (
      const forged of [
        { e: "command", p: { client: { id: "c9", name: "root", address: "x" }, e: "eval" } },
        { e: "attached", p: { session: "s1" } },
        { e: "clients", p: { joined: { id: "c9", name: "admin", address: "x" } } },
        { e: "exited", p: { code: deep } },
      ]
    ) {
      t.transport.send(forged);
      const error = await t.expect("error");
      assertMatch(String(error.p.data), /tracer may not send|must be|levels deep/);
    }
    t.transport.send({ e: "print", p: { input: "<stdout>", exc: false, output: "real\n" } });
    await c.expect("print");
    assertEquals(
      c.seen.filter((m) => ["command", "clients", "exited"].includes(m.e)).length,
      0,
    );
    // The tracer just closes: the session ends (no zombie: at once here, where the server
    // gives no grace to a lost tracer) and the id can be used again.
    t.transport.close();
    await c.expect("disable");
    const again = await tracer(s.tracerUrl, "s1");
    await close(again, c);
  });
});

Deno.test("finding 3: deeply nested messages are refused at once, on both links", async () => {
  await withServe({}, async (s) => {
    const t = await tracer(s.tracerUrl, "s1");
    const c = await client(s.clientUrl, "s1");
    await c.expect("attached");
    const nested = "[".repeat(1_000_000) + "]".repeat(1_000_000);
    c.transport.send({ e: "eval", p: "1" }); // a control: the link lives on after the bad one
    // Send the raw text through a second, raw peer so that it is not wrapped in an envelope.
    await using peer = await RawPeer.connect(s.clientUrl);
    await peer.request("/s1", { Host: "127.0.0.1" }, { upgrade: true });
    assertEquals((await peer.responseHead()).status, 101);
    await peer.sendText('{"e":"start","p":""}');
    await peer.sendText(nested);
    // The tracer link: a 2 MB frame of nesting.
    const frame = encodeFrame(`{"e":"print","p":${nested.slice(0, 1_000_000)}`);
    const conn = await Deno.connect({ port: Number(new URL(s.tracerUrl).port) });
    await conn.write(encodeFrame({ e: "start", p: { ...FAKE_TRACER, session: "s2" } }));
    await conn.write(frame);
    // Everything else goes on.
    c.transport.send({ e: "eval", p: "2" });
    assertEquals((await t.expect("eval")).p, "1");
    assertEquals((await t.expect("eval")).p, "2");
    conn.close();
    await close(t, c);
  });
});

Deno.test("finding 3: an error about a huge value quotes a little of it, not all", async () => {
  await withServe({}, async (s) => {
    const t = await tracer(s.tracerUrl, "s1");
    const c = await client(s.clientUrl, "s1");
    await c.expect("attached");
    c.transport.send({ e: "set_break", p: { line: "x".repeat(3_000_000) } });
    const error = await c.expect("error");
    assertEquals(error.p.type, "payload");
    assert(String(error.p.data).length < 300, String(error.p.data).length.toString());
    await close(t, c);
  });
});

Deno.test("finding 4: before start a message may be only a few KiB, on both links", async () => {
  await withServe({}, async (s) => {
    const big = { e: "start", p: { auth: "", name: "x".repeat(20_000) } };
    const c = await connectWebSocket(`${s.clientUrl}/s1`);
    c.send(big);
    const ci = new Inbox(c);
    // Refused as its header arrives (nothing of it is kept): the close says why.
    await ci.closed();
    assertEquals(c.closeInfo?.code, 1009);
    const t = await connectTcp(s.tracerUrl);
    t.send({ e: "start", p: { ...FAKE_TRACER, session: "s1", cwd: "x".repeat(20_000) } });
    const ti = new Inbox(t);
    assertMatch(String((await ti.expect("error")).p.data), /exceeds the limit of 8192/);
    await ti.closed();
    // After start, full-size messages are fine.
    const tracerOk = await tracer(s.tracerUrl, "s2");
    tracerOk.transport.send({
      e: "print",
      p: { input: "<stdout>", exc: false, output: "y".repeat(100_000) },
    });
    const clientOk = await client(s.clientUrl, "s2");
    await clientOk.expect("attached");
    clientOk.transport.send({ e: "eval", p: "z".repeat(50_000) });
    assertEquals((await tracerOk.expect("eval")).p.length, 50_000);
    await close(tracerOk, clientOk);
  });
});

Deno.test("finding 4: unauthenticated connections are limited per address, and need start in time", async () => {
  await withServe({ limits: { maxPendingPerAddress: 3 }, authTimeout: 500 }, async (s, logs) => {
    const idle = await Promise.all([1, 2, 3].map(() => connectTcp(s.tracerUrl)));
    const idleInboxes = idle.map((l) => new Inbox(l));
    // Let the server accept them before the fourth comes.
    const fourth = await connectTcp(s.tracerUrl);
    const fi = new Inbox(fourth);
    const e = await fi.expect("error");
    assertEquals(e.p.type, "limit");
    assertMatch(String(e.p.data), /waiting to authenticate \(3\)/);
    // The idle ones are closed when the auth timeout runs out, freeing their slots.
    for (const i of idleInboxes) await i.closed();
    const t = await tracer(s.tracerUrl, "s1");
    await close(t, fi);
    assert(logs.length < 20);
  });
});

Deno.test("finding 13: failed logins from one address are slowed, and logged sparingly", async () => {
  await withServe({ token: "right", limits: { maxAuthFailures: 5 } }, async (s, logs) => {
    for (let i = 0; i < 8; i++) {
      const c = await client(s.clientUrl, "s1", `guess-${i}`);
      const error = await c.expect("error");
      assertEquals(error.p.type, "auth");
      // Past the allowance, each wrong guess is answered late.
      assertEquals(/answered .* late/.test(String(error.p.data)), i >= 5);
      await c.closed();
    }
    const failures = logs.filter((l) => /failed to authenticate/.test(l));
    assertEquals(failures.length, 3);
  });
});

Deno.test("round 2 finding 6: wrong tokens never lock out the right one, nor a tracer's resume key", async () => {
  await withServe({ token: "right", tracerGrace: 60_000 }, async (s) => {
    const t = await fakeTracer(s.tracerUrl, "s1", { auth: "right" });
    const resume = String((await t.expect("started")).p.resume);
    // 11 wrong tokens from this address (the default allowance is 10), on both links.
    for (let i = 0; i < 11; i++) {
      const c = await client(s.clientUrl, "s1", `guess-${i}`);
      assertEquals((await c.expect("error")).p.type, "auth");
      await c.closed();
    }
    // The right token is accepted at once: no "limit", no waiting.
    const right = await client(s.clientUrl, "s1", "right");
    await right.expect("attached");
    // The session's tracer loses its link and comes back with its resume key.
    await close(t);
    const back = await connectTcp(s.tracerUrl);
    back.send({ e: "start", p: { ...FAKE_TRACER, session: "s1", auth: "right", resume } });
    const inbox = new Inbox(back);
    assertEquals((await inbox.expect(["started", "error"])).e, "started");
    await close(inbox, right);
  });
});

Deno.test("finding 8: a client that never reads is dropped; the others get everything", async () => {
  await withServe({ limits: { maxQueuedBytes: 4 * 1024 * 1024 } }, async (s, logs) => {
    const t = await tracer(s.tracerUrl, "s1");
    const reader = await client(s.clientUrl, "s1");
    await reader.expect("attached");
    // The slow one: authenticates, then never reads again.
    await using slow = await RawPeer.connect(s.clientUrl);
    await slow.request("/s1", { Host: "127.0.0.1" }, { upgrade: true });
    assertEquals((await slow.responseHead()).status, 101);
    await slow.sendText('{"e":"start","p":{"name":"slow"}}');
    await reader.expect("clients", (p) => p.joined?.name === "slow");
    // 32 MiB in batches of 1 MiB, each read by the reader before the next is sent: the
    // reader keeps up, the slow one falls behind by all of it.
    const chunk = "z".repeat(64 * 1024);
    for (let batch = 0; batch < 32; batch++) {
      for (let i = 0; i < 16; i++) {
        t.transport.send({ e: "print", p: { input: "<stdout>", exc: false, output: chunk } });
      }
      for (let i = 0; i < 16; i++) await reader.expect("print");
    }
    assert(
      reader.seen.some((m) =>
        m.e === "clients" && (m.p as { left?: { name: string } }).left?.name === "slow"
      ),
    );
    assertEquals(reader.seen.filter((m) => m.e === "print").length, 32 * 16);
    assertMatch(logs.join("\n"), /dropped client c\d+: \d+ bytes unread/);
    await close(t, reader);
  });
});

Deno.test("finding 11: joins and leaves are sent as deltas; sessions and clients are bounded", async () => {
  await withServe({ limits: { maxClientsPerSession: 3, maxSessions: 2 } }, async (s) => {
    const a = await client(s.clientUrl, "s1");
    assertEquals((await a.expect("attached")).p.clients.length, 1);
    const b = await client(s.clientUrl, "s1");
    await b.expect("attached");
    const joined = await a.expect("clients");
    assertEquals(Object.keys(joined.p), ["joined"]);
    const c = await client(s.clientUrl, "s1");
    await c.expect("attached");
    const d = await client(s.clientUrl, "s1");
    const full = await d.expect("error");
    assertEquals(full.p.type, "limit");
    assertMatch(String(full.p.data), /most clients it takes \(3\)/);
    const other = await client(s.clientUrl, "s2");
    await other.expect("attached");
    const third = await client(s.clientUrl, "s3");
    assertMatch(String((await third.expect("error")).p.data), /most sessions it takes \(2\)/);
    await close(a, b, c, d, other, third);
  });
});

Deno.test("finding 13: a malformed path is a 400, and the server goes on", async () => {
  await withServe({}, async (s) => {
    const port = new URL(s.clientUrl).port;
    const bad = await fetch(`http://127.0.0.1:${port}/%E0%A4%A`);
    assertEquals(bad.status, 400);
    await bad.body?.cancel();
    const ok = await fetch(`http://127.0.0.1:${port}/sessions`);
    assertEquals(ok.status, 200);
    await ok.body?.cancel();
  });
});

Deno.test("finding 13: a tracer may name its session uuid, as the original's did", async () => {
  await withServe({}, async (s) => {
    const link = await connectTcp(s.tracerUrl);
    link.send({ e: "start", p: { ...FAKE_TRACER, uuid: "legacy-1" } });
    const t = new Inbox(link);
    assertEquals((await t.expect("started")).p.session, "legacy-1");
    await close(t);
  });
});

Deno.test({
  name: "finding 9: running out of file descriptors does not end qdb serve",
  async fn() {
    // A low open-file limit, and a connection cap above it, so that accept really fails.
    await using serve = new QdbProcess([
      "serve",
      "--client-port",
      "0",
      "--tracer-port",
      "0",
      "--max-connections",
      "2000",
      "--auth-timeout",
      "60",
    ], { ulimit: 96 });
    const m = await serve.line(/^qdb serve: clients (ws:\/\/\S+) {2}tracers (tcp:\/\/\S+)$/);
    const tracerUrl = m[2]!;
    const port = Number(new URL(tracerUrl).port);
    const held: Deno.Conn[] = [];
    for (let i = 0; i < 200; i++) held.push(await Deno.connect({ port }));
    await serve.line(/accepting a tracer failed .*open files/, "stderr");
    for (const c of held) c.close();
    // Still alive: a tracer and a client can use it (once it has seen the others go).
    let t: Inbox | undefined;
    while (!t) {
      const link = await connectTcp(tracerUrl);
      link.send({ e: "start", p: { ...FAKE_TRACER, session: "after" } });
      const inbox = new Inbox(link);
      const first = await inbox.expect(["started", "error"]);
      if (first.e === "started") t = inbox;
      else await close(inbox);
    }
    const c = await client(m[1]!, "after");
    await c.expect("attached");
    await close(t, c);
  },
});

Deno.test("finding 9: the connection cap refuses WebSocket upgrades before the fd limit", async () => {
  await withServe({ limits: { maxConnections: 5, maxPendingPerAddress: 100 } }, async (s) => {
    const peers: RawPeer[] = [];
    let refused = 0;
    for (let i = 0; i < 8; i++) {
      const p = await RawPeer.connect(s.clientUrl);
      peers.push(p);
      await p.request("/s1", { Host: "127.0.0.1" }, { upgrade: true });
      // Past the cap a socket is closed as it is accepted: no answer at all.
      const { status } = await p.responseHead();
      if (status === 0) refused++;
      else assertEquals(status, 101);
    }
    assertEquals(refused, 3);
    for (const p of peers) p.close();
  });
});

Deno.test("finding 13: qdb serve exits on the first SIGTERM even when a peer never answers", async () => {
  await using serve = new QdbProcess(["serve", "--client-port", "0", "--tracer-port", "0"]);
  const m = await serve.line(/^qdb serve: clients (ws:\/\/\S+) {2}tracers (tcp:\/\/\S+)$/);
  await using mute = await RawPeer.connect(m[1]!);
  await mute.request("/s1", { Host: "127.0.0.1" }, { upgrade: true });
  assertEquals((await mute.responseHead()).status, 101);
  await mute.sendText('{"e":"start","p":""}');
  // It attached (the server logs it), then it never reads nor answers a close frame.
  await serve.line(/client c1 .* attached/, "stderr");
  serve.child.kill("SIGTERM");
  const status = await serve.status;
  assertEquals(status.code, 0);
});

Deno.test({
  name: "finding 10: a tracer killed with SIGKILL does not kill a program that prints",
  ignore: (await findPythons()).length === 0,
  async fn() {
    const python = (await findPythons())[0]!;
    const marker = await Deno.makeTempFile({ prefix: "qdb-survived-" });
    await Deno.remove(marker);
    try {
      await using serve = await startServe(["--tracer-grace", "1"]);
      await using trace = new QdbProcess([
        "trace",
        "--server",
        serve.tracerUrl,
        "--session",
        "ticker",
        "--python",
        python.path,
        "--no-stop",
        TICKER,
        marker,
      ]);
      const c = await client(serve.clientUrl, "ticker");
      await c.expect("attached", (p) => p.tracer !== null);
      await c.expect("print", (p) => p.input === "<stdout>");
      trace.child.kill("SIGKILL");
      // Its clients are told at once; the session ends when the tracer does not come back.
      const lost = await c.expect("error", (p) => p.type === "tracer");
      assertMatch(lost.p.data, /link was lost/);
      await c.expect("disable");
      // The program (now an orphan) runs to its end.
      const deadline = Date.now() + 60_000;
      while (Date.now() < deadline) {
        try {
          if (await Deno.readTextFile(marker) === "survived") break;
        } catch {
          // Not yet.
        }
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      assertEquals(await Deno.readTextFile(marker), "survived");
      await close(c);
    } finally {
      await Deno.remove(marker).catch(() => {});
    }
  },
});
