// One suite, run against every transport implementation.
import { AsyncQueue } from "./async_queue.ts";
import { assert, assertEquals } from "../tests/support/assert.ts";
import type { Message } from "../protocol/mod.ts";
import { memoryPair } from "./memory.ts";
import { connectTcp, parseTcpAddress, TcpTransport } from "./tcp.ts";
import type { Incoming, MessageTransport } from "./transport.ts";
import { connectWebSocket, WebSocketTransport } from "./websocket.ts";
import http from "node:http";
// @ts-types="npm:@types/ws@8.18.1"
import { WebSocketServer } from "ws";
import { ConnStream } from "./conn_stream.ts";
import {
  MESSAGE_OVERHEAD_BYTES,
  NodeWebSocketTransport,
  WRITE_AHEAD_BYTES,
} from "./node_websocket.ts";

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

/** A pair of a client WebSocket and the transport a test server made of its connection. */
async function pairWith(
  server: { url: string; accepted: Promise<MessageTransport>; close(): Promise<void> },
): Promise<Pair> {
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

function webSocketPair(): Promise<Pair> {
  return pairWith(webSocketServer());
}

/**
 * The client port's stack, as `server/listener.ts` builds it: `Deno.listen`, a `ConnStream`,
 * `node:http`, `ws`; its first connection becomes a transport.
 */
function nodeWebSocketServer() {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const web = http.createServer();
  const wss = new WebSocketServer({ noServer: true });
  const { promise: accepted, resolve } = Promise.withResolvers<NodeWebSocketTransport>();
  web.on("upgrade", (req, socket, head) => {
    wss.handleUpgrade(req, socket, head, (ws) => {
      resolve(new NodeWebSocketTransport(ws, { remote: "peer", stream: socket as ConnStream }));
    });
  });
  const streams: ConnStream[] = [];
  const accepting = (async () => {
    for await (const conn of listener) {
      const stream = new ConnStream(conn);
      streams.push(stream);
      web.emit("connection", stream);
    }
  })().catch(() => {});
  return {
    url: `ws://127.0.0.1:${listener.addr.port}/x`,
    accepted,
    async close() {
      listener.close();
      await accepting;
      for (const stream of streams) stream.destroy();
      wss.close();
      web.close();
    },
  };
}

function nodeWebSocketPair(): Promise<Pair> {
  return pairWith(nodeWebSocketServer());
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
  ["node-websocket", nodeWebSocketPair],
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

Deno.test("NodeWebSocketTransport: what a peer has not read waits in the outbox, counted with its overhead, and arrives in order", async () => {
  const server = nodeWebSocketServer();
  const { WebSocket: WsClient } = await import("ws");
  const peer = new WsClient(server.url);
  const n = 100_000;
  const received: string[] = [];
  const all = Promise.withResolvers<void>();
  peer.on("message", (data) => {
    if (received.push(String(data)) === n) all.resolve();
  });
  await new Promise((resolve) => peer.once("open", resolve));
  const raw = (peer as unknown as { _socket: { pause(): void; resume(): void } })._socket;
  const b = await server.accepted;
  try {
    // The peer stops reading; 100,000 messages of 100 characters are sent to it.
    raw.pause();
    const pad = "x".repeat(100 - JSON.stringify({ e: "print", p: "00000000" }).length);
    for (let i = 0; i < n; i++) {
      assert(b.sendText(JSON.stringify({ e: "print", p: `${String(i).padStart(8, "0")}${pad}` })));
    }
    const written = b.writtenBytes ?? 0;
    const queued = b.queuedBytes;
    // Every byte is written or counted as queued, and what waits costs more than its text.
    assert(queued + written >= n * 102, `${queued} queued, ${written} written`);
    const notWritten = n - Math.floor(written / 102);
    const inStream = Math.ceil(WRITE_AHEAD_BYTES / 102) + 1;
    assert(
      queued >= (notWritten - inStream) * (100 + MESSAGE_OVERHEAD_BYTES),
      `${queued} queued for ${notWritten} messages not written`,
    );
    // It reads again: every message arrives, in order, and the queue empties.
    raw.resume();
    await b.drained!(0);
    await all.promise;
    for (let i = 0; i < n; i++) {
      if (!received[i]!.includes(`"${String(i).padStart(8, "0")}`)) {
        throw new Error(`message ${i} out of order: ${received[i]}`);
      }
    }
    assertEquals(b.queuedBytes, 0);
  } finally {
    peer.terminate();
    b.close();
    await server.close();
  }
});

Deno.test("NodeWebSocketTransport: close() sends what waits first, at the peer's pace, then the close frame", async () => {
  const server = nodeWebSocketServer();
  const { WebSocket: WsClient } = await import("ws");
  const peer = new WsClient(server.url);
  const n = 20_000;
  let count = 0;
  let inOrder = true;
  peer.on("message", (data) => {
    if (!String(data).includes(`"${count++}"`)) inOrder = false;
  });
  const closed = new Promise<number>((resolve) => peer.once("close", resolve));
  await new Promise((resolve) => peer.once("open", resolve));
  const raw = (peer as unknown as { _socket: { pause(): void; resume(): void } })._socket;
  const b = await server.accepted;
  try {
    raw.pause();
    for (let i = 0; i < n; i++) b.send({ e: "print", p: String(i) });
    b.close(1000, "done");
    assert(b.isClosed);
    assertEquals(b.send({ e: "print", p: "late" }), false);
    raw.resume();
    assertEquals(await closed, 1000);
    assertEquals(count, n);
    assert(inOrder);
    await b.closed;
  } finally {
    peer.terminate();
    await server.close();
  }
});

Deno.test("ReadBuffer: starts small, doubles while reads fill it, up to 64 KiB; views stay valid", async () => {
  const { ReadBuffer, FIRST_READ_SIZE, MAX_READ_SIZE } = await import("./read_buffer.ts");
  const buffer = new ReadBuffer();
  assertEquals(buffer.bytes.length, FIRST_READ_SIZE);
  // A read that does not fill it: the same buffer next time.
  buffer.bytes.fill(1);
  assertEquals(buffer.filled(10).length, 10);
  assertEquals(buffer.bytes.length, FIRST_READ_SIZE);
  // Full reads: it doubles, and what was read stays readable.
  let size = FIRST_READ_SIZE;
  while (size < MAX_READ_SIZE) {
    buffer.bytes.fill(7);
    const view = buffer.filled(size);
    size *= 2;
    assertEquals(buffer.bytes.length, size);
    buffer.bytes.fill(0);
    assert(view.every((b) => b === 7));
  }
  buffer.filled(MAX_READ_SIZE);
  assertEquals(buffer.bytes.length, MAX_READ_SIZE);
});

Deno.test("parseProcNetTcp: established connections' send queues by ports; a pair seen twice is unknown", async () => {
  const { parseProcNetTcp } = await import("./kernel_queue.ts");
  const text = [
    "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode",
    "   0: 0100007F:1F42 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1",
    "   1: 0100007F:1F42 0100007F:C350 01 0004A000:00000000 01:00000014 00000000     0        0 2 1",
    "   2: 0100007F:1F42 0200007F:C351 01 00000010:00000000 00:00000000 00000000     0        0 3 1",
    "   3: 0100007F:1F42 0300007F:C351 01 00000020:00000000 00:00000000 00000000     0        0 4 1",
    "   4: 0100007F:1F42 0100007F:C352 06 00000030:00000000 00:00000000 00000000     0        0 5 1",
  ].join("\n");
  const table = parseProcNetTcp(text);
  // 8002 -> 50000 holds 0x4A000 bytes; 8002 -> 50001 is two connections; listening and
  // TIME_WAIT sockets are not established.
  assertEquals(table.get("8002:50000"), 0x4A000);
  assert(Number.isNaN(table.get("8002:50001")));
  assertEquals(table.has("8002:0"), false);
  assertEquals(table.has("8002:50002"), false);
});

Deno.test({
  name: "KernelSendQueues: what a peer that reads nothing has not acknowledged is seen (Linux)",
  ignore: Deno.build.os !== "linux",
  async fn() {
    const { KernelSendQueues } = await import("./kernel_queue.ts");
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const client = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
    const server = await listener.accept();
    try {
      // Written until the kernel takes no more at once: the peer reads nothing.
      const chunk = new Uint8Array(1 << 20);
      for (let i = 0; i < 64; i++) {
        const write = server.write(chunk);
        write.catch(() => {}); // Ended by the close below.
        let timer: ReturnType<typeof setTimeout> | undefined;
        const n = await Promise.race([
          write,
          new Promise<null>((resolve) => timer = setTimeout(() => resolve(null), 200)),
        ]);
        clearTimeout(timer);
        if (n === null) break;
      }
      const queues = new KernelSendQueues();
      await queues.refresh();
      const held = queues.get(listener.addr.port, (client.localAddr as Deno.NetAddr).port);
      assert(held !== undefined && held > 0, `the kernel holds ${held} bytes`);
    } finally {
      client.close();
      server.close();
      listener.close();
    }
  },
});

Deno.test("DrainWaiters: waiting again adds nothing (same limit, or an aborted look); all resolve when met", async () => {
  const { DrainWaiters } = await import("./drain.ts");
  let queued = 1000;
  const waiters = new DrainWaiters(() => queued);
  // A paced session looks again and again while its client is behind.
  const waits = Array.from({ length: 10_000 }, () => waiters.wait(100));
  waits.push(waiters.wait(10));
  assertEquals(waiters.size, 2);
  queued = 50;
  waiters.wake();
  await Promise.all(waits.slice(0, -1));
  assertEquals(waiters.size, 1);
  // Waits with a signal are let go when it aborts: nothing stays behind.
  queued = 1000;
  for (let i = 0; i < 1000; i++) {
    const look = new AbortController();
    const wait = waiters.wait(100, look.signal);
    look.abort();
    await wait;
  }
  assertEquals(waiters.size, 1);
  waiters.close();
  await waits.at(-1);
  assertEquals(waiters.size, 0);
  await waiters.wait(0);
});
