// Security and liveness, round 2 (findings 2 to 5): what an unauthenticated or stalled peer can
// cost `qdb serve`, through the real CLI. Memory is the server's peak resident size (VmHWM), so
// no test here depends on time except through events and hang guards.
import net from "node:net";
import { Buffer } from "node:buffer";
import { assert, assertEquals } from "./support/assert.ts";
import { FAKE_TRACER } from "./support/fake_tracer.ts";
import { Inbox } from "./support/inbox.ts";
import { RawPeer } from "./support/raw_http.ts";
import { QdbProcess } from "./support/processes.ts";
import { connectTcp } from "../transport/tcp.ts";
import { connectWebSocket } from "../transport/websocket.ts";

const MIB = 1024 * 1024;
/** How long a test waits for an event before it fails: a hang guard, not a performance limit. */
const GUARD_MS = 60_000;

/** `qdb serve` on free ports, with these flags; its client and tracer addresses. */
async function serveCli(
  flags: string[],
  options: { ulimit?: number } = {},
): Promise<{ serve: QdbProcess; clientUrl: string; tracerUrl: string }> {
  const serve = new QdbProcess(
    ["serve", "--client-port", "0", "--tracer-port", "0", "--no-web", ...flags],
    options,
  );
  const m = await serve.line(/^qdb serve: clients (ws:\/\/\S+) {2}tracers (tcp:\/\/\S+)$/);
  return { serve, clientUrl: m[1]!, tracerUrl: m[2]! };
}

/** The peak resident memory of a process so far, in bytes. */
async function peakRss(pid: number): Promise<number> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  return Number(/^VmHWM:\s+(\d+) kB/m.exec(status)![1]) * 1024;
}

/** Resolves with `promise`, or fails the test when it has not settled in the guard's time. */
async function guarded<T>(what: string, promise: Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const guard = new Promise<never>((_, reject) =>
    timer = setTimeout(
      () => reject(new Error(`${what}: still waiting after ${GUARD_MS} ms`)),
      GUARD_MS,
    )
  );
  try {
    return await Promise.race([promise, guard]);
  } finally {
    clearTimeout(timer);
  }
}

Deno.test("round 2 finding 2: running out of descriptors on the client port does not end qdb serve", async () => {
  // Limits above the open-file limit, so that accepting really fails with EMFILE.
  const { serve, clientUrl } = await serveCli([
    "--max-connections",
    "4000",
    "--max-pending",
    "4000",
    "--max-pending-per-address",
    "4000",
  ], { ulimit: 128 });
  await using _ = serve;
  const port = Number(new URL(clientUrl).port);
  const held: Deno.Conn[] = [];
  for (let i = 0; i < 300; i++) held.push(await Deno.connect({ hostname: "127.0.0.1", port }));
  // Every accepted one is closed at its request deadline; the rest wait in the backlog.
  for (const c of held) c.close();
  // Still alive, and serving: a client attaches once descriptors are free again.
  const link = await guarded("attach after the flood", connectWebSocket(`${clientUrl}/after`));
  link.send({ e: "start", p: {} });
  const inbox = new Inbox(link);
  await inbox.expect("attached");
  link.close();
  await inbox.closed();
  assertEquals(
    await Promise.race([serve.status.then(() => "exited"), Promise.resolve("alive")]),
    "alive",
  );
});

Deno.test("round 2 finding 2: a connection that never finishes its HTTP request is closed", async () => {
  const { serve, clientUrl } = await serveCli([]);
  await using _ = serve;
  await using slow = await RawPeer.connect(clientUrl);
  // Half a request head, as a slowloris sends it, then nothing more.
  await slow.write(new TextEncoder().encode("GET /s1 HTTP/1.1\r\nHost: 127.0.0.1\r\n"));
  assertEquals(await guarded("the server closing a slow request", slow.readToEnd()), 0);
});

Deno.test("round 2 finding 2: a keep-alive connection that goes idle after its answer is closed", async () => {
  const { serve, clientUrl } = await serveCli([]);
  await using _ = serve;
  await using idle = await RawPeer.connect(clientUrl);
  await idle.request("/sessions", { Host: "127.0.0.1" });
  assertEquals((await idle.responseHead()).status, 200);
  // HTTP/1.1 keeps the connection; the server lets it go once it has idled for the deadline.
  await guarded("the server closing an idle connection", idle.readToEnd());
});

/** Opens a WebSocket from `localAddress` and sends the head of a 64 MiB frame and `body` bytes. */
async function bigFrame(port: number, localAddress: string, body: number): Promise<void> {
  const socket = net.connect({ host: "127.0.0.1", port, localAddress });
  socket.on("error", () => {});
  await new Promise<void>((resolve) => socket.once("connect", () => resolve()));
  socket.write(
    "GET /s1 HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
  );
  await new Promise<void>((resolve) => socket.once("data", () => resolve()));
  // A masked text frame of 64 MiB: FIN+text, 127 (64-bit length), the length, a mask.
  const head = Buffer.alloc(14);
  head[0] = 0x81;
  head[1] = 0x80 | 127;
  head.writeBigUInt64BE(BigInt(64 * MIB), 2);
  const chunk = Buffer.alloc(MIB, 0x61);
  let sent = 0;
  const closed = new Promise<void>((resolve) => socket.once("close", () => resolve()));
  const writeAll = async () => {
    if (!socket.write(head)) await new Promise((r) => socket.once("drain", r));
    while (sent < body && !socket.destroyed) {
      sent += chunk.length;
      if (!socket.write(chunk)) {
        await Promise.race([new Promise((r) => socket.once("drain", r)), closed]);
      }
    }
  };
  await Promise.race([writeAll(), closed]);
  socket.destroy();
}

Deno.test("round 2 finding 3: a big frame before start is refused as its header arrives, never held", async () => {
  const { serve, clientUrl } = await serveCli(["--max-pending", "200"]);
  await using _ = serve;
  const port = Number(new URL(clientUrl).port);
  const before = await peakRss(serve.child.pid);
  // 100 connections from 50 addresses, each sending 8 MiB of a 64 MiB frame.
  const peers = [];
  for (let i = 0; i < 100; i++) peers.push(bigFrame(port, `127.0.0.${2 + (i % 50)}`, 8 * MIB));
  await guarded("the big frames", Promise.all(peers));
  const grew = (await peakRss(serve.child.pid)) - before;
  console.log(
    `100 frames of 64 MiB before start: the server grew by ${Math.round(grew / MIB)} MiB`,
  );
  assert(grew < 100 * MIB, `the server grew by ${Math.round(grew / MIB)} MiB`);
  // And it serves on.
  const link = await connectWebSocket(`${clientUrl}/after`);
  link.send({ e: "start", p: {} });
  const inbox = new Inbox(link);
  await inbox.expect("attached");
  link.close();
  await inbox.closed();
});

Deno.test("round 2 findings 4 and 5: a tracer's big prints to a client that never reads stay bounded, and the program goes on", async () => {
  const { serve, clientUrl, tracerUrl } = await serveCli(["--client-stall", "1"]);
  await using _ = serve;
  const tracer = await connectTcp(tracerUrl);
  tracer.send({ e: "start", p: { ...FAKE_TRACER, session: "s1" } });
  const t = new Inbox(tracer);
  await t.expect("started");
  // A client that sends start and then never reads again (a laptop that went to sleep).
  await using sleeper = await RawPeer.connect(clientUrl);
  await sleeper.request("/s1", { Host: "127.0.0.1" }, { upgrade: true });
  assertEquals((await sleeper.responseHead()).status, 101);
  await sleeper.sendText('{"e":"start","p":{"name":"sleeper"}}');
  await serve.line(/client c\S+ \(sleeper\) attached/, "stderr");
  // 40 prints of 15 MiB: the program writes them all (it is not held for ever)...
  const output = "y".repeat(15 * MIB);
  for (let i = 0; i < 40; i++) {
    tracer.send({ e: "print", p: { input: "<stdout>", exc: false, output } });
    await guarded(`print ${i}`, tracer.drained(0));
  }
  // ... once the sleeper is dropped for reading nothing, with a reason in the log.
  await serve.line(/dropped client c\S+: it read nothing for 1 s/, "stderr");
  // The bound: the whole server under 300 MB at its peak.
  const peak = await peakRss(serve.child.pid);
  console.log(
    `40 prints of 15 MiB to a client that never reads: the server peaked at ${
      Math.round(peak / MIB)
    } MiB`,
  );
  assert(peak < 300 * MIB, `the server's peak was ${Math.round(peak / MIB)} MiB`);
  tracer.close();
  await t.closed();
});
