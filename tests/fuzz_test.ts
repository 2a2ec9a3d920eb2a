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
    await using s = serve({ clientPort: 0, tracerPort: 0, inactivityTimeout: 0 });
    // The control session: it must answer after every case.
    const controlTracer = await fakeTracer(s.tracerUrl, "control");
    await controlTracer.expect("started");
    const cc = await connectWebSocket(`${s.clientUrl}/control`);
    cc.send({ e: "start", p: "" });
    const control = new Inbox(cc);
    await control.expect("attached");

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
    assert(s.server.sessions().sessions.some((x) => x.id === "control"));
    for (const i of [controlTracer, control]) {
      i.transport.close();
      await i.closed();
    }
  },
});

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
