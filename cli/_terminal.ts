/**
 * Runs the terminal client on this process's terminal: raw-mode line editing on a TTY (with
 * history in `~/.qdb_history`), plain lines otherwise. Shared by `qdb attach` and `qdb run`.
 *
 * @module
 */

import { PlainConsole, TerminalConsole } from "../client/terminal/console.ts";
import { wantColor } from "../client/terminal/render.ts";
import { type SessionConnection, TerminalClient } from "../client/terminal/terminal.ts";
import type { TracerInfo } from "../protocol/mod.ts";

const encoder = new TextEncoder();

/** Writes all of `text` to a stream synchronously (the terminal must show it in order). */
export function writeAll(stream: { writeSync(p: Uint8Array): number }, text: string): void {
  const bytes = encoder.encode(text);
  let written = 0;
  while (written < bytes.length) written += stream.writeSync(bytes.subarray(written));
}

/** The history file: `$QDB_HISTORY`, else `~/.qdb_history`. */
export function historyFile(): string | undefined {
  const explicit = Deno.env.get("QDB_HISTORY");
  if (explicit !== undefined) return explicit || undefined;
  const home = Deno.env.get("HOME");
  return home ? `${home}/.qdb_history` : undefined;
}

function loadHistory(file: string | undefined): string[] {
  if (!file) return [];
  try {
    return Deno.readTextFileSync(file).split("\n").filter((l) => l.trim() !== "").slice(-1000);
  } catch {
    return [];
  }
}

function appendHistory(file: string | undefined, line: string): void {
  if (!file || line.trim() === "") return;
  try {
    Deno.writeTextFileSync(file, `${line.replace(/\n/g, " ")}\n`, { append: true, mode: 0o600 });
  } catch {
    // History is a convenience: an unwritable home must not break debugging.
  }
}

function listFiles(dir: string): string[] {
  try {
    const out: string[] = [];
    for (const entry of Deno.readDirSync(dir)) {
      if (entry.name.startsWith(".")) continue;
      if (entry.isDirectory) out.push(`${entry.name}/`);
      else if (entry.name.endsWith(".py")) out.push(entry.name);
    }
    return out.sort();
  } catch {
    return [];
  }
}

/** Options of {@linkcode runTerminal}. */
export interface RunTerminalOptions {
  /** The tracer as `attached` described it. */
  tracer: TracerInfo | null;
  /** Send lines typed while the program runs to its standard input. */
  forwardInput?: boolean;
  /** Whether the tracer runs on this machine (so local files can be completed). */
  local?: boolean;
  /** The tracer is about to arrive: typed lines wait for it (`qdb run`). */
  awaitTracer?: boolean;
  /**
   * Receives what is typed after the terminal client ended (the program runs on after a soft
   * quit, and may read its input). Without it, input after the end is ignored.
   */
  afterEnd?: (text: string) => void;
}

/**
 * A connection that also writes every message, both ways, as JSON lines to `file`
 * (`QDB_LOG_MESSAGES=FILE`): for looking at a session's protocol traffic.
 */
function logged(client: SessionConnection, file: string): SessionConnection {
  const log = (direction: string, msg: unknown) =>
    Deno.writeTextFileSync(file, `${direction} ${JSON.stringify(msg)}\n`, { append: true });
  return {
    send(e: string, p?: unknown) {
      const id = client.send(e, p);
      log(">", { e, p, id });
      return id;
    },
    events: (async function* () {
      for await (const msg of client.events) {
        log("<", msg);
        yield msg;
      }
    })(),
    close: () => client.close(),
    get closeInfo() {
      return client.closeInfo;
    },
  };
}

/** Runs the terminal client until the session ends or the user quits; returns the exit code. */
export async function runTerminal(
  client: SessionConnection,
  options: RunTerminalOptions,
): Promise<number> {
  const out = { write: (text: string) => writeAll(Deno.stdout, text) };
  const logFile = Deno.env.get("QDB_LOG_MESSAGES");
  const color = wantColor(Deno.stdout.isTerminal(), Deno.env);
  const tty = Deno.stdin.isTerminal() && Deno.stdout.isTerminal();
  const common = {
    connection: logFile ? logged(client, logFile) : client,
    tracer: options.tracer,
    color,
    ...(options.forwardInput !== undefined ? { forwardInput: options.forwardInput } : {}),
    ...(options.awaitTracer ? { awaitTracer: true } : {}),
    ...(options.local ? { listFiles } : {}),
  };
  const reader = Deno.stdin.readable.getReader();
  const decoder = new TextDecoder();
  if (tty) {
    const file = historyFile();
    const screen = new TerminalConsole({
      out,
      columns: () => {
        try {
          return Deno.consoleSize().columns;
        } catch {
          return 80;
        }
      },
      history: loadHistory(file),
      onHistory: (line) => appendHistory(file, line),
    });
    const terminal = new TerminalClient({ ...common, screen });
    Deno.stdin.setRaw(true);
    let ended = false;
    try {
      const done = terminal.run();
      (async () => {
        while (true) {
          const { value, done } = await reader.read();
          if (done) break;
          const text = decoder.decode(value, { stream: true });
          if (!ended) await screen.input(text);
          else options.afterEnd?.(text);
        }
      })().catch(() => {});
      return await done;
    } finally {
      // Back to the terminal's own line editing, for whatever reads the input next.
      ended = true;
      Deno.stdin.setRaw(false);
      out.write("\r\x1b[K");
    }
  }
  const screen = new PlainConsole(out);
  const terminal = new TerminalClient({ ...common, screen });
  let ended = false;
  const done = terminal.run().finally(() => ended = true);
  (async () => {
    let partial = "";
    while (true) {
      const { value, done } = await reader.read();
      if (done) break;
      const text = decoder.decode(value, { stream: true });
      if (ended) {
        options.afterEnd?.(text);
        continue;
      }
      const lines = (partial + text).split("\n");
      partial = lines.pop()!;
      for (const line of lines) screen.inputLine(line.replace(/\r$/, ""));
    }
    if (partial && !ended) screen.inputLine(partial);
    if (!ended) screen.inputEnd();
  })().catch(() => {});
  return await done;
}
