/**
 * The terminal client: pdb's commands over the qdb protocol. It depends only on a session
 * client (the protocol) and a screen, never on an engine, so it drives any tracer the same
 * way, locally (`qdb run`) or remotely (`qdb attach`).
 *
 * @module
 */

import type { LinkState, SessionEvent } from "../reconnect.ts";
import { type Applied, SessionModel } from "../session.ts";
import { sanitize } from "./sanitize.ts";
import type {
  Breakpoint,
  ChildInfo,
  ErrorPayload,
  EventPayloads,
  PrintPayload,
  StackPayload,
  ThreadInfo,
  TracerInfo,
  Watch,
} from "../../protocol/mod.ts";
import {
  checkClientMessage,
  type ClientMessage,
  COMMANDS,
  isCommandName,
  RESULTS,
} from "../../protocol/mod.ts";
import type { ConsoleHandlers } from "./console.ts";
import {
  ArgumentError,
  looksLikePython,
  parseBreak,
  parseCount,
  parseList,
  parseNumbers,
  shellWords,
  splitCommand,
} from "./parse.ts";
import {
  ANSI,
  breakpointChanges,
  type ChildNotice,
  displayPath,
  formatBreakpointTable,
  formatChildNotices,
  formatChildren,
  formatException,
  formatNames,
  formatSnapshot,
  formatSnapshotList,
  formatStack,
  formatWatches,
  functionRange,
  type Palette,
  parseSnap,
  PLAIN,
  sourceLines,
  stopHeader,
} from "./render.ts";

/**
 * What the terminal needs from a session connection (a `QdbClient` has it; a
 * `ReconnectingSession` adds `link` events to the stream).
 */
export interface SessionConnection {
  /** Sends a command; returns its id. */
  send(e: string, p?: unknown): number;
  /** Every event, checked and in order; ends when the connection closes. */
  readonly events: AsyncIterable<SessionEvent>;
  /** Closes the connection. */
  close(): void;
  /** Why the server closed the connection, if it said. */
  readonly closeInfo?: { code: number; reason: string } | undefined;
}

/** The screen the terminal writes to (a TTY console or a plain one). */
export interface Screen {
  /** Whether a person types (a TTY): Ctrl-D there is not the end of all input. */
  readonly interactive?: boolean;
  attach(handlers: ConsoleHandlers): void;
  setPrompt(prompt: string | null): void;
  say(text: string): void;
  output(text: string): void;
}

/** Options of {@linkcode TerminalClient}. */
export interface TerminalOptions {
  /** The session connection. */
  connection: SessionConnection;
  /**
   * Where input goes once the person quit (`q`): the lines typed or piped after it, and the
   * end of the input (`qdb run`: the program, which runs on after a soft quit, reads them).
   * Without it, they are dropped.
   */
  afterQuit?: { line(text: string): void; eof(): void } | undefined;
  /** The screen. */
  screen: Screen;
  /** The tracer, as `attached` described it (for paths relative to its directory). */
  tracer?: TracerInfo | null | undefined;
  /** Colour the output. */
  color?: boolean;
  /**
   * The program's standard input comes from qdb (`qdb run`, or `qdb trace --stdin clients`):
   * lines typed while it runs are its input. Default: what the tracer's capabilities say.
   */
  forwardInput?: boolean;
  /**
   * A tracer is about to arrive (`qdb run`): typed lines wait for it. Otherwise, with no
   * tracer, lines are commands at once (`quit` leaves).
   */
  awaitTracer?: boolean;
  /** Lists local files for `break` completion (absent: no file completion). */
  listFiles?: (dir: string) => string[];
  /** Source lines shown around the current line at each stop: before and after. */
  context?: [number, number];
  /**
   * Switches the terminal to another session of the tree (`attach PID`, `attach ..`): given,
   * the `attach` command works. It resolves once the switch is done or refused.
   */
  onAttach?: ((session: string) => Promise<void>) | undefined;
  /** A child session's terminal, focused from its program's: its prompt names the pid. */
  child?: boolean;
  /**
   * What `quit` (and the end of input at the prompt) does without a word: `soft` (default: the
   * program runs on) or `hard` (it ends, as under pdb: `qdb run`). `detach` always leaves it
   * running.
   */
  quitMode?: "soft" | "hard";
  /** Told when the person quits (`q`, the end of input, `detach` under `qdb run`), and how. */
  onQuit?: ((mode: "soft" | "hard") => void) | undefined;
  /**
   * What `attach ..` goes back to from a session that is not a child (a group's fleet view,
   * `group jobs`): then `onAttach("..")` is called.
   */
  up?: string | undefined;
  /** The `attached` reply the connection got before the terminal existed. */
  attached?: EventPayloads["attached"] | undefined;
  /**
   * `restart` and `run` start the program again (`qdb run`, which launched it): told what to
   * start, after which this terminal leaves its session quietly. Without it they are refused.
   */
  onRestart?: ((request: RestartRequest) => void) | undefined;
  /** What the person defined that outlives one program (aliases, breakpoint commands). */
  memory?: TerminalMemory | undefined;
  /** Lines typed ahead for this terminal (after `restart`), and whether the input ended. */
  typedAhead?: { lines: string[]; inputEnded: boolean } | undefined;
}

/** What `restart` asks for: the arguments to start the program with, and the breakpoints. */
export interface RestartRequest {
  /** The program's new arguments (as `sys.argv[1:]`), or undefined for the same ones. */
  argv: string[] | undefined;
  /** The breakpoints the session had, to set again. */
  breakpoints: readonly Breakpoint[];
  /** Lines typed (or piped) after `restart`, for the program's next terminal. */
  typedAhead: string[];
  /** Whether the input ended after `restart` (a pipe's end): the next terminal ends too. */
  inputEnded: boolean;
}

/** What a person defined in a terminal that lasts across restarts of the program, as in pdb. */
export interface TerminalMemory {
  /** `alias`: names standing for command lines. */
  aliases: Map<string, string>;
  /** `commands N`: the command lines each breakpoint runs when it stops the program. */
  bpCommands: Map<number, string[]>;
}

/** An empty {@linkcode TerminalMemory}. */
export function terminalMemory(): TerminalMemory {
  return { aliases: new Map(), bpCommands: new Map() };
}

const PROMPT = "(qdb) ";
/** How long child notices wait for more news to show with them, in ms... */
const CHILD_NOTICE_MS = 200;
/** ...but no longer than this after the first. */
const CHILD_NOTICE_MAX_MS = 1000;
/** The id a client's `start` carries (`QdbClient.connect`): the state sent in answer has it. */
const START_ID = 0;
/** Commands that let the program run (they end a breakpoint's `commands`). */
const RESUMING: ReadonlySet<string> = new Set([
  "step",
  "s",
  "next",
  "n",
  "return",
  "r",
  "until",
  "unt",
  "continue",
  "cont",
  "c",
  "quit",
  "q",
  "exit",
  "detach",
]);
/** What the end of input queues: a quit that no program input can be mistaken for. */
const QUIT_AT_EOF = "\u0000quit at end of input";
/**
 * The event that ends the wait for a command's reply: the last the command table says answers
 * it (none: the command is only sent).
 */
function replyEvents(e: string): string[] {
  const last = isCommandName(e) ? COMMANDS[e].replies.at(-1) : undefined;
  return last === undefined ? [] : [last];
}

/**
 * What a request of this terminal resolves with: its reply, or why there is none (the session
 * closed, the person interrupted, or the command has no reply to wait for).
 */
type Reply = SessionEvent | { e: "closed" | "interrupted" | "sent"; p?: undefined; id?: undefined };

/** One terminal command, pdb style. */
interface TerminalCommand {
  /** Its names, long first: `["break", "b"]`. */
  names: string[];
  /** Argument synopsis for help. */
  args?: string;
  /** One line of help. */
  help: string;
  /** Runs it with the text after its name. */
  run(arg: string): Promise<void> | void;
}

/** The pdb-like terminal client of one session. */
export class TerminalClient {
  readonly #conn: SessionConnection;
  readonly #screen: Screen;
  readonly #palette: Palette;
  readonly #forwardInput: boolean | undefined;
  #awaitTracer: boolean;
  #runningHintShown = false;
  readonly #listFiles: ((dir: string) => string[]) | undefined;
  readonly #context: [number, number];
  /** What this client knows of the session: the shared client model. */
  readonly #model: SessionModel;
  /** This terminal's displays: the frame each belongs to, and the value last shown. */
  readonly #displays = new Map<string, { frame: string | undefined; last: string | undefined }>();
  /** Whether the program runs; unknown (undefined) until the tracer says. */
  #ended = false;
  #endReason = "";
  /** Whether the end of debugging was already said. */
  #announced = false;
  #quitting = false;
  #lastLine = "";
  #listFrom: { file: string; line: number } | undefined;
  readonly #sources = new Map<string, Promise<string[] | undefined>>();
  /** Requests awaited by id, with the events that end the wait (after they are shown). */
  readonly #waiting = new Map<number, { events: string[]; done: (msg: Reply) => void }>();
  /** Quiet requests by id: their first reply goes to the caller, not to the screen. */
  readonly #own = new Map<number, (msg: Reply) => void>();
  readonly #lines: string[] = [];
  #busy = false;
  readonly #commands: TerminalCommand[];
  #resolveDone!: (code: number) => void;
  readonly #done = new Promise<number>((resolve) => this.#resolveDone = resolve);
  readonly #onAttach: ((session: string) => Promise<void>) | undefined;
  readonly #afterQuit: TerminalOptions["afterQuit"];
  readonly #child: boolean;
  readonly #up: string | undefined;
  readonly #quitMode: "soft" | "hard";
  readonly #onQuit: ((mode: "soft" | "hard") => void) | undefined;
  readonly #onRestart: ((request: RestartRequest) => void) | undefined;
  readonly #typedAhead: TerminalOptions["typedAhead"];
  /** Set when the person ended the program (`q hard`): its end by a signal is theirs. */
  #quitHard = false;
  /** Another session of the tree has the screen: only output and notices are shown. */
  #background = false;
  /** A session whose news is not worth a notice (the one in the foreground). */
  #quietAbout: string | undefined;
  /** Child notices waiting to be shown together. */
  #childNotices: ChildNotice[] = [];
  #childTimer: ReturnType<typeof setTimeout> | undefined;
  #childFirst: number | undefined;

  constructor(options: TerminalOptions) {
    this.#conn = options.connection;
    this.#screen = options.screen;
    this.#palette = options.color ? ANSI : PLAIN;
    this.#forwardInput = options.forwardInput;
    this.#awaitTracer = options.awaitTracer ?? false;
    this.#listFiles = options.listFiles;
    this.#context = options.context ?? [1, 2];
    this.#model = new SessionModel({ startId: START_ID, tracer: options.tracer });
    if (options.attached) this.#model.apply({ e: "attached", p: options.attached });
    this.#onAttach = options.onAttach;
    this.#afterQuit = options.afterQuit;
    this.#child = options.child ?? false;
    this.#up = options.up;
    this.#quitMode = options.quitMode ?? "soft";
    this.#onQuit = options.onQuit;
    this.#onRestart = options.onRestart;
    this.#typedAhead = options.typedAhead;
    const memory = options.memory ?? terminalMemory();
    this.#aliases = memory.aliases;
    this.#bpCommands = memory.bpCommands;
    this.#commands = this.#commandTable();
  }

  get #tracer(): TracerInfo | null {
    return this.#model.tracer;
  }

  get #stack(): StackPayload | undefined {
    return this.#model.stop;
  }

  /** Whether the program runs; unknown (undefined) until the tracer says. */
  get #running(): boolean | undefined {
    return this.#model.running;
  }

  get #breakpoints(): readonly Breakpoint[] {
    return this.#model.breakpoints;
  }

  get #watches(): readonly Watch[] {
    return this.#model.watches;
  }

  /** The exit code the program reported, or null while it has not ended. */
  get #exitCode(): number | null {
    const exit = this.#model.exit;
    return exit ? exit.code ?? 1 : null;
  }

  /** Whether the program's standard input comes from qdb (lines typed while it runs go there). */
  get #inputFromQdb(): boolean {
    return this.#forwardInput ?? this.#tracer?.capabilities?.includes("input") ?? false;
  }

  /** Runs until the session ends or the user quits; resolves with the exit code to use. */
  run(): Promise<number> {
    this.#attachScreen();
    this.#pump();
    for (const line of this.#typedAhead?.lines ?? []) this.#enqueue(line);
    if (this.#typedAhead?.inputEnded) this.#endOfInput();
    return this.#done;
  }

  #attachScreen(): void {
    this.#screen.attach({
      line: (line) => this.#enqueue(line),
      interrupt: () => this.#interrupt(),
      eof: () => this.#endOfInput(),
      complete: (before) => this.#complete(before),
    });
  }

  /**
   * Another session of the tree takes the screen (`attach PID`): this one goes on showing
   * the program's output and the news of its children, and hears no news of `quiet` (the
   * session in the foreground).
   */
  background(quiet: string): void {
    this.#background = true;
    this.#quietAbout = quiet;
  }

  /** The screen is this session's again: its state is shown, and typed lines are its. */
  async foreground(): Promise<void> {
    this.#background = false;
    this.#quietAbout = undefined;
    if (this.#ended) return;
    this.#attachScreen();
    const stop = this.#stack;
    if (stop) await this.#onStack(stop, false);
    else this.#updatePrompt();
  }

  /** Leaves the session quietly (the terminal goes to another session of the tree). */
  leave(): void {
    if (this.#ended) return;
    this.#quitting = true;
    this.#ended = true;
    this.#conn.close();
  }

  /** The session's parent, for a child session. */
  get parent(): string | undefined {
    return this.#model.parent;
  }

  /** The exit code the program reported, if it ended. */
  get exitCode(): number | null {
    return this.#exitCode;
  }

  /** Whether the program ended by itself (not by the person's `q`, nor a lost server). */
  get endedByItself(): boolean {
    return this.#model.exit !== undefined && !this.#quitting;
  }

  /** The session's breakpoints, as last told. */
  get breakpointTable(): readonly Breakpoint[] {
    return this.#breakpoints;
  }

  // ---------------------------------------------------------------- events

  /**
   * Reads events. Replies to this terminal's own quiet requests are handed over at once (a
   * handler may be waiting for one, such as the source of a file while showing a stop);
   * everything else is shown in order, one event after the other.
   */
  async #pump(): Promise<void> {
    let shown = Promise.resolve();
    for await (const received of this.#conn.events) {
      const msg = safeToShow(received);
      const id = typeof msg.id === "number" ? msg.id : undefined;
      const own = id === undefined ? undefined : this.#own.get(id);
      if (own) {
        this.#own.delete(id!);
        own(msg);
        continue;
      }
      if (msg.e === "disabled" || msg.e === "disable" || msg.e === "link") {
        // The tracer answers nothing more (or not on this connection): a stop being shown
        // must not wait for its source.
        for (const pending of this.#own.values()) pending({ e: "closed" });
        this.#own.clear();
      }
      shown = shown.then(async () => {
        try {
          await this.#onEvent(msg);
        } catch (error) {
          this.#say(this.#palette.error(`*** qdb: could not show "${msg.e}": ${error}`));
        }
        const waiter = id === undefined ? undefined : this.#waiting.get(id);
        if (waiter && (msg.e === "error" || waiter.events.includes(msg.e))) {
          this.#waiting.delete(id!);
          waiter.done(msg);
        }
      });
    }
    await shown;
    for (const waiter of this.#waiting.values()) waiter.done({ e: "closed" });
    this.#waiting.clear();
    for (const own of this.#own.values()) own({ e: "closed" });
    this.#own.clear();
    this.#finish();
  }

  #finish(): void {
    this.#flushChildNotices();
    if (this.#background) {
      // The foreground session owns the prompt: say only that this one ended.
      if (this.#endReason) this.#say(this.#palette.info(`qdb: ${this.#endReason}`));
      this.#resolveDone(this.#exitCode ?? (this.#ended || this.#quitting ? 0 : 1));
      return;
    }
    this.#screen.setPrompt(null);
    if (!this.#ended && !this.#quitting) {
      const why = this.#conn.closeInfo?.reason || "the connection closed";
      this.#say(this.#palette.error(`qdb: lost the server: ${why}`));
      this.#resolveDone(1);
      return;
    }
    if (this.#endReason) this.#say(this.#palette.info(`qdb: ${this.#endReason}`));
    this.#resolveDone(this.#quitHard ? 0 : this.#exitCode ?? 0);
  }

  async #onEvent(msg: SessionEvent): Promise<void> {
    const before = this.#model.breakpoints;
    const known = msg.e === "child" && this.#model.children.has(msg.p.session);
    const applied = this.#model.apply(msg);
    if (msg.e === "child") return this.#onChild(msg.p, !known);
    if (this.#background) return this.#onBackgroundEvent(msg, applied);
    switch (msg.e) {
      case "attached":
        if (this.#tracer) this.#awaitTracer = false;
        break;
      case "link":
        this.#onLink(msg.p);
        break;
      case "stack":
        // The state sent in answer to attaching (`start`, id 0) may be older than what this
        // terminal did since: the model says so ("stale"), and a stop seen already ("same").
        if (applied === "stale") break;
        await this.#onStack(msg.p, applied === "same");
        break;
      case "reading":
        // The program waits for input: lines typed ahead of the last resume are its input
        // after all (pdb's program would read them from the same stream).
        if (this.#running && this.#holdUntilStop && this.#inputFromQdb) {
          this.#holdUntilStop = false;
          this.#stateKnown();
        }
        break;
      case "running":
        this.#returnValue = undefined;
        this.#stateKnown();
        if (!this.#runningHintShown) {
          // Once: a newcomer must not think qdb hung while the program runs.
          this.#runningHintShown = true;
          this.#say(this.#palette.info(
            this.#inputFromQdb
              ? "(running: Ctrl-C pauses; a line starting with : is a qdb command (:pause, :q); other lines go to the program)"
              : "(running: Ctrl-C or pause pauses it; q quits)",
          ));
        }
        this.#updatePrompt();
        break;
      case "breakpoints": {
        // A child's breakpoints, as it starts, are its parent's: no news.
        if (this.#child && msg.id === START_ID) break;
        const lines = breakpointChanges(before, msg.p, this.#tracer?.cwd);
        for (const line of lines) this.#say(line);
        break;
      }
      case "print": {
        const who = msg.id === undefined ? this.#peerEvals.get(msg.p.input) : undefined;
        if (who !== undefined) {
          // Another client's `p`: its value, said as theirs.
          this.#peerEvals.delete(msg.p.input);
          const text = msg.p.exc ? `*** ${msg.p.output}` : msg.p.output;
          this.#say(`${this.#palette.peer(`[${who}]`)} ${text.replace(/\n$/, "")}`);
          break;
        }
        this.#onPrint(msg.p);
        break;
      }
      case "snapshot": {
        if (msg.id !== undefined) break;
        const top = msg.p.stack[msg.p.stack.length - 1];
        const where = top ? ` at ${displayPath(top.file, this.#tracer?.cwd)}:${top.line}` : "";
        this.#say(this.#palette.info(
          `[snapshot ${msg.p.id}${where}; the program ran on ("snapshot ${msg.p.id}" shows it)]`,
        ));
        break;
      }
      case "return":
        this.#returnValue = msg.p;
        this.#say(this.#palette.info(`--Return-- ${msg.p}`));
        break;
      case "exception":
        for (const line of formatException(msg.p, this.#palette)) this.#say(line);
        break;
      case "error":
        this.#onError(msg.p);
        if (msg.id !== undefined && msg.id === this.#resumeId) {
          // Refused: still stopped where it was, and the lines typed ahead are for this stop.
          this.#resumeId = undefined;
          this.#model.resumeRefused();
          this.#holdUntilStop = false;
          this.#stateKnown();
        }
        break;
      case "command":
        this.#onPeerCommand(msg.p);
        break;
      case "clients": {
        const { joined, left } = msg.p;
        if (joined) this.#say(this.#palette.peer(`[${joined.name} joined]`));
        if (left) this.#say(this.#palette.peer(`[${left.name} left]`));
        break;
      }
      case "exited": {
        const { code, signal } = msg.p;
        // Ended because the person quit (as pdb's `q`): "debugging ended" said it already.
        if (this.#quitHard && code === null) break;
        // A child's end is not the program's: say whose it is, and that its parent goes on.
        const parent = this.#model.parent;
        const who = parent === undefined
          ? "The program"
          : `This child process (pid ${this.#tracer?.pid ?? "?"})`;
        const after = parent === undefined
          ? ""
          : `; its parent runs on ("attach .." to go back to session ${parent})`;
        this.#say(this.#palette.info(
          code === null
            ? `${who} was ended by ${signal ?? "a signal"}${after}`
            : `${who} exited with code ${code}${after}`,
        ));
        break;
      }
      case "disabled": {
        // Said at once: after a soft disable the program's output goes straight to its
        // terminal, and this line belongs before it.
        const mode = msg.p?.mode;
        this.#ended = true;
        this.#updatePrompt();
        if (this.#exitCode !== null) break;
        this.#say(this.#palette.info(
          mode === "hard"
            ? "qdb: debugging ended; the program was ended"
            : "qdb: debugging ended; the program runs on without qdb",
        ));
        this.#endReason = "";
        this.#announced = true;
        break;
      }
      case "disable": {
        this.#ended = true;
        const reason = msg.p?.reason;
        if (reason && this.#exitCode === null && !this.#endReason && !this.#announced) {
          this.#endReason = `session ended: ${reason}`;
        }
        break;
      }
    }
  }

  /**
   * News of a child session, shown a moment later together with any that follows at once
   * (a pool's workers start and stop together: a few lines, not one per worker).
   */
  #onChild(child: ChildInfo, started: boolean): void {
    if (child.session === this.#quietAbout) return;
    this.#childNotices.push({ child, started });
    // Shown once news stops coming for a moment, or a second after the first.
    this.#childFirst ??= Date.now();
    clearTimeout(this.#childTimer);
    const wait = Math.min(CHILD_NOTICE_MS, this.#childFirst + CHILD_NOTICE_MAX_MS - Date.now());
    this.#childTimer = setTimeout(() => this.#flushChildNotices(), Math.max(0, wait));
  }

  #flushChildNotices(): void {
    clearTimeout(this.#childTimer);
    this.#childTimer = undefined;
    this.#childFirst = undefined;
    const notices = this.#childNotices.splice(0);
    for (const line of formatChildNotices(notices, this.#tracer?.cwd)) {
      this.#say(this.#palette.info(line));
    }
  }

  /** In the background: the program's output, how it ends, and a word when it stops. */
  #onBackgroundEvent(msg: SessionEvent, applied: Applied): void {
    switch (msg.e) {
      case "print":
        if (msg.p.input === "<stdout>" || msg.p.input === "<stderr>") this.#onPrint(msg.p);
        break;
      case "stack": {
        if (applied !== "changed" || msg.p.reason === "select") break;
        const frame = msg.p.stack[msg.p.index];
        const where = frame
          ? ` at ${displayPath(frame.file, this.#tracer?.cwd)}:${frame.line}`
          : "";
        this.#say(this.#palette.info(
          `[the program stopped${where}; "attach .." to go back to it]`,
        ));
        break;
      }
      case "exited": {
        const { code, signal } = msg.p;
        // Ended because the person quit (as pdb's `q`): "debugging ended" said it already.
        if (this.#quitHard && code === null) break;
        this.#say(this.#palette.info(
          code === null
            ? `[the program was ended by ${signal ?? "a signal"}]`
            : `[the program exited with code ${code}]`,
        ));
        break;
      }
      case "disabled":
      case "disable":
        this.#ended = true;
        break;
    }
  }

  /** `attach TARGET`: a child (pid or session id), or `..` for the parent. */
  async #attachTo(arg: string): Promise<void> {
    const target = arg.trim();
    if (!this.#onAttach) {
      throw new ArgumentError(
        "This terminal cannot switch sessions: attach to a child with `qdb attach SESSION`",
      );
    }
    if (target === "") throw new ArgumentError("Usage: attach PID | SESSION | ..");
    if (target === "..") {
      const parent = this.#model.parent;
      if (!parent && this.#up !== undefined) return await this.#onAttach("..");
      if (!parent) throw new ArgumentError("This session is not a child: it has no parent");
      return await this.#onAttach(parent);
    }
    // One of this session's children; else the host looks among the whole tree's (a sibling).
    await this.#onAttach(this.findChild(target) ?? target);
  }

  /** The session id of a child of this session, named by its pid or session id. */
  findChild(target: string): string | undefined {
    for (const child of this.#model.children.values()) {
      if (String(child.pid) === target || child.session === target) return child.session;
    }
    return undefined;
  }

  /** A stop: shown, unless it is the same stop again (a new client's `start` asks for it). */
  async #onStack(stack: StackPayload, repeat: boolean): Promise<void> {
    if (repeat) return this.#shown();
    const frame = stack.stack[stack.index];
    if (!frame) return this.#shown();
    // Typed-ahead lines wait until the stop is on the screen (its source may take a request).
    this.#showingStop = true;
    try {
      const commands = stack.reason === "breakpoint" && stack.breakpoint !== undefined
        ? this.#bpCommands.get(stack.breakpoint)
        : undefined;
      const silent = commands?.[0] === "silent";
      const text = await this.#stopLines(stack, frame);
      if (!silent) this.#say(text);
      // The breakpoint's `commands`, before what was typed ahead: up to the first that resumes.
      if (commands) {
        const run: string[] = [];
        for (const line of commands.slice(silent ? 1 : 0)) {
          run.push(line);
          if (RESUMING.has(splitCommand(line).word)) break;
        }
        this.#lines.unshift(...run);
      }
    } finally {
      this.#shown();
    }
  }

  /** What a stop shows: where, the source around it, and the displays that changed. */
  async #stopLines(stack: StackPayload, frame: StackPayload["stack"][number]): Promise<string> {
    this.#listFrom = { file: frame.file, line: frame.line };
    const lines = [stopHeader(frame, this.#tracer?.cwd, this.#palette)];
    if (stack.thread && stack.thread.name !== "MainThread") {
      lines[0] += this.#palette.info(`  [thread ${stack.thread.name}]`);
    }
    const source = await this.#source(frame.file);
    if (stack.reason === "select" || !source) {
      lines.push(`${this.#palette.current("->")} ${frame.code.trim()}`);
    } else {
      const [before, after] = this.#context;
      lines.push(...sourceLines(source, frame.line - before, frame.line + after, {
        current: frame.line,
        breakpoints: this.#breakpointsIn(frame.file),
        palette: this.#palette,
      }));
    }
    if (stack.reason !== "select") lines.push(...this.#changedDisplays());
    return lines.join("\n");
  }

  /** The selected frame, as displays are tied to it: its file and function. */
  #frameKey(): string | undefined {
    const frame = this.#stack?.stack[this.#stack.index];
    return frame ? `${frame.file}\0${frame.func}` : undefined;
  }

  /**
   * Watches to show at a stop: this terminal's displays only in their own frame and when their
   * value changed (`[old: ...]`, as pdb); watches set by others always.
   */
  #changedDisplays(): string[] {
    const here = this.#frameKey();
    const lines: string[] = [];
    for (const watch of this.#watches) {
      const display = this.#displays.get(watch.expr);
      if (!display) {
        lines.push(...formatWatches([watch], this.#palette));
        continue;
      }
      if (display.frame !== here) continue;
      const text = watchText(watch);
      if (text === display.last) continue;
      const old = display.last === undefined ? "" : `  [old: ${display.last}]`;
      display.last = text;
      lines.push(`${formatWatches([watch], this.#palette)[0]}${old}`);
    }
    return lines;
  }

  /** A stop was shown: what was typed ahead runs now (as commands), then the prompt. */
  #shown(): void {
    this.#showingStop = false;
    this.#holdUntilStop = false;
    this.#stateKnown();
    this.#updatePrompt();
  }

  #onPrint(p: PrintPayload): void {
    if (p.input === "<stdout>") return this.#screen.output(p.output);
    if (p.input === "<stderr>") return this.#screen.output(this.#palette.stderr(p.output));
    // A logpoint's message comes as the program's own output would.
    if (p.input === "<log>") return this.#screen.output(this.#palette.info(p.output));
    if (p.exc) this.#say(this.#palette.error(`*** ${p.output}`));
    else if (p.output !== "") this.#say(p.output);
  }

  #onError(p: ErrorPayload): void {
    if (p.type === "condition" && typeof p.data === "object" && p.data !== null) {
      const d = p.data as { cond?: unknown; output?: unknown };
      this.#say(this.#palette.error(
        `*** Error in breakpoint condition "${d.cond}": ${d.output}; stopped here`,
      ));
      return;
    }
    this.#say(
      this.#palette.error(`*** ${typeof p.data === "string" ? p.data : JSON.stringify(p.data)}`),
    );
  }

  /** The connection to the server was lost, came back, or is gone for good. */
  #onLink(p: LinkState): void {
    if (p.state === "lost") {
      this.#say(this.#palette.error(
        `qdb: lost the server (${p.reason}); reconnecting for up to ${p.retryFor / 1000} s`,
      ));
      // Replies to what was sent before will not come: nobody waits for them.
      for (const waiter of this.#waiting.values()) waiter.done({ e: "closed" });
      this.#waiting.clear();
      for (const own of this.#own.values()) own({ e: "closed" });
      this.#own.clear();
    } else if (p.state === "back") {
      const where = p.server ? ` on ${sanitize(p.server)}` : "";
      this.#say(this.#palette.info(`qdb: reconnected to session ${p.session}${where}`));
    } else {
      this.#say(this.#palette.error(`qdb: gave up reconnecting: ${p.reason}`));
    }
  }

  #onPeerCommand(p: { client: { name: string }; e: string; p?: unknown }): void {
    const text = describeCommand(p.e, p.p);
    this.#say(this.#palette.peer(`[${p.client.name}] ${text}`));
    // Its answer comes to everyone (without this client's id): shown as that client's.
    const code = p.p && typeof p.p === "object" && "code" in p.p ? p.p.code : p.p;
    if ((p.e === "eval" || p.e === "pprint") && typeof code === "string") {
      this.#peerEvals.set(code, p.client.name);
      if (this.#peerEvals.size > 16) this.#peerEvals.delete(this.#peerEvals.keys().next().value!);
    }
  }
  /** The code of others' `p` and `pp` not answered yet, and who sent it. */
  readonly #peerEvals = new Map<string, string>();

  #breakpointsIn(file: string): Breakpoint[] {
    return this.#breakpoints.filter((b) => b.file === file);
  }

  /** The source of a file on the tracer's machine, fetched once. */
  #source(file: string): Promise<string[] | undefined> {
    let cached = this.#sources.get(file);
    if (!cached) {
      cached = this.#request("list", { file }, true).then((msg) =>
        msg.e === "list" ? splitSource(String(msg.p)) : undefined
      );
      // Code without a file (`<debug>`, `<string>`) is different code each time.
      if (!/^<.*>$/.test(file)) this.#sources.set(file, cached);
      // A failure (file missing on the tracer's side) is not cached forever.
      cached.then((lines) => lines ?? this.#sources.delete(file));
    }
    return cached;
  }

  /**
   * Sends a command and resolves with its first reply (or error). With `quiet`, the reply is
   * handed to the caller instead of being printed by the event handler.
   */
  #request(e: string, p: unknown, quiet = false): Promise<Reply> {
    const id = this.#conn.send(e, p);
    return new Promise((resolve) => {
      if (quiet) {
        this.#own.set(id, resolve);
        return;
      }
      const events = replyEvents(e);
      // Without a reply to wait for, the event handler prints whatever comes.
      if (events.length === 0) return resolve({ e: "sent" });
      this.#waiting.set(id, { events, done: resolve });
    });
  }

  // ---------------------------------------------------------------- input

  #enqueue(line: string): void {
    // After `restart`, what is typed is for the next program's terminal.
    if (this.#restarting) return void this.#restarting.typedAhead.push(line);
    // After `q`, what is typed is no longer for qdb.
    if (this.#quitting) return this.#afterQuit?.line(`${line}\n`);
    this.#lines.push(line);
    if (this.#drainScheduled) return;
    // Lines that arrive together (one read of a pipe) are all queued before the first runs:
    // a resume among them then knows the rest were typed ahead of it.
    this.#drainScheduled = true;
    queueMicrotask(() => {
      this.#drainScheduled = false;
      if (!this.#busy) this.#drain();
    });
  }
  #drainScheduled = false;

  async #drain(): Promise<void> {
    // Until the tracer says whether the program runs, a line could be a command or the
    // program's input: it waits (the state comes with the session's first events).
    if (this.#holdUntilStop || this.#showingStop) return;
    if (this.#running === undefined && (this.#awaitTracer || this.#tracer !== null)) return;
    this.#busy = true;
    this.#screen.setPrompt(null);
    while (this.#lines.length > 0 && !this.#holdUntilStop) {
      const line = this.#lines.shift()!;
      // Piped commands are shown after the prompt they answer (pdb prints its prompt too): the
      // output reads as the session it was.
      if (this.#screen.interactive === false && this.#running === false && line !== QUIT_AT_EOF) {
        this.#say(this.#palette.prompt(this.#promptText()) + line);
      }
      try {
        await this.#handleLine(line);
      } catch (error) {
        const message = error instanceof ArgumentError ? error.message : `qdb: ${error}`;
        this.#say(this.#palette.error(`*** ${message}`));
      }
      if (this.#restarting) {
        // The rest is for the terminal of the program's next run.
        this.#restarting.typedAhead.push(...this.#lines.splice(0));
        if (this.#eofPending) this.#restarting.inputEnded = true;
        this.#eofPending = false;
      } else if (this.#quitting) {
        // Lines typed (or piped) after `q` were not for qdb.
        for (const rest of this.#lines.splice(0)) {
          if (rest !== QUIT_AT_EOF) this.#afterQuit?.line(`${rest}\n`);
        }
        if (this.#eofPending) {
          this.#eofPending = false;
          this.#afterQuit?.eof();
        }
      }
    }
    this.#busy = false;
    if (this.#eofPending && !this.#holdUntilStop) {
      this.#eofPending = false;
      this.#endOfInput();
    }
    this.#updatePrompt();
  }

  /** The state is known (a stop, or `running`): what was typed meanwhile is handled now. */
  #stateKnown(): void {
    if (!this.#busy && (this.#lines.length > 0 || this.#eofPending)) void this.#drain();
  }

  #updatePrompt(): void {
    if (this.#busy || this.#ended || this.#quitting) return this.#screen.setPrompt(null);
    if (!this.#running && this.#inputEnded) return this.#quitAtEnd();
    this.#screen.setPrompt(this.#running ? null : this.#palette.prompt(this.#promptText()));
  }

  /** The prompt: `(qdb) `, or with the pid in a child's terminal. */
  #promptText(): string {
    if (this.#interacting) return ">>> ";
    const prompt = this.#child && this.#tracer ? `(qdb ${this.#tracer.pid}) ` : PROMPT;
    // Inside `debug`'s code, as pdb: ((qdb)), (((qdb)))...
    const depth = Math.min(this.#running === false ? this.#stack?.depth ?? 0 : 0, 20);
    return depth ? `${"(".repeat(depth)}${prompt.trimEnd()}${")".repeat(depth)} ` : prompt;
  }
  /** Set by `interact`: lines are Python run in the selected frame, until Ctrl-D or exit(). */
  #interacting = false;

  #leaveInteract(): void {
    this.#interacting = false;
    this.#say("*exit from the interactive console*");
    this.#updatePrompt();
  }

  #interrupt(): void {
    if (this.#ended) return;
    if (this.#running !== false) {
      this.#say(this.#palette.info("Pausing the program..."));
      this.#conn.send("pause");
    } else {
      for (const waiter of this.#waiting.values()) waiter.done({ e: "interrupted" });
      this.#waiting.clear();
      for (const own of this.#own.values()) own({ e: "interrupted" });
      this.#own.clear();
      this.#updatePrompt();
    }
  }

  /**
   * Ctrl-D, or the end of a piped input: while the program runs and reads qdb's input, its
   * end of file; otherwise `quit`, as in pdb.
   */
  #endOfInput(): void {
    if (this.#restarting) return void (this.#restarting.inputEnded = true);
    // After `q`, the end of the input is the program's (a second `disable` would only be
    // answered "no longer attached").
    if (this.#quitting) return this.#afterQuit?.eof();
    if (this.#ended) return;
    // Ctrl-D in `interact` leaves it, as in pdb (at a terminal; a pipe's end ends all).
    if (this.#interacting && this.#screen.interactive !== false) return this.#leaveInteract();
    const unknown = this.#running === undefined && (this.#awaitTracer || this.#tracer !== null);
    if (unknown || this.#busy || this.#lines.length > 0) {
      // After the lines before it, once it is known whether the program runs.
      this.#eofPending = true;
      return;
    }
    if (this.#running && this.#inputFromQdb && !this.#inputClosed) {
      this.#inputClosed = true;
      this.#conn.send("input", { eof: true });
      // A piped input has ended for good: at the next prompt there is nothing left to read.
      if (!this.#screen.interactive) this.#inputEnded = true;
      return;
    }
    this.#quitAtEnd();
  }
  #inputClosed = false;
  #eofPending = false;
  #holdUntilStop = false;
  /** A stop is being shown: lines wait for it. */
  #showingStop = false;
  /** The terminal's own input is over: quit at the next prompt (pdb does at end of file). */
  #inputEnded = false;

  #quitAtEnd(): void {
    this.#inputEnded = false;
    this.#lines.push(QUIT_AT_EOF);
    if (!this.#busy) this.#drain();
  }

  async #handleLine(raw: string): Promise<void> {
    if (this.#ended) return;
    if (raw === QUIT_AT_EOF) return await this.#runCommand("quit", "");
    if (this.#running) {
      // `:cmd` is for qdb; `::text` sends `:text` to the program.
      if (raw.startsWith("::") && this.#inputFromQdb) return this.#programInput(raw.slice(1));
      if (raw.startsWith(":")) raw = raw.slice(1);
      else if (this.#inputFromQdb) return this.#programInput(raw);
    } else if (raw.startsWith(":") && !raw.startsWith("::")) {
      // One rule everywhere: `:cmd` is a qdb command at a stop too (typed a moment too late,
      // after the program stopped, it still means the command).
      raw = raw.slice(1);
    }
    if (this.#interacting) {
      const code = raw.trim();
      if (code === "exit()" || code === "quit()") return this.#leaveInteract();
      if (code === "") return;
      return await this.#evaluate(raw);
    }
    // `commands N`: the lines up to `end` are the breakpoint's, to run at its stops.
    if (this.#defining) {
      const text = raw.trim();
      if (text === "end") {
        const { id, lines } = this.#defining;
        this.#defining = undefined;
        if (lines.length === 0) this.#bpCommands.delete(id);
        else this.#bpCommands.set(id, lines);
        return;
      }
      if (text !== "") this.#defining.lines.push(text);
      return;
    }
    let line = raw;
    if (line.trim() === "") {
      if (!this.#lastLine) return;
      line = this.#lastLine;
    } else this.#lastLine = line;
    line = this.#expandAlias(line);
    const { word, rest } = splitCommand(line);
    await this.#runCommand(word, rest, line);
  }

  /** `line` with an alias of its first word replaced, `%1`... and `%*` by its arguments. */
  #expandAlias(line: string): string {
    for (let depth = 0; depth < 10; depth++) {
      const { word, rest } = splitCommand(line);
      const body = this.#aliases.get(word);
      if (body === undefined) return line;
      const args = rest.trim() === "" ? [] : rest.trim().split(/\s+/);
      let used = false;
      let expanded = body.replace(/%(\d+|\*)/g, (_, n: string) => {
        used = true;
        return n === "*" ? args.join(" ") : args[Number(n) - 1] ?? "";
      });
      if (!used && rest.trim() !== "") expanded += ` ${rest.trim()}`;
      if (expanded === line) return line;
      line = expanded;
    }
    return line;
  }
  /** `alias`: names standing for command lines. */
  readonly #aliases: Map<string, string>;
  /** `commands N`: the command lines each breakpoint runs when it stops the program. */
  readonly #bpCommands: Map<number, string[]>;
  /** Set while `commands N` reads its lines (until `end`). */
  #defining: { id: number; lines: string[] } | undefined;
  /** The value the selected frame returns, at a return stop (`retval`). */
  #returnValue: string | undefined;

  async #runCommand(word: string, rest: string, line = `${word} ${rest}`): Promise<void> {
    const command = this.#commands.find((c) => c.names.includes(word));
    // `attach ..` is no Python, whatever it looks like.
    if (!command || (word !== "!" && word !== "attach" && looksLikePython(rest))) {
      await this.#evaluate(line.trim());
      return;
    }
    await command.run(rest);
  }

  #programInput(line: string): void {
    if (this.#inputClosed) {
      this.#say(this.#palette.error("*** The program's input is closed (end of file was sent)"));
      return;
    }
    this.#conn.send("input", `${line}\n`);
    // A line that reads as a qdb command went to the program: said, with how to mean qdb.
    const { word } = splitCommand(line);
    if (word !== "" && this.#commands.some((c) => c.names.includes(word)) && !/[=(]/.test(line)) {
      this.#say(this.#palette.info(
        `("${line.trim()}" went to the program's input, as it runs; ":${line.trim()}" is qdb's)`,
      ));
    }
  }

  async #evaluate(code: string): Promise<void> {
    if (!this.#requireStop()) return;
    await this.#request("eval", code);
  }

  /** The program's threads (protocol 2), or undefined after saying why not. */
  async #listThreads(): Promise<ThreadInfo[] | undefined> {
    const reply = await this.#request("threads", undefined, true);
    if (reply.e === "ok") return RESULTS.threads.check(reply.p, "threads").threads;
    if (reply.e === "error") this.#onError(reply.p);
    return undefined;
  }

  async #threads(): Promise<void> {
    const threads = await this.#listThreads();
    if (!threads) return;
    const current = this.#stack?.thread?.id;
    const width = String(threads.length).length;
    threads.forEach((t, i) => {
      const mark = t.id === current ? "*" : " ";
      this.#say(`${mark} ${String(i + 1).padStart(width)}  ${t.name}  (${t.id})  ${t.state}`);
    });
  }

  async #thread(arg: string): Promise<void> {
    const [n] = parseNumbers(arg.trim(), "thread number");
    const threads = await this.#listThreads();
    if (!threads) return;
    const t = threads[n! - 1] ?? threads.find((t) => t.id === n);
    if (!t) return this.#say(this.#palette.error(`*** No thread ${n} (see \`threads\`)`));
    const label = `${threads.indexOf(t) + 1} (${t.name})`;
    if (t.state === "running") {
      return this.#say(this.#palette.error(
        `*** Thread ${label} is running: it is in a call outside Python (such as sleep, I/O ` +
          "or a lock), and stops with the others when the call returns",
      ));
    }
    this.#say(`[Current thread is ${label}]`);
    // Its newest frame is selected (for everyone on the session, as `up` is): where, p, next...
    await this.#request("frame", { thread: t.id });
  }

  #requireStop(): boolean {
    if (!this.#running) return true;
    this.#say(this.#palette.error(
      `*** The program is running: pause it first (${
        this.#inputFromQdb ? ":pause" : "pause"
      } or Ctrl-C)`,
    ));
    return false;
  }

  #resume(e: string, p?: unknown): void {
    if (!this.#requireStop()) return;
    this.#model.resumed();
    // Lines typed ahead of this one are commands for the next stop, as in pdb (which reads a
    // line only at its prompt); lines typed later, while the program runs, are its input. A
    // piped input is all typed ahead, however fast the pipe is read: its next line waits for
    // the stop (or for the program to read it), so a script runs the same on a loaded machine.
    this.#holdUntilStop = this.#lines.length > 0 || this.#screen.interactive === false;
    this.#resumeId = this.#conn.send(e, p);
  }
  /** The id of this terminal's last resume: its refusal means the program is still stopped. */
  #resumeId: number | undefined;

  // ---------------------------------------------------------------- commands

  #commandTable(): TerminalCommand[] {
    const say = (line: string) => this.#say(line);
    return [
      {
        names: ["step", "s"],
        help: "Run to the next line, entering calls",
        run: () => this.#resume("step"),
      },
      {
        names: ["next", "n"],
        help: "Run to the next line of this function, stepping over calls",
        run: () => this.#resume("next"),
      },
      {
        names: ["return", "r"],
        help: "Run until this function returns",
        run: () => this.#resume("return"),
      },
      {
        names: ["until", "unt"],
        args: "[line]",
        help: "Run until a line past the current one (or past line) in this frame",
        run: (arg) => this.#resume("until", arg.trim() ? parseNumbers(arg, "line")[0] : undefined),
      },
      {
        names: ["restart", "run"],
        args: "[args ...]",
        help: "Start the program again, with these arguments if given (quoted as in a shell), " +
          "keeping breakpoints, aliases and commands (qdb run)",
        run: (arg) => this.#restart(arg),
      },
      {
        names: ["jump", "j"],
        args: "line",
        help: "Make line the next to run in the newest frame (the lines between do not run)",
        run: async (arg) => {
          const [line] = parseNumbers(arg, "line number");
          if (line === undefined) throw new ArgumentError("Usage: jump LINE");
          if (!this.#requireStop()) return;
          const stack = this.#stack!;
          const newest = stack.stack.at(-1);
          if (stack.index !== stack.stack.length - 1 || newest === undefined) {
            throw new ArgumentError("You can only jump within the newest frame (`down` to it)");
          }
          const p: Record<string, number> = { line };
          if (stack.thread) p.thread = stack.thread.id;
          if (newest.id !== undefined) p.frame = newest.id;
          // The stop comes again at the new line, and is shown as any stop.
          const reply = await this.#request("jump", p, true);
          if (reply.e === "error") this.#onError(reply.p);
          else if (reply.e === "ok") {
            const result: unknown = reply.p;
            if (result && typeof result === "object" && "warning" in result) {
              say(`*** Warning: ${sanitize(String(result.warning))}`);
            }
          }
        },
      },
      {
        names: ["continue", "cont", "c"],
        help: "Run until a breakpoint, an exception, a pause or the end",
        run: () => this.#resume("continue"),
      },
      {
        names: ["break", "b"],
        args: "[[file:]line | function] [, condition]",
        help: "Set a breakpoint; without arguments, list breakpoints",
        run: async (arg) => {
          if (arg.trim() === "") {
            formatBreakpointTable(this.#breakpoints, this.#tracer?.cwd).forEach(say);
            return;
          }
          await this.#request("set_break", this.#breakPayload(arg));
        },
      },
      {
        names: ["tbreak"],
        args: "[file:]line | function [, condition]",
        help: "Set a temporary breakpoint, removed when first hit",
        run: async (arg) => {
          await this.#request("set_break", { ...this.#breakPayload(arg), temp: true });
        },
      },
      {
        names: ["snap"],
        args: "[-n N] [file:]line | function [, condition]",
        help: "Set a snapshot breakpoint: when hit, the stack and values are taken and the " +
          "program runs on (at most N snapshots, default 1)",
        run: async (arg) => {
          const { text, max } = parseSnap(arg);
          if (text === "") {
            throw new ArgumentError("Usage: snap [-n N] [file:]line | function [, condition]");
          }
          if (max < 1 || max > 1000) throw new ArgumentError("snap -n takes 1 to 1000 snapshots");
          await this.#request("set_break", { ...this.#breakPayload(text), snapshot: true, max });
        },
      },
      {
        names: ["snapshots"],
        help: "List the snapshots the session keeps (the server keeps the newest 100)",
        run: async () => {
          const reply = await this.#request("snapshots", undefined, true);
          if (reply.e === "error") this.#onError(reply.p);
          else if (reply.e === "snapshots") {
            formatSnapshotList(reply.p, this.#tracer?.cwd).forEach(say);
          }
        },
      },
      {
        names: ["snapshot"],
        args: "N",
        help: "Show snapshot N as it was taken: its stack and values",
        run: async (arg) => {
          const id = Number(arg.trim());
          if (!Number.isInteger(id) || id < 1) {
            throw new ArgumentError('Usage: snapshot N ("snapshots" lists them)');
          }
          const reply = await this.#request("snapshot", { id }, true);
          if (reply.e === "error") this.#onError(reply.p);
          else if (reply.e === "snapshot") {
            formatSnapshot(reply.p, `Snapshot ${id}`, this.#tracer?.cwd).forEach(say);
          }
        },
      },
      {
        names: ["clear", "cl"],
        args: "[number ... | file:line]",
        help: "Delete breakpoints by number or location; without arguments, all of them",
        run: async (arg) => {
          const t = arg.trim();
          if (t === "") {
            for (const bp of this.#breakpoints) await this.#request("clear_break", { id: bp.id });
            return;
          }
          const at = /^(.+):(\d+)$/.exec(t);
          if (at) {
            await this.#request("clear_break", { file: at[1], line: Number(at[2]) });
            return;
          }
          for (const id of parseNumbers(t)) await this.#request("clear_break", { id });
        },
      },
      {
        names: ["disable"],
        args: "number ...",
        help: "Disable breakpoints",
        run: async (arg) => {
          for (const id of parseNumbers(arg)) {
            await this.#request("update_break", { id, enabled: false });
          }
        },
      },
      {
        names: ["enable"],
        args: "number ...",
        help: "Enable breakpoints",
        run: async (arg) => {
          for (const id of parseNumbers(arg)) {
            await this.#request("update_break", { id, enabled: true });
          }
        },
      },
      {
        names: ["condition"],
        args: "number [expression]",
        help: "Set a breakpoint's condition; without one, remove it",
        run: async (arg) => {
          const m = /^\s*(\S+)\s*(.*)$/s.exec(arg);
          const [id] = parseNumbers(m?.[1] ?? "");
          await this.#request("update_break", { id, cond: m?.[2]?.trim() || null });
        },
      },
      {
        names: ["ignore"],
        args: "number count",
        help: "Ignore a breakpoint's next count hits",
        run: async (arg) => {
          const [id, count] = parseNumbers(arg, "number");
          if (id === undefined || count === undefined) {
            throw new ArgumentError("Usage: ignore NUMBER COUNT");
          }
          await this.#request("update_break", { id, ignore: count });
        },
      },
      {
        names: ["list", "l"],
        args: "[first[, last] | .]",
        help: "List source around the current line, or continue the last listing",
        run: (arg) => this.#list(arg),
      },
      {
        names: ["longlist", "ll"],
        help: "List the whole current function",
        run: () => this.#longList(),
      },
      {
        names: ["where", "w", "bt"],
        help: "Print the stack, newest frame last",
        run: () => {
          if (!this.#stack) return say(this.#palette.error("*** No stack: the program is running"));
          formatStack(this.#stack, this.#tracer?.cwd, this.#palette).forEach(say);
        },
      },
      {
        names: ["up", "u"],
        args: "[count]",
        help: "Select an older frame",
        run: async (arg) => {
          if (this.#requireStop()) await this.#request("up", parseCount(arg));
        },
      },
      {
        names: ["down", "d"],
        args: "[count]",
        help: "Select a newer frame",
        run: async (arg) => {
          if (this.#requireStop()) await this.#request("down", parseCount(arg));
        },
      },
      {
        names: ["frame", "f"],
        args: "index",
        help: "Select the frame at this index of `where` (0 is the oldest)",
        run: async (arg) => {
          const [index] = parseNumbers(`${Number(arg) + 1}`, "frame index");
          if (this.#requireStop()) await this.#request("frame", index! - 1);
        },
      },
      {
        names: ["threads"],
        help: "List the program's threads (* marks the selected one)",
        run: () => this.#threads(),
      },
      {
        names: ["thread"],
        args: "N",
        help:
          "Switch to thread N of `threads`: where, up, p and the steps act on it (all threads stop together)",
        run: (arg) => this.#thread(arg),
      },
      {
        names: ["p"],
        args: "expression",
        help: "Print the value of an expression",
        run: async (arg) => {
          // Its repr, None too (as pdb's `p`; a bare expression echoes as the REPL does).
          if (this.#requireStop()) await this.#request("eval", { code: arg.trim(), repr: true });
        },
      },
      {
        names: ["pp"],
        args: "expression",
        help: "Pretty-print the value of an expression",
        run: async (arg) => {
          if (this.#requireStop()) await this.#request("pprint", arg.trim());
        },
      },
      {
        names: ["display"],
        args: "[expression]",
        help: "Watch an expression (shown at every stop); without one, show the watches",
        run: async (arg) => {
          if (arg.trim() === "") {
            const lines = formatWatches(this.#watches, this.#palette);
            (lines.length ? lines : ["No watches"]).forEach(say);
            return;
          }
          const expr = arg.trim();
          const reply = await this.#request("set_watch", [expr], true);
          if (reply.e === "error") this.#onError(reply.p);
          else if (reply.e === "watchlist") {
            this.#model.apply(reply);
            const shown = this.#watches.filter((w) => w.expr === expr);
            // As pdb's: tied to this frame, shown again only when its value changes.
            this.#displays.set(expr, {
              frame: this.#frameKey(),
              last: shown[0] && watchText(shown[0]),
            });
            formatWatches(shown, this.#palette).forEach(say);
          }
        },
      },
      {
        names: ["undisplay"],
        args: "[expression]",
        help: "Stop watching an expression; without one, all of them",
        run: async (arg) => {
          const exprs = arg.trim() ? [arg.trim()] : this.#watches.map((w) => w.expr);
          for (const expr of exprs) this.#displays.delete(expr);
          if (exprs.length) await this.#request("clear_watch", exprs);
        },
      },
      {
        names: ["args", "a"],
        help: "Print the arguments of the current function",
        run: () => this.#names("args"),
      },
      {
        names: ["locals"],
        help: "Print the local variables of the selected frame",
        run: () => this.#names("locals"),
      },
      {
        names: ["globals"],
        help: "Print the global variables of the selected frame",
        run: () => this.#names("globals"),
      },
      {
        names: ["!"],
        args: "statement",
        help: "Run a Python statement in the selected frame",
        run: (arg) => this.#evaluate(arg.trim()),
      },
      {
        names: ["interact"],
        help: "Run Python lines in the selected frame (>>> prompt) until Ctrl-D or exit()",
        run: () => {
          if (!this.#requireStop()) return;
          this.#interacting = true;
          say("*interactive* (the selected frame's names; Ctrl-D or exit() leaves)");
        },
      },
      {
        names: ["debug"],
        args: "code",
        help: "Run code in the selected frame under a debugger of its own, stopped at its " +
          "first line (step into the calls it makes); when it ends, back here",
        // The program runs the code, and stops at its first line: a resume, as `step`.
        run: (arg) => {
          if (!arg.trim()) throw new ArgumentError("Usage: debug CODE");
          this.#resume("debug", arg.trim());
        },
      },
      {
        names: ["whatis"],
        args: "expression",
        help: "Print the type of an expression",
        run: (arg) => this.#evaluate(`type(${arg.trim()})`),
      },
      {
        names: ["source"],
        args: "expression",
        help: "Print the source code of a function, class, method or module",
        run: (arg) =>
          this.#evaluate(`print(__import__("inspect").getsource(${arg.trim()}), end="")`),
      },
      {
        names: ["retval", "rv"],
        help: "Print the value the current function is returning (at a return stop)",
        run: () => {
          if (!this.#requireStop()) return;
          say(this.#returnValue ?? "*** Not yet returned!");
        },
      },
      {
        names: ["alias"],
        args: "[name [command]]",
        help: "Make name stand for command (%1, %2... its arguments, %* all of them); " +
          "without a command show it, without a name show every alias",
        run: (arg) => {
          const { word, rest } = splitCommand(arg.trim());
          if (word === "") {
            if (this.#aliases.size === 0) return say("No aliases");
            for (const [name, body] of this.#aliases) say(`${name} = ${body}`);
            return;
          }
          if (rest.trim() === "") {
            const body = this.#aliases.get(word);
            return say(body === undefined ? `*** No alias "${word}"` : `${word} = ${body}`);
          }
          this.#aliases.set(word, rest.trim());
        },
      },
      {
        names: ["unalias"],
        args: "name",
        help: "Forget an alias",
        run: (arg) => {
          if (!this.#aliases.delete(arg.trim())) say(`*** No alias "${arg.trim()}"`);
        },
      },
      {
        names: ["commands"],
        args: "[breakpoint number]",
        help: "Give the commands to run when the breakpoint (default: the last set) stops the " +
          "program, one per line, then `end`; `silent` first hides where it stopped, and a " +
          "resuming command (c, n, s...) ends the list",
        run: (arg) => {
          const given = arg.trim();
          const id = given === "" ? this.#breakpoints.at(-1)?.id : parseNumbers(given)[0];
          if (id === undefined || !this.#breakpoints.some((b) => b.id === id)) {
            throw new ArgumentError(
              given === "" ? "No breakpoint to give commands to" : `No breakpoint ${given}`,
            );
          }
          this.#defining = { id, lines: [] };
          if (this.#screen.interactive !== false) {
            say(`(com) the commands of breakpoint ${id}, one per line; "end" ends them`);
          }
        },
      },
      {
        names: ["pause"],
        help: "Stop the running program where it is (Ctrl-C does the same)",
        run: () => {
          if (!this.#running) return say("The program is already stopped");
          this.#conn.send("pause");
        },
      },
      {
        names: ["exceptions"],
        args: "raised | uncaught | never",
        help: "When to stop on exceptions (default: uncaught)",
        run: (arg) => {
          const mode = arg.trim();
          if (!["raised", "uncaught", "never"].includes(mode)) {
            throw new ArgumentError("Usage: exceptions raised|uncaught|never");
          }
          this.#conn.send("set_exception_break", mode);
          say(`Stopping on ${mode === "never" ? "no" : mode} exceptions`);
        },
      },
      {
        names: ["input"],
        args: "text",
        help: "Send a line to the program's standard input",
        run: (arg) => {
          this.#conn.send("input", `${arg}\n`);
        },
      },
      {
        names: ["quit", "q", "exit"],
        args: "[soft | hard]",
        help: this.#quitMode === "hard"
          ? "Stop debugging and end the program, as pdb does (soft, or detach, lets it run on)"
          : "Stop debugging: soft (default) lets the program run on, hard ends it",
        run: (arg) => this.#quit(arg.trim() || this.#quitMode),
      },
      {
        names: ["children"],
        args: "[break [file:]line | function [, condition]]",
        help: "List the child processes debugged as sessions of their own (multiprocessing, " +
          "subprocess, fork); with break, set a breakpoint here and in every live child",
        run: async (arg) => {
          const { word, rest } = splitCommand(arg.trim());
          if (word === "") {
            formatChildren(this.#model.children.values(), this.#tracer?.cwd).forEach(say);
          } else if (word === "break" || word === "b") {
            // Children started later inherit it anyway; live ones are asked too.
            await this.#request("set_break", { ...this.#breakPayload(rest), children: true });
          } else {
            throw new ArgumentError("Usage: children [break [file:]line | function [, condition]]");
          }
        },
      },
      {
        names: ["attach"],
        args: "PID | SESSION | ..",
        help: "Debug a child session (a pid that `children` lists), or go back to the parent " +
          "(..); the program's output and news go on showing",
        run: (arg) => this.#attachTo(arg),
      },
      {
        names: ["detach"],
        help: this.#quitMode === "hard"
          ? "Stop debugging and let the program run on here (as q soft)"
          : "Leave the session; the program stays as it is for others (or for a later attach)",
        run: () => {
          // Under `qdb run` nobody else holds the program: leaving it means letting it run.
          if (this.#quitMode === "hard") return this.#quit("soft");
          this.#quitting = true;
          this.#endReason = "detached; the session goes on without this client";
          this.#ended = true;
          this.#conn.close();
        },
      },
      {
        names: ["help", "h"],
        args: "[command]",
        help: "Show help on all commands, or on one",
        run: (arg) => this.#help(arg.trim()).forEach(say),
      },
    ];
  }

  /** `quit [soft|hard]`: debugging stops; `soft` lets the program run on, `hard` ends it. */
  #quit(mode: string): void {
    if (mode !== "soft" && mode !== "hard") {
      throw new ArgumentError("Usage: quit [soft|hard]");
    }
    this.#quitting = true;
    if (this.#tracer === null) {
      // Nothing to disable: leave the session, which waits for its tracer.
      this.#endReason = "left the session (it has no tracer)";
      this.#ended = true;
      this.#conn.close();
      return;
    }
    this.#quitHard = mode === "hard";
    this.#onQuit?.(mode);
    this.#conn.send("disable", mode);
  }

  /** `restart [args]`: `qdb run` ends this program and starts it again. */
  #restart(arg: string): void {
    if (!this.#onRestart || this.#child) {
      throw new ArgumentError(
        "restart works in `qdb run`, which started the program (and from its own session): " +
          "a program that runs elsewhere is started again there",
      );
    }
    const argv = arg.trim() ? shellWords(arg) : undefined;
    const tracer = this.#tracer;
    const shown = argv ?? tracer?.argv.slice(1) ?? [];
    this.#say(`Restarting ${sanitize(tracer?.program ?? "the program")} with arguments:`);
    this.#say(`\t${sanitize(shown.join(" "))}`);
    this.#restarting = { argv, breakpoints: this.#breakpoints, typedAhead: [], inputEnded: false };
    this.#onRestart(this.#restarting);
    this.leave();
  }
  /** Set by `restart`: input goes to the next run's terminal. */
  #restarting: RestartRequest | undefined;

  #breakPayload(arg: string): Record<string, unknown> {
    const parsed = parseBreak(arg);
    if (parsed.file === undefined && parsed.line !== undefined && this.#stack) {
      // `b 12` means line 12 of the file being debugged here, as in pdb.
      const frame = this.#stack.stack[this.#stack.index];
      if (frame) parsed.file = frame.file;
    }
    return { ...parsed };
  }

  async #names(e: "args" | "locals" | "globals"): Promise<void> {
    if (!this.#requireStop()) return;
    const reply = await this.#request(e, undefined, true);
    if (reply.e === "error") this.#onError(reply.p);
    else if (reply.e === e) {
      formatNames(reply.p).forEach((l) => this.#say(l));
    }
  }

  async #list(arg: string): Promise<void> {
    const parsed = parseList(arg);
    const frame = this.#stack?.stack[this.#stack.index];
    let file: string | undefined;
    let first: number;
    let last: number;
    if (parsed.kind === "range") {
      file = this.#listFrom?.file ?? frame?.file;
      ({ first, last } = parsed);
    } else {
      const here = parsed.kind === "current" || !this.#listFrom
        ? (frame ? { file: frame.file, line: frame.line } : undefined)
        : this.#listFrom;
      if (!here) throw new ArgumentError("Nothing to list: the program is running");
      file = here.file;
      const around = parsed.kind === "current" || here === this.#listFrom && frame &&
          here.line === frame.line && here.file === frame.file;
      first = around ? Math.max(1, here.line - 5) : here.line;
      last = first + 10;
    }
    if (!file) throw new ArgumentError("Nothing to list: no current file");
    const source = await this.#source(file);
    if (!source) return;
    if (first > source.length) return this.#say("(End of file)");
    sourceLines(source, first, last, {
      current: frame?.file === file ? frame.line : undefined,
      breakpoints: this.#breakpointsIn(file),
      palette: this.#palette,
    }).forEach((l) => this.#say(l));
    this.#listFrom = { file, line: Math.min(last, source.length) + 1 };
  }

  async #longList(): Promise<void> {
    const frame = this.#stack?.stack[this.#stack.index];
    if (!frame) throw new ArgumentError("Nothing to list: the program is running");
    const source = await this.#source(frame.file);
    if (!source) return;
    const [first, last] = functionRange(source, frame.line, frame.func);
    sourceLines(source, first, last, {
      current: frame.line,
      breakpoints: this.#breakpointsIn(frame.file),
      palette: this.#palette,
    }).forEach((l) => this.#say(l));
  }

  #help(topic: string): string[] {
    const usage = (c: TerminalCommand) => {
      const names = c.names.length > 1
        ? `${c.names[0]} (${c.names.slice(1).join(", ")})`
        : c.names[0]!;
      return `${names}${c.args ? ` ${c.args}` : ""}`;
    };
    if (topic) {
      const command = this.#commands.find((c) => c.names.includes(topic));
      if (!command) return [`*** No help on "${topic}"`];
      return [usage(command), `    ${command.help}`];
    }
    const rows = this.#commands.map((c) => [usage(c), c.help] as const);
    const width = Math.max(...rows.map(([u]) => u.length));
    return [
      "Commands (pdb's names and abbreviations):",
      ...rows.map(([u, h]) => `  ${u.padEnd(width)}  ${h}`),
      "Any other line runs as Python in the selected frame. An empty line repeats the last command.",
      "Ctrl-C pauses a running program; Ctrl-D quits (soft).",
    ];
  }

  // ---------------------------------------------------------------- completion

  async #complete(before: string): Promise<{ matches: string[]; replace: number }> {
    const { word, rest } = splitCommand(before);
    const hasArgs = /^\s*(!|\w+\s)/.test(before);
    if (!hasArgs) {
      const token = /[\w.]*$/.exec(before)![0];
      const commands = this.#commands.flatMap((c) => c.names).filter((n) => n.startsWith(token));
      const names = this.#running ? [] : await this.#tracerCompletions(token);
      return {
        matches: [...new Set([...commands.map((c) => `${c} `), ...names])].sort(),
        replace: token.length,
      };
    }
    const token = /[\w.\/-]*$/.exec(before)![0];
    if (["break", "b", "tbreak", "clear", "cl"].includes(word)) {
      const files = this.#fileCandidates(token);
      const funcs = this.#running ? [] : await this.#tracerCompletions(/[\w.]*$/.exec(rest)![0]);
      return {
        matches: [...files, ...funcs.filter((f) => !f.endsWith("("))].sort(),
        replace: token.length,
      };
    }
    const expr = /[\w.]*$/.exec(before)![0];
    return {
      matches: this.#running ? [] : await this.#tracerCompletions(expr),
      replace: expr.length,
    };
  }

  async #tracerCompletions(text: string): Promise<string[]> {
    const reply = await this.#request("complete", text, true);
    return reply.e === "completions" ? reply.p.matches : [];
  }

  #fileCandidates(token: string): string[] {
    const known = new Set<string>();
    const cwd = this.#tracer?.cwd;
    // Files the session has shown, by path and by name (the tracer looks names up in the
    // program's directory), and what the local directory holds when the tracer runs here.
    const files = [
      ...(this.#stack?.stack ?? []).map((f) => f.file),
      ...this.#breakpoints.map((b) => b.file),
    ];
    for (const file of files) {
      known.add(displayPath(file, cwd));
      known.add(file.slice(file.lastIndexOf("/") + 1));
    }
    if (this.#listFiles && cwd) {
      const slash = token.lastIndexOf("/");
      const dir = slash >= 0 ? token.slice(0, slash + 1) : "";
      for (const name of this.#listFiles(`${cwd}/${dir}`)) known.add(`${dir}${name}`);
    }
    return [...known].filter((f) => f.startsWith(token)).map((f) => f.endsWith("/") ? f : `${f}:`);
  }

  #say(text: string): void {
    this.#screen.say(text);
  }
}

/** Splits source text into lines (without their newlines). */
export function splitSource(text: string): string[] {
  const lines = text.split("\n");
  if (lines.at(-1) === "") lines.pop();
  return lines;
}

/** A peer's command as a person would have typed it. */
export function describeCommand(e: string, p: unknown): string {
  let command: ClientMessage;
  try {
    command = checkClientMessage(p === undefined ? { e } : { e, p });
  } catch {
    return p === undefined ? e : `${e} ${JSON.stringify(p)}`;
  }
  switch (command.e) {
    case "eval":
      return typeof command.p === "string" ? command.p : `p ${command.p.code}`;
    case "pprint":
      return `pp ${command.p}`;
    case "set_break": {
      const b = command.p;
      const where = b.func ?? `${b.file ? `${b.file}:` : ""}${b.line}`;
      return `${b.temp ? "tbreak" : "break"} ${where}${b.cond ? `, ${b.cond}` : ""}`;
    }
    case "clear_break": {
      const b = command.p;
      return `clear ${b.id ?? `${b.file}:${b.line}`}`;
    }
    case "set_watch":
      return `display ${command.p.join(", ")}`;
    case "clear_watch":
      return `undisplay ${command.p.join(", ")}`;
    case "disable":
      return `quit ${command.p ?? "soft"}`;
    default:
      return command.p === undefined ? e : `${e} ${JSON.stringify(command.p)}`;
  }
}

/**
 * The message with every string a peer chose made safe for the terminal, except the
 * program's own output, which is passed through as the program wrote it (colours and all).
 */
function safeToShow(msg: SessionEvent): SessionEvent {
  if (msg.e === "print" && (msg.p.input === "<stdout>" || msg.p.input === "<stderr>")) return msg;
  return sanitize(msg);
}

/** A watch's value as shown, for telling whether it changed. */
function watchText(watch: Watch): string {
  return watch.exc ? `** raised ${watch.value} **` : watch.value;
}
