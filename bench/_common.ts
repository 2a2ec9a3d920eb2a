/**
 * What the benchmarks share: their flags, statistics, tables, the Pythons to measure, processes
 * and their memory, a `qdb serve` to measure against, and a minimal DAP client of debugpy.
 *
 * @module
 */

import { encodeDap, readDap } from "../dap/wire.ts";
import { encodeFrame, FrameDecoder } from "../protocol/framing.ts";
import { type Message, PROTOCOL_VERSION } from "../protocol/mod.ts";
import { VERSION } from "../version.ts";
import { findPythons, type PythonInstall } from "../tests/support/pythons.ts";

export type { PythonInstall };

/** `deno run --allow-all mod.ts`: the `qdb` command, as a user runs it from a checkout. */
export const QDB_COMMAND: string[] = [
  Deno.execPath(),
  "run",
  "--allow-all",
  new URL("../mod.ts", import.meta.url).pathname,
];

/** The token of the servers the benchmarks start. */
export const TOKEN = "qdb-bench";

/** A file of `bench/programs/`. */
export function program(name: string): string {
  return new URL(`./programs/${name}`, import.meta.url).pathname;
}

/** The 1-based line of `file` that holds `marker` (a `# @marker` comment). */
export function markedLine(file: string, marker: string): number {
  const index = Deno.readTextFileSync(file).split("\n").findIndex((l) => l.includes(marker));
  if (index < 0) throw new Error(`No line of ${file} holds ${marker}`);
  return index + 1;
}

/** The flags every benchmark takes. */
export interface BenchFlags {
  /** A smoke run: tiny sizes, one repetition, the newest Python only. */
  quick: boolean;
  /** Repetitions (of each measured run, interleaved), or undefined for the benchmark's own. */
  reps: number | undefined;
  /** Where to write the figures as JSON, if anywhere. */
  json: string | undefined;
}

/** Reads `--quick`, `--reps N` and `--json FILE` from `args`. */
export function parseFlags(args: string[]): BenchFlags {
  const value = (name: string) => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const reps = value("--reps");
  if (reps !== undefined && !(Number(reps) >= 1)) throw new Error(`--reps ${reps}: not a count`);
  return {
    quick: args.includes("--quick"),
    reps: reps === undefined ? undefined : Number(reps),
    json: value("--json"),
  };
}

/** Order statistics of a sample. */
export interface Stats {
  /** How many values. */
  n: number;
  /** The least. */
  min: number;
  /** The median. */
  p50: number;
  /** The 90th percentile. */
  p90: number;
  /** The 99th percentile. */
  p99: number;
  /** The greatest. */
  max: number;
}

/** The order statistics of `values` (nearest rank). */
export function stats(values: number[]): Stats {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
  return {
    n: sorted.length,
    min: sorted[0] ?? NaN,
    p50: at(0.5) ?? NaN,
    p90: at(0.9) ?? NaN,
    p99: at(0.99) ?? NaN,
    max: sorted.at(-1) ?? NaN,
  };
}

/** The median of `values`. */
export function median(values: number[]): number {
  return stats(values).p50;
}

/** `rows` (the first is the header) as a Markdown table, numbers right-aligned. */
export function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(3, ...rows.map((row) => (row[i] ?? "").length)));
  const line = (row: string[]) =>
    `| ${
      row.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(" | ")
    } |`;
  const rule = `|${
    widths.map((w, i) => (i === 0 ? "-" : "") + "-".repeat(w + 1) + (i === 0 ? "" : ":")).join("|")
  }|`;
  return [line(rows[0]!), rule, ...rows.slice(1).map(line)].join("\n");
}

/** A number with `digits` decimals, or "-" when there is none. */
export function fixed(value: number | undefined, digits = 2): string {
  return value === undefined || Number.isNaN(value) ? "-" : value.toFixed(digits);
}

/**
 * A cost ratio (qdb's time over a baseline's): under 1.0 it means qdb took less time than the
 * thing it adds to, which is the machine's noise, never a gain: shown as "~1 (0.92)".
 */
export function ratio(value: number | undefined, digits = 2): string {
  if (value === undefined || Number.isNaN(value)) return "-";
  return value < 1 ? `~1 (${value.toFixed(digits)})` : value.toFixed(digits);
}

/** Whether `python` can import debugpy. */
export async function hasDebugpy(python: string): Promise<boolean> {
  try {
    const out = await new Deno.Command(python, {
      args: ["-c", "import debugpy"],
      stdout: "null",
      stderr: "null",
    }).output();
    return out.success;
  } catch {
    return false;
  }
}

/**
 * The Pythons to measure: every CPython 3.8+ found (the newest only when `quick`), and Debian's
 * `/usr/bin/python3` when it has debugpy (`python3-debugpy`) and is not among them already.
 */
export async function benchPythons(quick: boolean): Promise<PythonInstall[]> {
  const found = await findPythons();
  const pythons = quick ? found.slice(-1) : [...found];
  const system = "/usr/bin/python3";
  if (!quick && !found.some((p) => p.path === system) && await hasDebugpy(system)) {
    const out = await new Deno.Command(system, {
      args: ["-c", "import platform; print(platform.python_version())"],
    }).output();
    const version = new TextDecoder().decode(out.stdout).trim();
    const minor = version.split(".").slice(0, 2).join(".");
    pythons.push({ path: system, version: `${version} (system)`, minor });
  }
  return pythons;
}

/** A process's output, read as far as needed. */
export function outputOf(stream: ReadableStream<Uint8Array>, what: string): {
  until(pattern: RegExp): Promise<RegExpExecArray>;
  forget(): void;
  drain(): void;
  cancel(): Promise<void>;
} {
  const reader = stream.pipeThrough(new TextDecoderStream()).getReader();
  let seen = "";
  return {
    /** Reads until `pattern` matches what came since the last `forget`; returns the match. */
    async until(pattern: RegExp): Promise<RegExpExecArray> {
      let m: RegExpExecArray | null;
      while (!(m = pattern.exec(seen))) {
        const { value, done } = await reader.read();
        if (done) throw new Error(`${what} ended before ${pattern}: ${seen.slice(-300)}`);
        seen += value;
      }
      return m;
    },
    /** Forgets what came so far. */
    forget() {
      seen = "";
    },
    /** Reads the rest without keeping it (the process must not block on a full pipe). */
    drain() {
      void reader.read().then(function drain(r): unknown {
        return r.done ? undefined : reader.read().then(drain).catch(() => {});
      }).catch(() => {});
    },
    cancel: () => reader.cancel().catch(() => {}),
  };
}

/**
 * Ends a child process, if it still runs, and waits for it: SIGTERM first, so that a
 * `qdb trace` passes it on to its program (killed outright, it would leave the program running
 * without it), then SIGKILL if it has not ended within 5 s.
 */
export async function kill(child: Deno.ChildProcess | undefined): Promise<void> {
  if (!child) return;
  const signal = (name: Deno.Signal) => {
    try {
      child.kill(name);
    } catch { /* ended */ }
  };
  signal("SIGTERM");
  const timer = setTimeout(() => signal("SIGKILL"), 5_000);
  try {
    await child.status;
  } finally {
    clearTimeout(timer);
  }
}

/** A field of `/proc/PID/status` in KiB (`VmHWM`: peak resident set; `VmRSS`: current). */
export function procKb(pid: number, field: "VmHWM" | "VmRSS"): number | undefined {
  try {
    const status = Deno.readTextFileSync(`/proc/${pid}/status`);
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status);
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Follows the peak resident memory of a process until `stop()`: Linux keeps the peak (VmHWM)
 * only while the process lives, so it is read every 20 ms and the last reading is kept.
 */
export function followPeak(pid: number): { stop(): number | undefined } {
  let last = procKb(pid, "VmHWM");
  const timer = setInterval(() => {
    last = procKb(pid, "VmHWM") ?? last;
  }, 20);
  return {
    stop() {
      clearInterval(timer);
      return last;
    },
  };
}

/** A free TCP port on loopback (for a program that must be told its port). */
export function freePort(): number {
  const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (probe.addr as Deno.NetAddr).port;
  probe.close();
  return port;
}

/** What `qdb trace` runs, for {@linkcode traceArgs}. */
export interface TraceRun {
  /** The server's tracer address. */
  server: string;
  /** The session id. */
  session: string;
  /** The interpreter. */
  python: string;
  /** The program and its arguments. */
  argv: string[];
  /** A `--break` (`FILE:LINE` or `FILE:LINE, CONDITION`), if any. */
  breakpoint?: string;
  /** More `qdb trace` options (`--traced-breakpoints`). */
  options?: string[];
}

/**
 * The command line of `qdb trace` as the benchmarks run it: with the benchmarks' token, not
 * stopping at the first line, the program's output not echoed.
 */
export function traceArgs(run: TraceRun): string[] {
  return [
    ...QDB_COMMAND,
    "trace",
    "--no-stop",
    "--quiet",
    "--server",
    run.server,
    "--token",
    TOKEN,
    "--session",
    run.session,
    "--python",
    run.python,
    ...(run.breakpoint ? ["-b", run.breakpoint] : []),
    ...(run.options ?? []),
    "--",
    ...run.argv,
  ];
}

/** A `qdb serve` process on free ports. */
export interface ServerProcess extends AsyncDisposable {
  /** Where clients attach (`ws://...`). */
  client: string;
  /** Where tracers connect (`tcp://...`). */
  tracer: string;
  /** The server's process id (to read its memory). */
  pid: number;
  /** Ends the server. Idempotent. */
  close(): Promise<void>;
}

/** Starts `qdb serve` on free ports with the benchmarks' token and `args`. */
export async function startServer(args: string[] = []): Promise<ServerProcess> {
  const child = new Deno.Command(QDB_COMMAND[0]!, {
    args: [
      ...QDB_COMMAND.slice(1),
      "serve",
      "--client-port",
      "0",
      "--tracer-port",
      "0",
      "--token",
      TOKEN,
      "--quiet",
      ...args,
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const output = outputOf(child.stdout, "qdb serve");
  const m = await output.until(/clients (\S+) {2}tracers (\S+)/);
  output.drain();
  let closing: Promise<void> | undefined;
  const close = () =>
    closing ??= (async () => {
      try {
        child.kill("SIGTERM");
      } catch { /* ended */ }
      await child.status;
    })();
  return { client: m[1]!, tracer: m[2]!, pid: child.pid, close, [Symbol.asyncDispose]: close };
}

/** A breakpoint of the DAP client: a file's line, with a condition if any. */
export interface DapBreakpoint {
  /** The file. */
  path: string;
  /** Its line, from 1. */
  line: number;
  /** An expression that must be true for the breakpoint to stop. */
  condition?: string;
  /** A logpoint's message (`{expression}` parts): it logs instead of stopping. */
  logMessage?: string;
}

/**
 * debugpy started as its documentation says (`python -m debugpy --listen PORT
 * --wait-for-client PROGRAM ARGS`), and a minimal DAP client: initialize, attach, the
 * breakpoints, configurationDone. The same exchange `qdb dap` answers.
 */
export async function launchDebugpy(
  python: string,
  argv: string[],
  breakpoints: DapBreakpoint[],
): Promise<{
  child: Deno.ChildProcess;
  /**
   * Resolves at the first `stopped` event, or undefined when the program ends first (its
   * `exited` or `terminated` event, or the end of the connection).
   */
  stopped: Promise<number | undefined>;
  close(): Promise<void>;
}> {
  const port = freePort();
  const child = new Deno.Command(python, {
    args: ["-m", "debugpy", "--listen", `127.0.0.1:${port}`, "--wait-for-client", ...argv],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  let ended = false;
  child.status.then(() => ended = true);
  let conn: Deno.TcpConn | undefined;
  while (!conn) {
    if (ended) throw new Error("debugpy ended before it listened");
    try {
      conn = await Deno.connect({ hostname: "127.0.0.1", port });
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }
  const connection = conn;
  let seq = 1;
  const send = (command: string, args: object) =>
    connection.write(encodeDap({ seq: seq++, type: "request", command, arguments: args }));
  await send("initialize", { adapterID: "qdb-bench", clientID: "qdb-bench", linesStartAt1: true });
  // debugpy refuses an attach without arguments.
  await send("attach", { justMyCode: true });
  const stopped = (async () => {
    try {
      for await (const message of readDap(connection.readable)) {
        if (message.type === "event" && message.event === "initialized") {
          const byFile = Map.groupBy(breakpoints, (b) => b.path);
          for (const [path, list] of byFile) {
            await send("setBreakpoints", {
              source: { path },
              breakpoints: list.map((b) => ({
                line: b.line,
                ...(b.condition ? { condition: b.condition } : {}),
                ...(b.logMessage ? { logMessage: b.logMessage } : {}),
              })),
            });
          }
          await send("configurationDone", {});
        }
        if (message.type === "event" && message.event === "stopped") return performance.now();
        // The program ended without stopping (debugpy's adapter keeps the connection open).
        if (message.type === "event" && ["exited", "terminated"].includes(String(message.event))) {
          break;
        }
      }
    } catch { /* the connection ended with the program */ }
    return undefined;
  })();
  let closing: Promise<void> | undefined;
  return {
    child,
    stopped,
    close: () =>
      closing ??= (async () => {
        try {
          connection.close();
        } catch { /* closed */ }
        await kill(child);
      })(),
  };
}

/** Options of {@linkcode connectRawTracer}. */
export interface RawTracerOptions {
  /** The groups the simulated session is a member of. */
  groups?: string[];
  /**
   * Answers a message the server sends (a routed command): the reply to send, or undefined.
   * Without it, what the server sends is read and dropped.
   */
  answer?: (msg: Message) => Message | undefined;
}

/**
 * A simulated tracer: a TCP connection to `url` (`tcp://HOST:PORT`) that has sent `start` for
 * `session` and been answered `started`. What the server sends it afterwards is read and
 * dropped (or answered, with `options.answer`), so that the server's writes never wait.
 */
export async function connectRawTracer(
  url: string,
  session: string,
  token: string,
  options: RawTracerOptions = {},
): Promise<Deno.TcpConn> {
  const { hostname, port } = new URL(url);
  const conn = await Deno.connect({ hostname, port: Number(port) });
  await conn.write(encodeFrame({
    e: "start",
    p: {
      session,
      auth: token,
      protocol: PROTOCOL_VERSION,
      version: VERSION,
      engine: "python",
      program: "simulated.py",
      argv: ["simulated.py"],
      pid: Deno.pid,
      host: "bench",
      cwd: "/",
      ...(options.groups ? { groups: options.groups } : {}),
    },
  }));
  const decoder = new FrameDecoder();
  const reader = conn.readable.getReader();
  /** What came with `started` (and after it, in the same read). */
  const after = async (items: ReturnType<FrameDecoder["push"]>) => {
    for (const item of items) {
      if (!("message" in item)) continue;
      const reply = options.answer?.(item.message);
      if (reply) await conn.write(encodeFrame(reply));
    }
  };
  while (true) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`The server closed the tracer of ${session}`);
    const items = decoder.push(value);
    for (const [i, item] of items.entries()) {
      if (!("message" in item)) continue;
      if (item.message.e === "started") {
        void (async () => {
          try {
            await after(items.slice(i + 1));
            while (true) {
              const { value, done } = await reader.read();
              if (done) break;
              if (options.answer) await after(decoder.push(value));
            }
          } catch { /* closed */ }
        })();
        return conn;
      }
      if (item.message.e === "error") {
        throw new Error(`The server refused the tracer: ${JSON.stringify(item.message.p)}`);
      }
    }
  }
}

/**
 * A WebSocket client written by hand on a TCP connection, that reads only when asked: the
 * server's writes to it pile up while it does not (a browser tab in the background, a laptop
 * asleep). It attaches to `session` with the benchmarks' token.
 */
export async function rawClient(clientUrl: string, session: string): Promise<{
  /** The messages the server sent, parsed, as they are read (reading starts here). */
  messages(): AsyncGenerator<{ e: string; p?: unknown }>;
  close(): void;
}> {
  const { hostname, port } = new URL(clientUrl);
  const conn = await Deno.connect({ hostname, port: Number(port) });
  const enc = new TextEncoder();
  await conn.write(enc.encode(
    `GET /${session} HTTP/1.1\r\nHost: ${hostname}:${port}\r\nUpgrade: websocket\r\n` +
      "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" +
      "Sec-WebSocket-Version: 13\r\n\r\n",
  ));
  const payload = enc.encode(JSON.stringify({
    e: "start",
    p: { protocol: PROTOCOL_VERSION, auth: TOKEN, name: "raw" },
  }));
  if (payload.length >= 126) throw new Error("start does not fit a short frame");
  const mask = crypto.getRandomValues(new Uint8Array(4));
  const frame = new Uint8Array(6 + payload.length);
  frame[0] = 0x81; // A final text frame.
  frame[1] = 0x80 | payload.length; // Masked, as from every client.
  frame.set(mask, 2);
  payload.forEach((b, i) => frame[6 + i] = b ^ mask[i % 4]!);
  await conn.write(frame);
  return {
    async *messages() {
      const dec = new TextDecoder();
      let buf = new Uint8Array(0);
      let headerDone = false;
      for await (const chunk of conn.readable) {
        const joined = new Uint8Array(buf.length + chunk.length);
        joined.set(buf);
        joined.set(chunk, buf.length);
        buf = joined;
        if (!headerDone) {
          const end = dec.decode(buf.subarray(0, Math.min(buf.length, 4096))).indexOf("\r\n\r\n");
          if (end < 0) continue;
          buf = buf.slice(end + 4);
          headerDone = true;
        }
        // Server frames: unmasked; lengths of 7 bits, or 16 or 64 bits after 126 or 127.
        while (buf.length >= 2) {
          const opcode = buf[0]! & 0x0f;
          let length = buf[1]! & 0x7f;
          let at = 2;
          if (length === 126) {
            if (buf.length < 4) break;
            length = new DataView(buf.buffer, buf.byteOffset).getUint16(2);
            at = 4;
          } else if (length === 127) {
            if (buf.length < 10) break;
            length = Number(new DataView(buf.buffer, buf.byteOffset).getBigUint64(2));
            at = 10;
          }
          if (buf.length < at + length) break;
          const body = buf.subarray(at, at + length);
          buf = buf.slice(at + length);
          if (opcode === 0x8) return; // Close.
          if (opcode === 0x1) yield JSON.parse(dec.decode(body));
        }
      }
    },
    close() {
      try {
        conn.close();
      } catch { /* closed */ }
    },
  };
}
