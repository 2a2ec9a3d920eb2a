/**
 * `qdb attach --json`: a session as lines of JSON on standard input and output, for programs
 * that drive qdb as a subprocess (the Emacs mode, scripts). Each line out is one message of
 * the session, as the protocol describes it; each line in is one command. The qdb command
 * keeps what a pipe's reader should not have to do: TLS, the token, attaching again after a
 * network blip (`link` events say so).
 *
 * - Out: first the `attached` payload, then every event of the session in order, then nothing
 *   (the process exits) once the session is over or standard input ends.
 * - In: `{"e": command, "p": payload, "id": ID}`; `id` (a string or an integer) is optional and
 *   comes back on the command's replies, as the protocol does on a WebSocket. A line that is not
 *   such a command is answered by an `error` (type `json`) naming the line, and the pipe goes on.
 * - With `terminal`, the terminal client runs inside the pipe too, so that its reader gets the
 *   terminal's language without parsing it: `{"e": "line", "p": "b app.py:12"}` is a line typed
 *   at `qdb attach`, and `{"e": "interrupt"}` its Ctrl-C; what the terminal shows comes out as
 *   `{"e": "say", "p": text}` (its lines), `{"e": "output", "p": text}` (the program's output)
 *   and `{"e": "prompt", "p": "(qdb) "}` (`null` while the program runs), plain text without
 *   colours or control characters.
 *
 * @example
 * ```ts ignore
 * const ended = await runJsonPipe(session, { input: Deno.stdin.readable, write: console.log });
 * ```
 * @module
 */

import type { TracerInfo } from "../protocol/mod.ts";
import { AsyncQueue } from "../transport/async_queue.ts";
import type { SessionEvent } from "./reconnect.ts";
import type { ConsoleHandlers } from "./terminal/console.ts";
import { type Screen, TerminalClient } from "./terminal/terminal.ts";

/** A message of the session, as the pipe passes it on. */
export interface PipeEvent {
  /** The event's name. */
  e: string;
  /** Its payload. */
  p?: unknown;
  /** The id of the command it answers, when it answers one. */
  id?: unknown;
}

/** A session as the pipe needs it (a `ReconnectingSession` or a `QdbClient`). */
export interface PipeSession {
  /** The `attached` reply's payload. */
  readonly attached: object;
  /** Sends a command; returns the id it carries on the wire. */
  send(e: string, p?: unknown): number;
  /** Every event, in order; ends when the session is over. */
  readonly events: AsyncIterable<PipeEvent>;
  /** Closes the connection. Idempotent. */
  close(): void;
}

/** Options of {@linkcode runJsonPipe}. */
export interface JsonPipeOptions {
  /** The commands, one JSON object per line. */
  input: ReadableStream<Uint8Array>;
  /** Writes one line (without its newline). */
  write: (line: string) => void;
  /** Run the terminal client in the pipe too (`line` commands, `say` and `prompt` out). */
  terminal?: { forwardInput?: boolean; awaitTracer?: boolean };
  /** The name of the first line's event, whose payload is `session.attached`. Default `attached`. */
  first?: string;
}

/** How many command ids are remembered for their replies (older ones are forgotten). */
const REMEMBERED_IDS = 4096;
/** The longest command line taken (longer ones are refused, not buffered without bound). */
const MAX_LINE = 1 << 20;

/**
 * Runs the pipe until the session is over or the input ends; resolves with which ended it
 * (`session` or `input`).
 */
export async function runJsonPipe(
  session: PipeSession,
  options: JsonPipeOptions,
): Promise<"session" | "input"> {
  const { write } = options;
  const emit = (message: object) => write(JSON.stringify(message));
  // The wire id of each command sent, to the id its sender chose.
  const ids = new Map<number, string | number>();
  emit({ e: options.first ?? "attached", p: session.attached });
  const terminal = options.terminal ? startTerminal(session, emit, options.terminal) : undefined;

  const output = (async (): Promise<"session"> => {
    try {
      for await (const event of session.events) {
        const out: Record<string, unknown> = { e: event.e };
        if (event.p !== undefined) out.p = event.p;
        if (typeof event.id === "number" && ids.has(event.id)) out.id = ids.get(event.id);
        emit(out);
        terminal?.events.push(event);
      }
    } finally {
      terminal?.events.end();
    }
    return "session";
  })();

  const input = (async (): Promise<"input"> => {
    let n = 0;
    for await (const line of lines(options.input)) {
      n++;
      if (line.trim() === "") continue;
      const refuse = (why: string) =>
        emit({ e: "error", p: { type: "json", data: `Line ${n}: ${why}` } });
      if (line.length > MAX_LINE) {
        refuse(`longer than ${MAX_LINE} characters`);
        continue;
      }
      let msg: unknown;
      try {
        msg = JSON.parse(line);
      } catch (error) {
        refuse(`not JSON (${(error as Error).message})`);
        continue;
      }
      if (typeof msg !== "object" || msg === null || Array.isArray(msg)) {
        refuse('a command is an object {"e": ..., "p": ..., "id": ...}');
        continue;
      }
      const { e, p, id } = msg as Record<string, unknown>;
      if (typeof e !== "string" || e === "") {
        refuse('a command needs "e", its name');
        continue;
      }
      if (id !== undefined && typeof id !== "string" && !Number.isInteger(id)) {
        refuse('"id" must be a string or an integer');
        continue;
      }
      if (terminal && (e === "line" || e === "interrupt")) {
        if (e === "interrupt") terminal.handlers?.interrupt();
        else if (typeof p === "string") terminal.handlers?.line(p);
        else refuse('"line" takes the line typed, a string');
        continue;
      }
      const wire = session.send(e, p);
      if (id !== undefined) {
        ids.set(wire, id as string | number);
        if (ids.size > REMEMBERED_IDS) ids.delete(ids.keys().next().value!);
      }
    }
    return "input";
  })();

  // Whichever ends first ends the pipe: the session (over) or the input (closed by its reader).
  const ended = await Promise.race([output, input]);
  session.close();
  await output;
  await terminal?.done;
  return ended;
}

/**
 * The terminal client, fed the session's events, its screen a stream of JSON lines. Lines
 * typed reach it through `handlers`.
 */
function startTerminal(
  session: PipeSession,
  emit: (message: object) => void,
  options: { forwardInput?: boolean; awaitTracer?: boolean },
) {
  const events = new AsyncQueue<PipeEvent>();
  // Set by the terminal client when it runs: who receives typed lines and Ctrl-C.
  let handlers: ConsoleHandlers | undefined;
  // The prompt is told when it changes, not each time it is set again.
  let shown: string | null = null;
  const screen: Screen = {
    // A person types: the end of a line is not the end of all input.
    interactive: true,
    attach: (attached) => handlers = attached,
    setPrompt: (prompt) => {
      if (prompt === shown) return;
      shown = prompt;
      emit({ e: "prompt", p: prompt });
    },
    say: (text) => emit({ e: "say", p: text }),
    output: (text) => emit({ e: "output", p: text }),
  };
  const attached = session.attached as { tracer?: TracerInfo | null };
  const client = new TerminalClient({
    connection: {
      send: (e, p) => session.send(e, p),
      events: events as AsyncIterable<SessionEvent>,
      close: () => session.close(),
    },
    screen,
    tracer: attached.tracer ?? null,
    ...(options.forwardInput !== undefined ? { forwardInput: options.forwardInput } : {}),
    ...(options.awaitTracer ? { awaitTracer: true } : {}),
  });
  return {
    events,
    done: client.run(),
    get handlers(): ConsoleHandlers | undefined {
      return handlers;
    },
  };
}

/** The lines of a byte stream (UTF-8; `\n` or `\r\n`). */
async function* lines(input: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  let buffer = "";
  for await (const chunk of input.pipeThrough(new TextDecoderStream())) {
    buffer += chunk;
    let end;
    while ((end = buffer.indexOf("\n")) >= 0) {
      yield buffer.slice(0, end).replace(/\r$/, "");
      buffer = buffer.slice(end + 1);
    }
    if (buffer.length > MAX_LINE) {
      // A line without end: what came is refused, the rest of it too.
      yield buffer;
      buffer = "";
    }
  }
  if (buffer !== "") yield buffer;
}
