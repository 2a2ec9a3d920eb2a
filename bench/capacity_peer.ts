/**
 * Simulated tracers and clients for `bench/capacity.ts`, in a process of their own so that the
 * server's process holds only the server. Each session is one tracer (raw TCP frames, as
 * `qdb trace` speaks) and `--clients` WebSocket clients.
 *
 * It reads commands, one JSON object per line, from stdin and answers each on stdout:
 * - `{"open": N}`: opens N more sessions (a few connections at a time, as the server limits
 *   connections waiting to authenticate per address); answers `{"open": total}`;
 * - `{"flood": SECONDS}`: every tracer sends `print` events as fast as the server takes them;
 *   answers `{"sent": N, "received": M, "seconds": S, "dropped": D}` (events sent by the
 *   tracers, messages received by the clients, clients whose connection ended so far);
 * - `{"close": true}`: closes everything and exits.
 *
 * Usage: `deno run --allow-net bench/capacity_peer.ts --tracer URL --client URL --token T
 * --clients N --name PREFIX`
 *
 * @module
 */

import { encodeFrame } from "../protocol/framing.ts";
import { PROTOCOL_VERSION } from "../protocol/mod.ts";
import { connectRawTracer } from "./_common.ts";

function flag(name: string): string {
  const i = Deno.args.indexOf(name);
  if (i < 0 || Deno.args[i + 1] === undefined) throw new Error(`${name} is required`);
  return Deno.args[i + 1]!;
}

const tracerUrl = flag("--tracer");
const clientUrl = flag("--client");
const token = flag("--token");
const clientsPerSession = Number(flag("--clients"));
const prefix = flag("--name");
/** Connections opened at once: under the server's limit of 16 unauthenticated per address. */
const AT_ONCE = 6;

interface SimSession {
  tracer: Deno.TcpConn;
  clients: WebSocket[];
}

const sessions: SimSession[] = [];
let received = 0;
/** Clients whose connection ended (the server drops a client that reads too slowly). */
let dropped = 0;

function openClient(session: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(`${clientUrl}/${encodeURIComponent(session)}`);
    socket.onopen = () =>
      socket.send(JSON.stringify({ e: "start", p: { protocol: PROTOCOL_VERSION, auth: token } }));
    socket.onerror = () => reject(new Error(`A client of ${session} failed`));
    socket.onmessage = (event) => {
      const msg = JSON.parse(String(event.data)) as { e: string; p: unknown };
      if (msg.e === "attached") {
        socket.onmessage = () => received++;
        socket.onclose = () => dropped++;
        resolve(socket);
      } else if (msg.e === "error") {
        reject(new Error(`The server refused a client: ${JSON.stringify(msg.p)}`));
      }
    };
  });
}

async function openSessions(n: number): Promise<void> {
  const first = sessions.length;
  let next = first;
  const worker = async () => {
    while (next < first + n) {
      const name = `${prefix}-${next++}`;
      const tracer = await connectRawTracer(tracerUrl, name, token);
      const clients: WebSocket[] = [];
      for (let c = 0; c < clientsPerSession; c++) clients.push(await openClient(name));
      sessions.push({ tracer, clients });
    }
  };
  await Promise.all(Array.from({ length: AT_ONCE }, worker));
}

async function flood(
  seconds: number,
): Promise<{ sent: number; received: number; seconds: number; dropped: number }> {
  const frame = encodeFrame({
    e: "print",
    p: { input: "<stdout>", exc: false, output: "a line of the program's output\n" },
  });
  // Frames written together, as a busy program's lines come.
  const batch = new Uint8Array(frame.length * 16);
  for (let i = 0; i < 16; i++) batch.set(frame, i * frame.length);
  const until = performance.now() + seconds * 1000;
  const receivedBefore = received;
  let sent = 0;
  const started = performance.now();
  await Promise.all(sessions.map(async (s) => {
    while (performance.now() < until) {
      await s.tracer.write(batch);
      sent += 16;
    }
  }));
  const elapsed = (performance.now() - started) / 1000;
  return { sent, received: received - receivedBefore, seconds: elapsed, dropped };
}

const lines = Deno.stdin.readable.pipeThrough(new TextDecoderStream());
let pending = "";
const reply = (value: unknown) => console.log(JSON.stringify(value));
for await (const chunk of lines) {
  pending += chunk;
  let newline: number;
  while ((newline = pending.indexOf("\n")) >= 0) {
    const command = JSON.parse(pending.slice(0, newline)) as Record<string, number | boolean>;
    pending = pending.slice(newline + 1);
    if (typeof command.open === "number") {
      await openSessions(command.open);
      reply({ open: sessions.length });
    } else if (typeof command.flood === "number") {
      reply(await flood(command.flood));
    } else if (command.close) {
      for (const s of sessions) {
        s.tracer.close();
        for (const c of s.clients) c.close();
      }
      reply({ closed: true });
      Deno.exit(0);
    }
  }
}
