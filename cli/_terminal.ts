/**
 * Runs the terminal client on this process's terminal: raw-mode line editing on a TTY (with
 * history in `~/.qdb_history`), plain lines otherwise. Shared by `qdb attach` and `qdb run`.
 *
 * @module
 */

import { PlainConsole, TerminalConsole } from "../client/terminal/console.ts";
import { wantColor } from "../client/terminal/render.ts";
import { sanitize } from "../client/terminal/sanitize.ts";
import {
  type RestartRequest,
  type SessionConnection,
  TerminalClient,
  type TerminalMemory,
  terminalMemory,
  type TerminalOptions,
} from "../client/terminal/terminal.ts";
import type { Breakpoint, EventPayloads, TracerInfo } from "../protocol/mod.ts";

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
  /** The input ended after the terminal client ended: the program's input ends too. */
  afterEndEof?: () => void;
  /**
   * Opens another session of the tree (a child, or a parent), for `attach PID`: without it,
   * the terminal stays in its session. Resolves with the connection and the tracer, or null
   * when the session has no tracer (it ended).
   */
  openSession?: (session: string) => Promise<
    { connection: SessionConnection; attached: EventPayloads["attached"] }
  >;
  /** The `attached` reply `client` got (its children, its parent). */
  attached?: EventPayloads["attached"];
  /** What `q` does without a word (see `TerminalOptions.quitMode`). */
  quitMode?: "soft" | "hard";
  /** Told when the person quits, and how. */
  onQuit?: (mode: "soft" | "hard") => void;
  /** The session id of `client` (the tree's root, for `attach ..` from a child). */
  session?: string;
  /**
   * Starts the program again (`restart`/`run`, and at its end with `restartAtEnd`): ends the one
   * that runs, launches it anew with the breakpoints it had, and resolves with the new session.
   * Without it, the terminal refuses `restart`.
   */
  restart?: (request: RestartRequest) => Promise<{
    connection: SessionConnection;
    attached: EventPayloads["attached"];
    session: string;
    /** Lines to show the person (the new session's address, breakpoints not set again). */
    notes?: string[];
  }>;
  /** When the program ends by itself, start it again (as pdb does) instead of returning. */
  restartAtEnd?: boolean;
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
  return await withScreen(options, async (screen) => {
    // Aliases and breakpoint commands outlive each run of the program, as in pdb.
    const memory = terminalMemory();
    let connection = client;
    let current = options;
    let typedAhead: TerminalOptions["typedAhead"];
    while (true) {
      let request: RestartRequest | undefined;
      const common: TerminalOptions = {
        ...terminalOptions(connection, current),
        screen,
        memory,
        typedAhead,
        ...(options.restart ? { onRestart: (r: RestartRequest) => request = r } : {}),
      };
      const { code, root } = await runTree(common, current);
      if (!request && options.restartAtEnd && root.endedByItself) {
        screen.say("The program finished and will be restarted");
        request = {
          argv: undefined,
          breakpoints: root.breakpointTable,
          typedAhead: [],
          inputEnded: false,
        };
      }
      if (!request || !options.restart) return code;
      let next;
      try {
        next = await options.restart(request);
      } catch (error) {
        const why = error instanceof Error ? error.message : String(error);
        screen.say(`*** qdb: could not start the program again: ${sanitize(why)}`);
        return 1;
      }
      for (const note of next.notes ?? []) screen.say(sanitize(note));
      renumberCommands(memory, request.breakpoints);
      connection = next.connection;
      typedAhead = { lines: request.typedAhead, inputEnded: request.inputEnded };
      current = {
        ...current,
        tracer: next.attached.tracer ?? null,
        attached: next.attached,
        session: next.session,
      };
    }
  });
}

/**
 * The breakpoints set again after a restart are numbered from 1 in their old order: the lines
 * of `commands N` follow their breakpoint to its new number.
 */
function renumberCommands(memory: TerminalMemory, breakpoints: readonly Breakpoint[]): void {
  const old = new Map(memory.bpCommands);
  memory.bpCommands.clear();
  restorable(breakpoints).forEach((bp, i) => {
    const lines = old.get(bp.id);
    if (lines) memory.bpCommands.set(i + 1, lines);
  });
}

/** The breakpoints a restart sets again, in order: the session's own (not a group's rules). */
export function restorable(breakpoints: readonly Breakpoint[]): Breakpoint[] {
  return breakpoints.filter((bp) => bp.rule === undefined && bp.id > 0)
    .sort((a, b) => a.id - b.id);
}

/** What every terminal of one `runTerminal` shares, but its screen. */
export function terminalOptions(
  client: SessionConnection,
  options: RunTerminalOptions,
): Omit<TerminalOptions, "screen"> {
  const logFile = Deno.env.get("QDB_LOG_MESSAGES");
  const color = wantColor(Deno.stdout.isTerminal(), Deno.env);
  return {
    connection: logFile ? logged(client, logFile) : client,
    tracer: options.tracer,
    color,
    ...(options.forwardInput !== undefined ? { forwardInput: options.forwardInput } : {}),
    ...(options.awaitTracer ? { awaitTracer: true } : {}),
    ...(options.local ? { listFiles } : {}),
    ...(options.attached ? { attached: options.attached } : {}),
    ...(options.quitMode ? { quitMode: options.quitMode } : {}),
    ...(options.onQuit ? { onQuit: options.onQuit } : {}),
    // After `q`, input is the program's (when it reads qdb's): what was typed ahead, and later.
    ...(options.afterEnd
      ? {
        afterQuit: {
          line: (text: string) => options.afterEnd?.(text),
          eof: () => options.afterEndEof?.(),
        },
      }
      : {}),
  };
}

/** What reads the terminal's input after its owner ended. */
export interface ScreenOptions {
  /** Receives what is typed after `run` ended. */
  afterEnd?: ((text: string) => void) | undefined;
  /** The input ended after `run` ended. */
  afterEndEof?: (() => void) | undefined;
}

/**
 * The terminal as a screen (a TTY's line editor, or plain lines from a pipe) fed from standard
 * input, for `run` and whoever it gives the screen to; resolves with `run`'s exit code.
 */
export async function withScreen(
  options: ScreenOptions,
  run: (screen: TerminalConsole | PlainConsole) => Promise<number>,
): Promise<number> {
  const out = { write: (text: string) => writeAll(Deno.stdout, text) };
  const tty = Deno.stdin.isTerminal() && Deno.stdout.isTerminal();
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
    Deno.stdin.setRaw(true);
    let ended = false;
    try {
      const done = run(screen);
      (async () => {
        while (true) {
          const { value, done } = await reader.read();
          if (done) break;
          const text = decoder.decode(value, { stream: true });
          if (!ended) await screen.input(text);
          else options.afterEnd?.(text);
        }
        if (ended) options.afterEndEof?.();
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
  let ended = false;
  const done = run(screen).finally(() => ended = true);
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
    else {
      if (partial) options.afterEnd?.(partial);
      options.afterEndEof?.();
    }
  })().catch(() => {});
  return await done;
}

/**
 * Runs the terminal of the program's session and, on `attach PID`, the terminal of a child
 * session in the foreground while the program's goes on in the background (its output and
 * news still show). When the child's session ends, or on `attach ..` back to the program, the
 * program's terminal has the screen again. Resolves with the program's terminal's exit code,
 * once the child in the foreground (if any) is done too.
 */
async function runTree(
  common: TerminalOptions,
  options: RunTerminalOptions,
): Promise<{ code: number; root: TerminalClient }> {
  const open = options.openSession;
  const rootSession = options.session;
  if (!open || rootSession === undefined) {
    const root = new TerminalClient(common);
    return { code: await root.run(), root };
  }
  let focused: { terminal: TerminalClient; done: Promise<number> } | undefined;
  let rootEnded = false;
  const say = (text: string) => common.screen.say(text);

  /** The child in the foreground leaves its session (quietly), if there is one. */
  const leaveFocused = async () => {
    const leaving = focused;
    focused = undefined;
    leaving?.terminal.leave();
    await leaving?.done;
  };

  const back = async () => {
    focused = undefined;
    if (rootEnded) return;
    say(`[back in session ${rootSession}]`);
    await root.foreground();
  };

  const focus = async (target: string): Promise<void> => {
    // A session of the tree: the program's, one of its descendants (by pid or id), or the
    // parent of the one in the foreground.
    const session = target === rootSession || target === focused?.terminal.parent
      ? target
      : root.findChild(target);
    if (session === undefined) {
      say(`*** No child session ${sanitize(target)} ("children" lists them)`);
      return;
    }
    if (session === rootSession) {
      if (!focused) return;
      await leaveFocused();
      return await back();
    }
    let opened;
    try {
      opened = await open(session);
    } catch (error) {
      const why = error instanceof Error ? error.message : String(error);
      say(`*** cannot attach to ${session}: ${sanitize(why)}`);
      return;
    }
    const tracer = opened.attached.tracer;
    if (!tracer) {
      opened.connection.close();
      say(`*** session ${session} has ended`);
      return;
    }
    root.background(session);
    await leaveFocused();
    say(
      `[session ${session}: ${sanitize(tracer.argv.join(" "))} (pid ${tracer.pid}); ` +
        `"attach .." goes back]`,
    );
    const terminal = new TerminalClient({
      ...common,
      connection: opened.connection,
      tracer,
      attached: opened.attached,
      onAttach: focus,
      child: true,
      // A child's standard input is not qdb's.
      forwardInput: false,
    });
    const entry = { terminal, done: terminal.run() };
    focused = entry;
    entry.done.then(async () => {
      opened.connection.close();
      // Its session ended (not left for another): the program's terminal takes over.
      if (focused === entry) await back();
    });
  };

  const root = new TerminalClient({ ...common, onAttach: focus });
  const code = await root.run();
  rootEnded = true;
  while (focused) await focused.done;
  return { code, root };
}
