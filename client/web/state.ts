/**
 * The web client's state, without a page or a socket: what the session looks like (the shared
 * {@linkcode SessionModel}), the selected thread and frame, sources, the variables tree, the
 * console, the program's output and what the other clients do. The page (app.ts) feeds it every
 * message and renders what it says changed; tests feed it messages directly.
 *
 * Protocol 2 throughout, through the session's client ({@linkcode StateLink}: a
 * {@linkcode ReconnectingSession} on the page, any {@linkcode QdbClient}): it tracks the
 * replies and checks each result against the protocol's schema.
 *
 * @example
 * ```ts
 * import { WebState } from "./state.ts";
 * const state = new WebState(() => undefined); // not linked yet
 * state.receive({ e: "running" });
 * state.model.running; // true
 * ```
 * @module
 */

import { SessionModel } from "../session.ts";
import type { SessionEvent } from "../events.ts";
import { CommandError } from "../client.ts";
import type { ReconnectingSession } from "../reconnect.ts";
import type {
  Breakpoint,
  CommandPayloads,
  FrameInfo,
  RequestCommand,
  RequestResults,
  Scope,
  ThreadInfo,
  Variable,
  Watch,
} from "../../protocol/mod.ts";

/**
 * What the state drives its session through: the session's client (its one reply tracker).
 * `ReconnectingSession` and `QdbClient` are such links.
 */
export interface StateLink {
  /** A protocol 2 request and its checked result. */
  request: ReconnectingSession["request"];
  /** A command whose answer is an event for everyone; returns its id. */
  send(e: string, p?: unknown): number;
  /** Whether an event answered a request awaited here (its promise has it). */
  isAnswer(event: object): boolean;
}

/** Lines of program output kept (the oldest go first). */
export const MAX_OUTPUT_LINES = 5000;
/** Entries kept in the console. */
export const MAX_CONSOLE_ENTRIES = 500;
/** Children of a value asked for at a time. */
export const PAGE = 100;
/** The id of the `start` message: the state sent in answer to it carries it. */
export const START_ID = 0;

/** What changed, for the page to render again. */
export type Change =
  | "session"
  | "stop"
  | "source"
  | "variables"
  | "breakpoints"
  | "output"
  | "console"
  | "peers"
  | "watches";

/** One line of the console. */
export interface ConsoleEntry {
  /** What it is: what was typed, its result, or an error. */
  kind: "input" | "result" | "error";
  /** The text (never HTML). */
  text: string;
}

/** The children of a value, as far as they were loaded. */
export interface Children {
  /** Loaded so far, in order. */
  items: Variable[];
  /** How many there are in all. */
  total: number;
}

/** A request that failed: its protocol error type and sentence. */
export class RequestError extends Error {
  /** The protocol's error type (`running`, `eval`, `reference`...). */
  readonly type: string;
  /** An error of `type` saying `message`. */
  constructor(type: string, message: string) {
    super(message);
    this.name = "RequestError";
    this.type = type;
  }
}

/** The web client's state of one session. */
export class WebState {
  /** The session as every client sees it. */
  readonly model: SessionModel = new SessionModel({ startId: START_ID });
  /** The program's output, line by line (the last may be partial). */
  readonly output: { stream: "stdout" | "stderr" | "log"; text: string }[] = [];
  /** The console's entries. */
  readonly console: ConsoleEntry[] = [];
  /** What was evaluated, oldest first. */
  readonly history: string[] = [];
  /** The watches' values in a frame this page selected (other than the newest), if any. */
  frameWatches: Watch[] | undefined;
  /** What other clients did, newest last. */
  readonly peers: string[] = [];
  /** The program's threads, at the last stop. */
  threads: ThreadInfo[] = [];
  /** The thread shown. */
  thread: number | undefined;
  /** Its frames, newest first. */
  frames: FrameInfo[] = [];
  /** The frame shown. */
  frame: FrameInfo | undefined;
  /** Its scopes. */
  scopes: Scope[] = [];
  /** Sources by path: lines, or why there are none. */
  readonly sources: Map<string, { lines: string[] } | { error: string }> = new Map();
  /** Children of values by reference (valid until the program resumes). */
  readonly children: Map<number, Children> = new Map();
  /** References expanded in the tree. */
  readonly expanded: Set<number> = new Set();
  readonly #link: () => StateLink | undefined;
  /** Called with what changed. */
  onChange: (change: Change) => void = () => {};

  /** State that reaches its session through `link()` (undefined while not linked). */
  constructor(link: () => StateLink | undefined) {
    this.#link = link;
  }

  /** The breakpoints of the session. */
  get breakpoints(): readonly Breakpoint[] {
    return this.model.breakpoints;
  }

  /**
   * A protocol 2 request: its result, checked; a refusal (or no link) rejects with a
   * RequestError.
   */
  async request<K extends RequestCommand>(
    command: K,
    ...params: CommandPayloads[K] extends undefined ? [] : [CommandPayloads[K]]
  ): Promise<RequestResults[K]> {
    const link = this.#link();
    if (!link) throw new RequestError("tracer", "Not connected to the server");
    try {
      return await link.request(command, ...params);
    } catch (error) {
      if (error instanceof CommandError) {
        const { type, data } = error.error;
        throw new RequestError(type, typeof data === "string" ? data : JSON.stringify(data));
      }
      throw new RequestError("tracer", error instanceof Error ? error.message : String(error));
    }
  }

  /** Sends a command whose answer is an event for everyone (a resume, a breakpoint). */
  command(e: string, p?: unknown): void {
    this.#link()?.send(e, p);
  }

  /** Takes one message from the server. */
  receive(msg: SessionEvent): void {
    // A request's reply is its promise's; others' replies are not this page's business.
    if (msg.e === "ok" || (msg.e === "error" && this.#link()?.isAnswer(msg))) return;
    const before = this.model.running;
    const applied = this.model.apply(msg);
    switch (msg.e) {
      case "attached":
      case "child":
      case "clients":
      case "exited":
      case "disabled":
      case "disable":
        return this.onChange("session");
      case "stack":
        if (applied === "changed" && msg.p.reason !== "select") void this.refreshStop();
        return;
      case "running":
        if (before !== true) {
          this.children.clear();
          this.expanded.clear();
          this.threads = [];
          this.frames = [];
          this.frame = undefined;
          this.scopes = [];
        }
        return this.onChange("stop");
      case "breakpoints":
        return this.onChange("breakpoints");
      case "watchlist":
        // The session's values, at its selection: those of a frame selected here are gone.
        this.frameWatches = undefined;
        return this.onChange("watches");
      case "print":
        if (msg.p.input === "<stdout>" || msg.p.input === "<stderr>" || msg.p.input === "<log>") {
          this.#addOutput(msg.p.input.slice(1, -1) as "stdout" | "stderr" | "log", msg.p.output);
          return this.onChange("output");
        }
        return;
      case "command": {
        const p = msg.p;
        this.peers.push(
          `${p.client.name}: ${p.e}${p.p === undefined ? "" : ` ${JSON.stringify(p.p)}`}`,
        );
        if (this.peers.length > 50) this.peers.shift();
        return this.onChange("peers");
      }
      case "error": {
        // A command's refusal (its reply was not awaited), or news from the server: said.
        const data = typeof msg.p.data === "string" ? msg.p.data : JSON.stringify(msg.p.data);
        this.#log("error", `${msg.p.command ? `${msg.p.command}: ` : ""}${data}`);
        return;
      }
    }
  }

  #addOutput(stream: "stdout" | "stderr" | "log", text: string): void {
    const parts = text.split("\n");
    const last = this.output.at(-1);
    // A line the program had not finished goes on.
    if (last && last.stream === stream && !last.text.endsWith("\n")) {
      last.text += parts.shift()!;
      if (parts.length > 0) last.text += "\n";
    }
    parts.forEach((part, i) => {
      const line = i < parts.length - 1 ? `${part}\n` : part;
      if (line) this.output.push({ stream, text: line });
    });
    while (this.output.length > MAX_OUTPUT_LINES) this.output.shift();
  }

  #log(kind: ConsoleEntry["kind"], text: string): void {
    this.console.push({ kind, text });
    while (this.console.length > MAX_CONSOLE_ENTRIES) this.console.shift();
    this.onChange("console");
  }

  /** At a stop: the threads, the stopped thread's frames, and the newest frame's scopes. */
  async refreshStop(): Promise<void> {
    const stop = this.model.stop;
    if (!stop) return;
    try {
      const { threads } = await this.request("threads");
      this.threads = threads;
      const wanted = stop.thread?.id ?? threads.find((t) => t.state === "stopped")?.id;
      await this.selectThread(wanted ?? threads[0]?.id);
    } catch (error) {
      this.#log("error", messageOf(error));
    }
  }

  /** Shows a thread's frames (the newest selected). */
  async selectThread(id: number | undefined): Promise<void> {
    this.thread = id;
    this.frames = [];
    this.frame = undefined;
    this.scopes = [];
    if (id !== undefined && this.threads.find((t) => t.id === id)?.state === "stopped") {
      const { frames } = await this.request("stack_trace", { thread: id });
      this.frames = frames;
    }
    this.onChange("stop");
    if (this.frames[0]) await this.selectFrame(this.frames[0].id);
  }

  /** Shows a frame: its source and its scopes. */
  async selectFrame(id: number): Promise<void> {
    const frame = this.frames.find((f) => f.id === id);
    if (!frame) return;
    this.frame = frame;
    this.onChange("stop");
    const [scopes] = await Promise.all([
      this.request("scopes", { frame: id }),
      this.loadSource(frame.file),
    ]);
    if (this.frame !== frame) return;
    this.scopes = scopes.scopes;
    this.onChange("variables");
    await this.#watchIn(frame);
  }

  /**
   * The watches' values in the frame this page selected (the session's own are taken at its
   * shared selection, the newest frame at a stop): evaluated here for the other frames.
   */
  async #watchIn(frame: FrameInfo): Promise<void> {
    const newest = this.frames[0];
    if (!newest || frame.id === newest.id || this.model.watches.length === 0) {
      if (this.frameWatches) {
        this.frameWatches = undefined;
        this.onChange("watches");
      }
      return;
    }
    const values = await Promise.all(this.model.watches.map(async (w) => {
      try {
        const { value } = await this.request("evaluate", {
          expr: w.expr,
          context: "watch",
          frame: frame.id,
        });
        return { expr: w.expr, exc: false, value };
      } catch (error) {
        return { expr: w.expr, exc: true, value: messageOf(error) };
      }
    }));
    if (this.frame !== frame) return;
    this.frameWatches = values;
    this.onChange("watches");
  }

  /** Fetches a file's source from the tracer (once per path). */
  async loadSource(path: string): Promise<void> {
    if (this.sources.has(path) || !path.startsWith("/")) return;
    try {
      const { text } = await this.request("source", { path });
      this.sources.set(path, { lines: text.replace(/\n$/, "").split("\n") });
    } catch (error) {
      this.sources.set(path, { error: messageOf(error) });
    }
    this.onChange("source");
  }

  /** Expands a value, or loads its next page of children. */
  async expand(ref: number, total: number): Promise<void> {
    this.expanded.add(ref);
    const known = this.children.get(ref) ?? { items: [], total };
    this.children.set(ref, known);
    // Opened before: what was loaded stays (until the program resumes).
    if (known.items.length === 0) await this.more(ref);
    else this.onChange("variables");
  }

  /** Loads the next page of a value's children. */
  async more(ref: number): Promise<void> {
    const known = this.children.get(ref);
    if (!known) return;
    try {
      const { variables } = await this.request("variables", {
        ref,
        start: known.items.length,
        count: PAGE,
      });
      known.items.push(...variables);
      if (variables.length < PAGE) known.total = known.items.length;
    } catch (error) {
      this.#log("error", messageOf(error));
    }
    this.onChange("variables");
  }

  /** Folds a value. */
  collapse(ref: number): void {
    this.expanded.delete(ref);
    this.onChange("variables");
  }

  /** Evaluates in the selected frame, for the console. */
  async evaluate(expr: string): Promise<void> {
    if (expr.trim() === "") return;
    if (this.history.at(-1) !== expr) this.history.push(expr);
    this.#log("input", expr);
    try {
      const result = await this.request("evaluate", {
        expr,
        context: "repl",
        ...(this.frame ? { frame: this.frame.id } : {}),
      });
      if (result.output) this.#log("result", result.output.replace(/\n$/, ""));
      this.#log("result", result.value);
    } catch (error) {
      this.#log("error", messageOf(error));
    }
  }

  /** The files of the program whose path ends with `/tail` (`find_source`). */
  async findSource(tail: string): Promise<string[]> {
    try {
      const { paths } = await this.request("find_source", { tail });
      return paths;
    } catch (error) {
      this.#log("error", messageOf(error));
      return [];
    }
  }

  /** A name's value under the pointer in the source (`evaluate`, context hover), or why not. */
  async hover(expr: string): Promise<string> {
    if (!this.frame || this.model.running) return "";
    try {
      const { value } = await this.request("evaluate", {
        expr,
        context: "hover",
        frame: this.frame.id,
      });
      return value;
    } catch (error) {
      return messageOf(error);
    }
  }

  /** Changes a variable of `ref` (a scope or a value) to what `value` evaluates to. */
  async setVariable(ref: number, name: string, value: string): Promise<void> {
    try {
      await this.request("set_variable", {
        ref,
        name,
        value,
        ...(this.frame ? { frame: this.frame.id } : {}),
      });
    } catch (error) {
      this.#log("error", messageOf(error));
      return;
    }
    // What is shown of the frame's values is stale now: read it again.
    if (this.frame) await this.selectFrame(this.frame.id);
    for (const open of this.expanded) {
      this.children.delete(open);
      await this.expand(open, 0);
    }
  }

  /** Completions of what is typed, in the selected frame. */
  async complete(text: string): Promise<string[]> {
    try {
      const { matches } = await this.request("completions", {
        text,
        ...(this.frame ? { frame: this.frame.id } : {}),
      });
      return matches;
    } catch {
      return [];
    }
  }

  /** The breakpoints on a line of a file. */
  breakpointsAt(file: string, line: number): Breakpoint[] {
    return this.breakpoints.filter((b) => b.file === file && b.line === line);
  }

  /** A click in the gutter: a breakpoint there goes, or one comes. */
  toggleBreakpoint(file: string, line: number): void {
    const here = this.breakpointsAt(file, line);
    if (here.length > 0) { for (const b of here) this.command("clear_break", { id: b.id }); }
    else this.command("set_break", { file, line });
  }

  /** Sets a breakpoint's condition, hit condition or log message (null removes them). */
  editBreakpoint(
    file: string,
    line: number,
    edit: { cond: string | null; hit_condition: string | null; log: string | null },
  ): void {
    for (const b of this.breakpointsAt(file, line)) this.command("clear_break", { id: b.id });
    const p: Record<string, unknown> = { file, line };
    if (edit.cond) p.cond = edit.cond;
    if (edit.hit_condition) p.hit_condition = edit.hit_condition;
    if (edit.log) p.log = edit.log;
    this.command("set_break", p);
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
