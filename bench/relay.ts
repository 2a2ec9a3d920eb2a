/**
 * A bare relay, for `bench/step.ts`: the least a server must do to connect a tracer and its
 * clients. A tracer connects by TCP (4-byte length frames) and is answered `started` at once;
 * clients open a WebSocket (what they send before the tracer comes waits for it); every frame of the tracer goes to every client as a text message,
 * every client message to the tracer as a frame. No validation, no sessions, no auth, no
 * limits: what qdb's server adds to a step's round trip is the difference to this.
 *
 * Usage: `deno run --allow-net bench/relay.ts` prints `relay: clients ws://... tracers tcp://...`
 * and runs until killed.
 *
 * @module
 */

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function frame(text: string): Uint8Array {
  const body = encoder.encode(text);
  const out = new Uint8Array(4 + body.length);
  new DataView(out.buffer).setUint32(0, body.length);
  out.set(body, 4);
  return out;
}

/** A running relay. */
export interface Relay extends AsyncDisposable {
  /** Where clients connect (`ws://...`). */
  client: string;
  /** Where the tracer connects (`tcp://...`). */
  tracer: string;
}

/** Starts a relay on free loopback ports. */
export function startRelay(): Relay {
  const clients = new Set<WebSocket>();
  let tracer: Deno.TcpConn | undefined;
  let writes = Promise.resolve();
  // What clients sent before the tracer came (their start), delivered once it has.
  const early: string[] = [];
  const toTracer = (text: string) => {
    const conn = tracer;
    if (!conn) return void early.push(text);
    writes = writes.then(() => conn.write(frame(text))).then(() => {}, () => {});
  };
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    (request) => {
      const { socket, response } = Deno.upgradeWebSocket(request);
      socket.onopen = () => clients.add(socket);
      socket.onclose = () => clients.delete(socket);
      socket.onmessage = (event) => toTracer(String(event.data));
      return response;
    },
  );
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepting = (async () => {
    for await (const conn of listener) {
      tracer = conn;
      void (async () => {
        let buffer = new Uint8Array(0);
        let first = true;
        try {
          for await (const chunk of conn.readable) {
            const joined = new Uint8Array(buffer.length + chunk.length);
            joined.set(buffer);
            joined.set(chunk, buffer.length);
            buffer = joined;
            while (buffer.length >= 4) {
              const length = new DataView(buffer.buffer, buffer.byteOffset).getUint32(0);
              if (buffer.length < 4 + length) break;
              const text = decoder.decode(buffer.subarray(4, 4 + length));
              buffer = buffer.slice(4 + length);
              if (first) {
                first = false;
                const session = (JSON.parse(text) as { p: { session: string } }).p.session;
                toTracer(JSON.stringify({ e: "started", p: { session, protocol: 2 } }));
                for (const text of early.splice(0)) toTracer(text);
                continue;
              }
              for (const client of clients) client.send(text);
            }
          }
        } catch { /* the tracer went away */ }
      })();
    }
  })().catch(() => {});
  const close = async () => {
    try {
      listener.close();
    } catch { /* closed */ }
    try {
      tracer?.close();
    } catch { /* closed */ }
    for (const client of clients) client.close();
    await server.shutdown();
    await accepting;
  };
  return {
    client: `ws://127.0.0.1:${server.addr.port}`,
    tracer: `tcp://127.0.0.1:${(listener.addr as Deno.NetAddr).port}`,
    [Symbol.asyncDispose]: close,
  };
}

if (import.meta.main) {
  const relay = startRelay();
  console.log(`relay: clients ${relay.client}  tracers ${relay.tracer}`);
}
