/**
 * The interface every debug engine implements, so that the tracer, the server and the clients
 * never depend on a particular language. The Python engine is the first; a V8 inspector engine
 * for JavaScript can be added behind the same interface.
 *
 * An engine launches a program under its debugger and gives back an {@linkcode EngineSession}:
 * commands go in (already validated protocol messages), tracer events come out.
 *
 * @module
 */

import type { Message, MessageId, RequestCommand } from "../protocol/mod.ts";

/** Where the program's standard input comes from. */
export type StdinMode = "inherit" | "piped" | "null";

/** How to launch a program under an engine. */
export interface LaunchOptions {
  /**
   * The program to run, as the user typed it: a path, or with `run` a module name (`-m`) or
   * code (`-c`).
   */
  program: string;
  /** How `program` runs: a file (default), a module (`python -m`), or code (`python -c`). */
  run?: "file" | "module" | "code";
  /** Its arguments. */
  args?: string[];
  /** Working directory of the program. Default: the current one. */
  cwd?: string;
  /** Extra environment variables for the program. */
  env?: Record<string, string>;
  /** Stop at the program's first line (default true); false runs to a breakpoint. */
  stopOnEntry?: boolean;
  /** Standard input of the program: the tracer's own (default), fed by `input`, or none. */
  stdin?: StdinMode;
  /** `full` (default), `none`, or `hook:module:function` (the engine's own hook syntax). */
  evalPolicy?: string;
  /** Seconds an eval, watch or condition may run; 0 for no limit. */
  evalTimeout?: number;
  /** Breakpoints to set before the program starts, as `file:line` or `function`. */
  breakpoints?: string[];
  /**
   * How line breakpoints run, where the engine has the choice: `compiled` (default) into the
   * code of the function that holds them (Python: no trace function while only they are set),
   * or `traced` (a trace function looks for them: the fallback, forced).
   */
  breakpointMode?: "compiled" | "traced";
  /** When to stop on exceptions. Default `uncaught`. */
  breakOn?: "raised" | "uncaught" | "never";
  /** Module or file patterns never stopped in and hidden from stacks. */
  skip?: string[];
  /** The interpreter or runtime to use (for Python: the python executable). */
  interpreter?: string;
  /**
   * The runtime's own arguments before the program (`run --allow-net` of `deno run
   * --allow-net app.ts`, `--max-old-space-size=4096` for node), where the engine takes them.
   */
  runtimeArgs?: string[];
  /** Aborting it disposes the session. */
  signal?: AbortSignal;
  /**
   * Flow control: awaited before each read of the program's output and of the engine's
   * channel. A consumer that cannot keep up (a tracer whose server reads slowly) holds it, and
   * the program then waits in its writes, as under a slow terminal. Default: never waits.
   */
  flow?: () => Promise<void>;
  /** Says what the engine waits for when it takes long (a loaded machine starting up). */
  onStatus?: ((line: string) => void) | undefined;
  /**
   * Follow the program's child processes (those of its own language): each becomes a
   * {@linkcode ChildEngineSession} of {@linkcode EngineSession.children}. Default false.
   */
  followChildren?: boolean;
  /**
   * With `followChildren`: what children write to the program's output after the program
   * has ended (no session carries it any more), for the tracer's own terminal.
   */
  onLateOutput?: ((stream: "stdout" | "stderr", text: string) => void) | undefined;
}

/**
 * How to attach an engine to a program that runs already (`qdb trace --pid`): the debugging
 * options of {@linkcode LaunchOptions}, for process `pid`. `stopOnEntry` (default false here)
 * stops its main thread at its next line.
 */
export interface AttachOptions extends
  Pick<
    LaunchOptions,
    | "stopOnEntry"
    | "evalPolicy"
    | "evalTimeout"
    | "breakpoints"
    | "breakpointMode"
    | "breakOn"
    | "skip"
    | "signal"
    | "flow"
    | "onStatus"
  > {
  /** The process to attach to. */
  pid: number;
  /**
   * How long to wait for the program to take the debugger in, in ms (its main thread must run
   * some Python code, or wait in a system call). Default 30 000.
   */
  timeoutMs?: number;
}

/** How the program ended. */
export interface ExitStatus {
  /** Exit code, or null when a signal ended it. */
  code: number | null;
  /** The signal that ended it, if any. */
  signal: string | null;
}

/** What a running debug session tells about itself (it becomes the tracer's `start`). */
export interface EngineInfo {
  /** Engine name, such as `python`. */
  engine: string;
  /** The program as given. */
  program: string;
  /** The program and its arguments. */
  argv: string[];
  /** Process id of the debugged program. */
  pid: number;
  /** Runtime and version, such as `CPython 3.12.1`. */
  runtime: string;
  /** Working directory of the program. */
  cwd: string;
  /** What this engine can do, such as `pause` or `threads`. */
  capabilities: string[];
}

/**
 * A primitive request to an engine (sent with {@linkcode EngineSession.send}): the engine
 * answers it with exactly one {@linkcode EngineResponse} carrying the same id. Arguments are
 * checked before they are sent; results are checked when they come back (the engine runs
 * inside the debugged program, which the rest of qdb does not trust).
 */
export interface EngineRequest {
  /** Always `request`. */
  e: "request";
  /** Chosen by the sender, unique among its pending requests. */
  id: MessageId;
  /**
   * Which request, and its arguments: a protocol 2 command; `watch` (`{exprs}`: every watched
   * expression in the selected frame, answered `{values: [{exc, value}]}` in order); or
   * `set_stop_watches` (`{exprs}`: evaluate these at every stop and change of frame, and send
   * them as a `watch_values` event `{exprs, values}` just before the `stack`).
   */
  p: {
    command: RequestCommand | "watch" | "set_stop_watches" | BreakpointRequest;
    args: unknown;
  };
}

/**
 * The requests through which the core keeps the breakpoint table (it owns the ids):
 * - `set_breakpoint {breakpoint, adjust?}`: place a new breakpoint (`set_break`'s fields and the
 *   core's `id`); answered `{breakpoint}` as placed (its file and line as the engine names them,
 *   `verified`, or `pending` until its code loads). With `adjust`, a line without code moves to
 *   the next line that has one.
 * - `update_breakpoint {id, ...}`: `update_break`'s fields; answered `{breakpoint}`.
 * - `remove_breakpoints {ids}`: answered `{}`.
 * - `locate {file}`: answered `{path, name}`: the file as breakpoints name it (null when there is
 *   no such file the program may have breakpoints in), and as the user named it (the program's
 *   when no file was given).
 *
 * The engine reports what changes by itself in a `breakpoint_state` event
 * `{changed: [{id, hits, ignore, file?, line?, verified?}], removed: [id], added?: [breakpoint]}`:
 * at a stop on a breakpoint (every breakpoint's counts; a temporary one removed by its hit), when
 * a pending breakpoint binds, and at start for those set from {@linkcode LaunchOptions} (`added`,
 * with the ids it gave them, 1 and up).
 */
export type BreakpointRequest =
  | "set_breakpoint"
  | "update_breakpoint"
  | "remove_breakpoints"
  | "locate";

/** The one answer to an {@linkcode EngineRequest}: its result, or why it failed. */
export interface EngineResponse {
  /** Always `response`. */
  e: "response";
  /** The request's id. */
  id: MessageId;
  /** The result, or an error with a protocol error type. */
  p: { result: unknown } | { error: { type: string; data: unknown } };
}

/**
 * A client command sent on to an engine. qdb's core answers protocol 1's `list`, `complete`,
 * `eval`, `pprint`, `locals`, `globals`, `args`, `where` (`stack`), the frame selection and the
 * breakpoint and watch commands itself, through the engine's requests; what it still sends on
 * are the resuming commands (`step`, `next`, `return`, `until`, `continue`, `debug`), `pause`,
 * `start`, `disable`, `input` and `set_exception_break`. While the program is stopped, such a
 * command carries `frame`: the id of the frame that qdb's core has selected, which `next`,
 * `return` and `until` act on. A frame of an earlier stop means the newest frame of this one.
 */
export type EngineCommand = Message & { frame?: number };

/** One program running under an engine. */
export interface EngineSession extends AsyncDisposable {
  /** What runs. */
  readonly info: EngineInfo;
  /**
   * Events, in order. `stopped {thread, reason, breakpoint?, post_mortem?, depth?}` says a
   * thread stopped (qdb's core asks for its frames with `stack_trace` and shows the stop as
   * protocol 1's `stack`; it is sent again, with the command's id, in answer to a client's
   * `start`); `running` that it runs again; `print` the program's output (input `<stdout>` or
   * `<stderr>`) and logpoints; `exception`, `return`, `snapshot`, `breakpoint_state`,
   * `watch_values`, `children` and `groups` as the protocol describes them. When the program
   * ends, `exited` and then `disabled` are the last events, and the iteration ends.
   */
  readonly events: AsyncIterable<Message>;
  /**
   * Sends a client command (already validated), carrying the id to echo on its replies, or a
   * primitive {@linkcode EngineRequest}, answered by a `response` event.
   */
  send(command: EngineCommand | EngineRequest): void;
  /** Resolves once the program has ended. */
  readonly exited: Promise<ExitStatus>;
  /** Sends a signal to the program (ignored once it has ended). */
  kill(signal: Deno.Signal): void;
  /** Ends the session; kills the program if it still runs. Idempotent. */
  dispose(): Promise<void>;
  /**
   * With {@linkcode LaunchOptions.followChildren}: the program's child processes (and theirs),
   * as each connects; ends once the program and every child have ended.
   */
  readonly children?: AsyncIterable<ChildEngineSession> | undefined;
}

/**
 * A child process of a launched program, debugged as a session of its own. It inherits its
 * parent's breakpoints and settings and runs until it hits one (no stop on entry). Its output
 * goes where its parent sent it (through the parent's session when it was inherited). It ends
 * with `exited` when it could tell its exit code, and `disabled`. Disposing of it detaches
 * from it (the process runs on); it is ended with the program's process group.
 */
export interface ChildEngineSession extends EngineSession {
  /** The process id of the session it is a child of (the program's, or another child's). */
  readonly parentPid: number;
  /** Flow control, as {@linkcode LaunchOptions.flow}: set it before reading `events`. */
  flow: (() => Promise<void>) | undefined;
}

/**
 * What the roles that work with any engine (the CLI, the DAP adapter, editors) ask of one,
 * without naming it: which programs and runtimes are its, how its sources are typed, which
 * files are not the user's code.
 */
export interface EngineTraits {
  /** Whether a program file is this engine's, by its name (`app.py`). */
  handlesFile(program: string): boolean;
  /** Whether a command line's first word runs this engine's programs (`python3`, `node`). */
  isRuntime(command: string): boolean;
  /**
   * The words of a command line after its runtime that are the runtime's own, not the
   * program (`run` in `deno run app.ts`): how many to skip.
   */
  runtimeWords?(runtime: string, words: string[]): number;
  /** The runtime used when none is given (`python3`). */
  readonly defaultRuntime: string;
  /**
   * The command-line option that names the runtime (`python` for `--python PATH`), with its
   * help; `qdb trace` and `qdb run` take it.
   */
  readonly runtimeOption: { name: string; help: string };
  /** The MIME type of a source file's text (DAP's `source` answer). */
  sourceMimeType(path: string): string;
  /**
   * Glob patterns of the files that are not the user's code (the runtime's libraries and
   * installed packages), for "just my code"; none when the runtime cannot say.
   */
  libraryPatterns(runtime?: string): Promise<string[]>;
}

/** A debug engine: launches programs under its debugger. */
export interface Engine {
  /** Engine name, such as `python`. */
  readonly name: string;
  /** What the rest of qdb may ask of it. */
  readonly traits: EngineTraits;
  /** Starts `options.program` under the debugger. */
  launch(options: LaunchOptions): Promise<EngineSession>;
  /**
   * Attaches to a process that runs already, where the engine can: disposing of the session
   * detaches (the program runs on, as if never attached); it never kills the program.
   */
  attach?(options: AttachOptions): Promise<EngineSession>;
}
