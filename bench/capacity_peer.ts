/**
 * Simulated tracers or clients for `bench/capacity.ts`, in processes of their own so that the
 * server's process holds only the server, and the tracers' writing does not starve the
 * clients' reading. A session `PREFIX-i` is a tracer (raw TCP frames, as `qdb trace` speaks)
 * in the `tracers` peer and `--clients` WebSocket clients in each `clients` peer.
 *
 * It reads commands, one JSON object per line, from stdin and answers each on stdout:
 * - `{"open": N}`: opens the next N sessions' tracers, or their clients (a few connections at
 *   a time, as the server limits connections waiting to authenticate per address); answers
 *   `{"open": total}`;
 * - `{"flood": SECONDS}` (tracers): every tracer sends `print` events as fast as the server
 *   takes them; answers `{"sent": N, "seconds": S}`;
 * - `{"count": true}` (clients): answers `{"received": N, "dropped": D}`: messages received so
 *   far, and clients whose connection ended (the server drops one that reads too slowly);
 * - `{"close": true}`: closes everything and exits.
 *
 * Usage: `deno run --allow-net --allow-read bench/capacity_peer.ts --role tracers|clients
 * --tracer URL --client URL --token T --clients N --name PREFIX`
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

const role = flag("--role");
const tracerUrl = flag("--tracer");
const clientUrl = flag("--client");
const token = flag("--token");
const clientsPerSession = Number(flag("--clients"));
const prefix = flag("--name");
/** Connections opened at once: under the server's limit of 16 unauthenticated per address. */
const AT_ONCE = 4;

const tracers: Deno.TcpConn[] = [];
const clients: WebSocket[] = [];
let opened = 0;
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
  const last = opened + n;
  const worker = async () => {
    while (opened < last) {
      const name = `${prefix}-${opened++}`;
      if (role === "tracers") tracers.push(await connectRawTracer(tracerUrl, name, token));
      else for (let c = 0; c < clientsPerSession; c++) clients.push(await openClient(name));
    }
  };
  await Promise.all(Array.from({ length: AT_ONCE }, worker));
}

async function flood(seconds: number): Promise<{ sent: number; seconds: number }> {
  const frame = encodeFrame({
    e: "print",
    p: { input: "<stdout>", exc: false, output: "a line of the program's output\n" },
  });
  // Frames written together, as a busy program's lines come.
  const batch = new Uint8Array(frame.length * 16);
  for (let i = 0; i < 16; i++) batch.set(frame, i * frame.length);
  const started = performance.now();
  const until = started + seconds * 1000;
  let sent = 0;
  await Promise.all(tracers.map(async (conn) => {
    while (performance.now() < until) {
      await conn.write(batch);
      sent += 16;
    }
  }));
  return { sent, seconds: (performance.now() - started) / 1000 };
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
      reply({ open: opened });
    } else if (typeof command.flood === "number") {
      reply(await flood(command.flood));
    } else if (command.count) {
      reply({ received, dropped });
    } else if (command.close) {
      for (const conn of tracers) conn.close();
      for (const socket of clients) socket.close();
      reply({ closed: true });
      Deno.exit(0);
    }
  }
}
