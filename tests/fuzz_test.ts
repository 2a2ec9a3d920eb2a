// Property-based fuzzing of both links of a real server (sockets on loopback): whatever a
// client or a tracer sends, the server stays up, another session keeps answering, memory
// stays bounded, and every bad message gets an error. The suite runs a short pass;
// `deno task fuzz` runs 100,000 cases (QDB_FUZZ_RUNS).
import { FAKE_TRACER, fakeTracer } from "./support/fake_tracer.ts";
import fc from "fast-check";
import { assert } from "./support/assert.ts";
import { Inbox } from "./support/inbox.ts";
import { serve } from "../server.ts";
import { connectWebSocket } from "../transport/websocket.ts";
import { COMMANDS, encodeFrame, TRACER_EVENTS } from "../protocol/mod.ts";
import { encodeDap } from "../dap/wire.ts";
import { QdbProcess } from "./support/processes.ts";

const RUNS = Number(Deno.env.get("QDB_FUZZ_RUNS") ?? "300");

/** Messages a peer might send: known names with any payload, unknown names, junk. */
function messages(names: string[]) {
  const payload = fc.oneof(
    fc.jsonValue({ maxDepth: 4 }),
    fc.string({ unit: "binary", maxLength: 200 }),
    fc.object({ maxDepth: 3 }),
  );
  const envelope = fc.record({
    e: fc.oneof(fc.constantFrom(...names), fc.string({ maxLength: 20 })),
    p: payload,
    id: fc.oneof(fc.integer(), fc.string({ maxLength: 10 }), fc.constant(undefined)),
  }, { requiredKeys: ["e"] });
  return fc.oneof(
    envelope.map((m) => JSON.stringify(m)),
    fc.jsonValue({ maxDepth: 5 }).map((v) => JSON.stringify(v)),
    fc.string({ unit: "binary", maxLength: 300 }),
    fc.integer({ min: 60, max: 2000 }).map((n) => "[".repeat(n) + "]".repeat(n)),
  );
}

Deno.test({
  name: "fuzz: hostile clients and tracers never take the server or another session down",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await using s = await serve({ clientPort: 0, tracerPort: 0, inactivityTimeout: 0 });
    // The control session: it must answer after every case.
    const { controlTracer, cc, control } = await controlSession(s);

    // The fuzzed session: a tracer and a client, both sending raw text. Fuzzing may end it
    // for real (a valid `disable` or `disabled`): then a new one is opened.
    let fuzz = await openFuzzed(s.tracerUrl, s.clientUrl, "fuzz-0");
    let reopened = 0;

    let peakRss = 0;
    let round = 0;
    const clientNames = Object.keys(COMMANDS);
    const tracerNames = [...Object.keys(TRACER_EVENTS), "command", "attached", "clients"];
    await fc.assert(
      fc.asyncProperty(
        messages(clientNames),
        messages(tracerNames),
        async (toServer, fromTracer) => {
          if (!await fuzz.send(toServer, fromTracer)) {
            await fuzz.close();
            fuzz = await openFuzzed(s.tracerUrl, s.clientUrl, `fuzz-${++reopened}`);
          }
          // The control session still routes a command both ways.
          round++;
          cc.send({ e: "eval", p: `${round}`, id: round });
          const routed = await controlTracer.expect("eval", (p) => p === `${round}`);
          controlTracer.transport.send({
            e: "print",
            p: { input: `${round}`, exc: false, output: "ok" },
            id: routed.id!,
          });
          await control.expect("print", (p) => p.input === `${round}`);
          peakRss = Math.max(peakRss, Deno.memoryUsage().rss);
        },
      ),
      { numRuns: RUNS },
    );
    await fuzz.close();
    // Bounded memory: far below what a leak per case would cost.
    console.log(
      `fuzz: ${RUNS} cases, peak RSS ${Math.round(peakRss / 1e6)} MB, ` +
        `${reopened} fuzzed sessions ended by what was sent`,
    );
    assert(peakRss < 1.5e9, `peak RSS ${peakRss}`);
    assert((await s.server.sessions()).sessions.some((x) => x.id === "control"));
    for (const i of [controlTracer, control]) {
      i.transport.close();
      await i.closed();
    }
  },
});

/** A session whose tracer and client must keep answering whatever the fuzzed peers do. */
async function controlSession(s: { tracerUrl: string; clientUrl: string }) {
  const controlTracer = await fakeTracer(s.tracerUrl, "control");
  await controlTracer.expect("started");
  const cc = await connectWebSocket(`${s.clientUrl}/control`);
  cc.send({ e: "start", p: "" });
  const control = new Inbox(cc);
  await control.expect("attached");
  return { controlTracer, cc, control };
}

/** A tracer (raw TCP) and a client (WebSocket) of one session, sending what they are given. */
async function openFuzzed(tracerUrl: string, clientUrl: string, session: string) {
  const conn = await Deno.connect({ port: Number(new URL(tracerUrl).port) });
  await conn.write(encodeFrame({ e: "start", p: { ...FAKE_TRACER, session } }));
  // Replies (errors) are read and dropped, so that the server never waits on us.
  const drained = (async () => {
    for await (const _ of conn.readable) { /* drop */ }
  })().catch(() => {});
  const ws = new WebSocket(`${clientUrl}/${session}`);
  await new Promise((resolve, reject) => {
    ws.onopen = resolve;
    ws.onerror = reject;
  });
  ws.send(JSON.stringify({ e: "start", p: "" }));
  return {
    /** Sends one client message and one tracer frame; false once the session is over. */
    async send(toServer: string, fromTracer: string): Promise<boolean> {
      if (ws.readyState !== WebSocket.OPEN) return false;
      ws.send(toServer);
      const body = new TextEncoder().encode(fromTracer);
      const frame = new Uint8Array(4 + body.length);
      new DataView(frame.buffer).setUint32(0, body.length);
      frame.set(body, 4);
      try {
        let written = 0;
        while (written < frame.length) written += await conn.write(frame.subarray(written));
        return true;
      } catch {
        return false;
      }
    },
    async close() {
      ws.close();
      try {
        conn.close();
      } catch {
        // Closed by the server.
      }
      await drained;
    },
  };
}

/** Cases of the pre-authentication and DAP properties in the suite (`deno task fuzz`: more). */
const RAW_RUNS = Number(Deno.env.get("QDB_FUZZ_RUNS") ?? "150");

/** Bytes a peer might send before it has authenticated, or to an adapter's port. */
function rawBytes(kind: "client" | "tracer" | "dap") {
  const enc = (text: string) => new TextEncoder().encode(text);
  const join = (a: Uint8Array, b: Uint8Array) => new Uint8Array([...a, ...b]);
  const junk = fc.uint8Array({ maxLength: 2048 });
  const text = fc.string({ unit: "binary", maxLength: 400 });
  const upgrade = enc(
    "GET /s1 HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
  );
  if (kind === "client") {
    return fc.oneof(
      junk,
      text.map((t) => enc(`GET /${t} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`)),
      // An upgrade, then frames of any header (lengths up to 2^63) and body.
      fc.tuple(fc.uint8Array({ minLength: 2, maxLength: 14 }), junk).map(([head, body]) =>
        join(upgrade, join(head, body))
      ),
    );
  }
  if (kind === "tracer") {
    return fc.oneof(
      junk,
      // A frame header of any length, then any body.
      fc.tuple(fc.integer({ min: 0, max: 0xffffffff }), junk).map(([n, body]) => {
        const head = new Uint8Array(4);
        new DataView(head.buffer).setUint32(0, n);
        return join(head, body);
      }),
      fc.jsonValue({ maxDepth: 4 }).map((p) => encodeFrame({ e: "start", p })),
    );
  }
  const dap = (body: string) => enc(`Content-Length: ${enc(body).length}\r\n\r\n${body}`);
  return fc.oneof(
    junk,
    text.map(enc),
    text.map((t) => enc(`POST / HTTP/1.1\r\nContent-Length: ${t.length}\r\n\r\n${t}`)),
    fc.jsonValue({ maxDepth: 4 }).map((v) => dap(JSON.stringify(v))),
    fc.record({
      seq: fc.integer(),
      type: fc.constantFrom("request", "event", "response"),
      command: fc.constantFrom("initialize", "launch", "attach", "evaluate", "disconnect"),
      arguments: fc.object({ maxDepth: 2 }),
    }).map((m) => dap(JSON.stringify(m))),
  );
}

/** Sends `bytes` on a new connection to `port` and lets go of it. */
async function hit(port: number, bytes: Uint8Array): Promise<void> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(bytes);
  } catch {
    // Closed by the server part way: that is an answer too.
  } finally {
    try {
      conn.close();
    } catch { /* closed */ }
  }
}

Deno.test({
  name: "fuzz: any bytes before authentication, on either port, leave the server serving",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await using s = await serve({ clientPort: 0, tracerPort: 0, inactivityTimeout: 0 });
    const { controlTracer, cc, control } = await controlSession(s);
    const ports = {
      client: Number(new URL(s.clientUrl).port),
      tracer: Number(new URL(s.tracerUrl).port),
    };
    let peakRss = 0;
    let round = 0;
    await fc.assert(
      fc.asyncProperty(rawBytes("client"), rawBytes("tracer"), async (toClient, toTracer) => {
        await Promise.all([hit(ports.client, toClient), hit(ports.tracer, toTracer)]);
        round++;
        cc.send({ e: "eval", p: `${round}`, id: round });
        await controlTracer.expect("eval", (p) => p === `${round}`);
        peakRss = Math.max(peakRss, Deno.memoryUsage().rss);
      }),
      { numRuns: RAW_RUNS },
    );
    console.log(
      `fuzz before auth: ${RAW_RUNS} cases per port, peak RSS ${Math.round(peakRss / 1e6)} MB`,
    );
    assert(peakRss < 1.5e9, `peak RSS ${peakRss}`);
    for (const i of [controlTracer, control]) {
      i.transport.close();
      await i.closed();
    }
  },
});

Deno.test({
  name: "fuzz: any bytes to qdb dap --port never run anything, and it goes on serving",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await using dap = new QdbProcess(["dap", "--port", "0", "--token", "fuzz-token"]);
    const [, port] = await dap.line(/^qdb dap: listening on 127\.0\.0\.1:(\d+)$/, "stderr");
    await fc.assert(
      fc.asyncProperty(rawBytes("dap"), (bytes) => hit(Number(port), bytes)),
      { numRuns: RAW_RUNS },
    );
    // Still serving: a well-formed initialize is answered.
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: Number(port) });
    await conn.write(encodeDap({ seq: 1, type: "request", command: "initialize", arguments: {} }));
    const buf = new Uint8Array(4096);
    const n = await conn.read(buf);
    conn.close();
    assert(n !== null && new TextDecoder().decode(buf.subarray(0, n)).includes('"success":true'));
    const status = await Deno.readTextFile(`/proc/${dap.child.pid}/status`);
    const peak = Number(/^VmHWM:\s+(\d+) kB/m.exec(status)![1]) * 1024;
    console.log(`fuzz qdb dap --port: ${RAW_RUNS} cases, peak RSS ${Math.round(peak / 1e6)} MB`);
    assert(peak < 1e9, `peak RSS ${peak}`);
    dap.kill();
  },
});
