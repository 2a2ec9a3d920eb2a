// One suite, run against every transport implementation.
import { AsyncQueue } from "./async_queue.ts";
import { assert, assertEquals } from "../tests/support/assert.ts";
import type { Message } from "../protocol/mod.ts";
import { memoryPair } from "./memory.ts";
import { connectTcp, parseTcpAddress, TcpTransport } from "./tcp.ts";
import type { Incoming, MessageTransport } from "./transport.ts";
import { connectWebSocket, WebSocketTransport } from "./websocket.ts";

interface Pair {
  a: MessageTransport;
  b: MessageTransport;
  cleanup(): Promise<void>;
}

async function tcpPair(): Promise<Pair> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepted = listener.accept();
  const a = await connectTcp({ hostname: "127.0.0.1", port: listener.addr.port });
  const b = new TcpTransport(await accepted);
  return {
    a,
    b,
    async cleanup() {
      listener.close();
      a.close();
      b.close();
      await Promise.all([a.closed, b.closed]);
    },
  };
}

/** A WebSocket server on a free port whose first connection becomes a transport. */
function webSocketServer(options: { maxMessageLength?: number } = {}) {
  const ac = new AbortController();
  const { promise: accepted, resolve } = Promise.withResolvers<WebSocketTransport>();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, signal: ac.signal, onListen() {} },
    (req) => {
      const { socket, response } = Deno.upgradeWebSocket(req);
      resolve(new WebSocketTransport(socket, options));
      return response;
    },
  );
  return {
    url: `ws://127.0.0.1:${server.addr.port}/x`,
    accepted,
    async close() {
      ac.abort();
      await server.finished;
    },
  };
}

async function webSocketPair(): Promise<Pair> {
  const server = webSocketServer();
  const a = await connectWebSocket(server.url);
  const b = await server.accepted;
  return {
    a,
    b,
    async cleanup() {
      a.close();
      b.close();
      await Promise.all([a.closed, b.closed]);
      await server.close();
    },
  };
}

function memory(): Promise<Pair> {
  const [a, b] = memoryPair();
  return Promise.resolve({
    a,
    b,
    async cleanup() {
      a.close();
      await Promise.all([a.closed, b.closed]);
    },
  });
}

const IMPLEMENTATIONS: [string, () => Promise<Pair>][] = [
  ["memory", memory],
  ["tcp", tcpPair],
  ["websocket", webSocketPair],
];

async function take(t: MessageTransport, n: number): Promise<Incoming[]> {
  const out: Incoming[] = [];
  if (n === 0) return out;
  for await (const item of t.incoming) {
    out.push(item);
    if (out.length === n) break;
  }
  return out;
}

for (const [name, makePair] of IMPLEMENTATIONS) {
  Deno.test(`${name}: messages arrive in order, both ways`, async () => {
    const { a, b, cleanup } = await makePair();
    try {
      const sent: Message[] = [];
      for (let i = 0; i < 200; i++) {
        const msg = { e: "eval", p: `x${i}`, id: i };
        sent.push(msg);
        assert(a.send(msg));
      }
      const received = (await take(b, 200)).map((item) => "message" in item && item.message);
      assertEquals(received, sent);
      b.send({ e: "print", p: { input: "<stdout>", exc: false, output: "ünïcode ✓\n" } });
      assertEquals(await take(a, 1), [{
        message: { e: "print", p: { input: "<stdout>", exc: false, output: "ünïcode ✓\n" } },
      }]);
    } finally {
      await cleanup();
    }
  });

  Deno.test(`${name}: a large message arrives whole`, async () => {
    const { a, b, cleanup } = await makePair();
    try {
      const big = "y".repeat(3_000_000);
      a.send({ e: "print", p: big });
      const [item] = await take(b, 1);
      assert(item && "message" in item);
      assertEquals((item.message.p as string).length, big.length);
    } finally {
      await cleanup();
    }
  });

  Deno.test(`${name}: closing one side ends the other, and close is idempotent`, async () => {
    const { a, b, cleanup } = await makePair();
    try {
      a.send({ e: "last" });
      a.close();
      a.close();
      // The message sent before close still arrives, then the stream ends.
      const items: Incoming[] = [];
      for await (const item of b.incoming) items.push(item);
      assertEquals(items, [{ message: { e: "last" } }]);
      await b.closed;
      assert(b.isClosed);
      assertEquals(a.send({ e: "late" }), false);
      assertEquals(b.send({ e: "late" }), false);
    } finally {
      await cleanup();
    }
  });
}

Deno.test("websocket: binary and oversized frames are errors, the link survives", async () => {
  const server = webSocketServer({ maxMessageLength: 100 });
  const raw = new WebSocket(server.url);
  await new Promise((r) => raw.onopen = r);
  const b = await server.accepted;
  raw.send(new Uint8Array([1, 2, 3]));
  raw.send(JSON.stringify({ e: "eval", p: "z".repeat(200) }));
  raw.send("not json");
  raw.send('{"e": "step"}');
  const items = await take(b, 4);
  const errors = items.map((i) => "error" in i ? i.error.message : i.message.e);
  assert(errors[0]!.includes("Binary"));
  assert(errors[1]!.includes("exceeds the limit of 100"));
  assert(errors[2]!.includes("not valid JSON"));
  assertEquals(errors[3], "step");
  raw.close();
  await b.closed;
  await server.close();
});

Deno.test("tcp: connect retries with backoff, then fails with a clear error", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  const retries: number[] = [];
  let error: Error | undefined;
  try {
    await connectTcp({ hostname: "127.0.0.1", port }, {
      retries: 2,
      retryDelay: 1,
      onRetry: (n) => retries.push(n),
    });
  } catch (e) {
    error = e as Error;
  }
  assertEquals(retries, [1, 2]);
  assert(error?.message.startsWith(`Cannot connect to tcp://127.0.0.1:${port}:`), error?.message);
});

Deno.test("tcp: addresses parse with defaults", () => {
  const d = { hostname: "127.0.0.1", port: 8001 };
  assertEquals(parseTcpAddress("tcp://server:9000", d), { hostname: "server", port: 9000 });
  assertEquals(parseTcpAddress("server", d), { hostname: "server", port: 8001 });
  assertEquals(parseTcpAddress(":7000", d), { hostname: "127.0.0.1", port: 7000 });
  assertEquals(parseTcpAddress("tcp://[::1]:7000", d), { hostname: "::1", port: 7000 });
  assertEquals(parseTcpAddress("tls://server:9000", d), {
    hostname: "server",
    port: 9000,
    tls: true,
  });
  const failure = (text: string) => {
    try {
      parseTcpAddress(text, d);
    } catch (e) {
      return (e as Error).message;
    }
    return "";
  };
  // The client address given by mistake: say which address a tracer needs.
  const message = failure("ws://server:8002");
  assert(message.includes("that is the client (WebSocket) address"), message);
  assert(message.includes("tcp://HOST:PORT"), message);
  assert(failure("udp://server:1").includes("must be tcp://HOST:PORT or tls://HOST:PORT"));
});

Deno.test("AsyncQueue: room() holds a producer past the high-water mark until half is taken", async () => {
  const queue = new AsyncQueue<number>({ highWater: 4 });
  for (let i = 0; i < 3; i++) queue.push(i);
  await queue.room(); // Below the mark: at once.
  queue.push(3);
  let resumed = false;
  const room = queue.room().then(() => resumed = true);
  await queue.next();
  await Promise.resolve();
  assertEquals(resumed, false); // 3 left: above half.
  await queue.next();
  await room;
  assertEquals(resumed, true); // 2 left.
  // An ended queue never holds a producer.
  for (let i = 0; i < 4; i++) queue.push(i);
  const held = queue.room();
  queue.end();
  await held;
});

Deno.test("TcpTransport: drained() waits until the peer has taken the writes down to the limit", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepted = listener.accept();
  const transport = new TcpTransport(
    await Deno.connect({ hostname: "127.0.0.1", port: (listener.addr as Deno.NetAddr).port }),
  );
  const peer = await accepted;
  try {
    // Far more than the sockets' buffers hold, while the peer reads nothing.
    const body = "x".repeat(1024 * 1024);
    for (let i = 0; i < 32; i++) transport.send({ e: "print", p: body });
    let drained = false;
    const waiting = transport.drained(1024 * 1024).then(() => drained = true);
    assert(transport.queuedBytes > 1024 * 1024);
    assertEquals(drained, false);
    // The peer reads everything: the queue empties and the wait ends.
    const buffer = new Uint8Array(1 << 20);
    let read = 0;
    while (!drained) {
      const n = await Promise.race([peer.read(buffer), waiting.then(() => 0)]);
      if (n === null) break;
      read += n ?? 0;
    }
    await waiting;
    assert(transport.queuedBytes <= 1024 * 1024, `${transport.queuedBytes} still queued`);
    assert(read > 0);
  } finally {
    transport.close();
    peer.close();
    listener.close();
  }
});
