/**
 * The commands a client may send, each with its payload schema, a summary and an example.
 * Names and payload shapes of the original qdb are kept, so its clients still work; what is
 * new is additive (new commands, new optional fields).
 *
 * @example
 * ```ts
 * import { COMMANDS } from "./commands.ts";
 * COMMANDS.set_break.payload.check({ line: 4, cond: "n == 97" }, "payload");
 * ```
 * @module
 */

import type { Message } from "./envelope.ts";
import {
  array,
  boolean,
  type Infer,
  integer,
  literal,
  none,
  nullable,
  object,
  optional,
  refine,
  type Schema,
  string,
  union,
} from "./schema.ts";
import {
  completionsArgs,
  evaluateArgs,
  exceptionInfoArgs,
  findSourceArgs,
  hitCondition,
  jumpArgs,
  logMessage,
  scopesArgs,
  setBreakpointsArgs,
  setVariableArgs,
  sourceArgs,
  stackTraceArgs,
  variablesArgs,
} from "./requests.ts";

/** Longest code string accepted by `eval`, `pprint`, watches and conditions. */
export const MAX_CODE_LENGTH = 100_000;
/** Longest chunk accepted by `input`. */
export const MAX_INPUT_LENGTH = 1_000_000;
/** Longest auth string accepted in `start`. */
export const MAX_AUTH_LENGTH = 4096;

/** Most snapshots one breakpoint takes (`set_break`'s `max`). */
export const MAX_SNAPSHOTS_PER_BREAKPOINT = 1000;

/** What a group name may be: 1 to 64 of letters, digits and `._:@~-`. */
export const GROUP_NAME_PATTERN = /^[A-Za-z0-9._:@~-]{1,64}$/;

/** How a command is documented and checked. */
export interface CommandSpec<P> extends CommandRules {
  /** One sentence: what the command does and what it replies. */
  readonly summary: string;
  /** The payload's schema. */
  readonly payload: Schema<P>;
  /** A message that is valid for this command. */
  readonly example: Message;
}

/**
 * How a command is handled, one table for the server, qdb's core and the clients: whether it
 * needs a stopped program, whether the session's other clients are told of it (`command`),
 * the events that answer it, and who answers: the server, qdb's core (for every engine,
 * through the engine's requests), or the engine.
 */
export interface CommandRules {
  /** It acts on a frame or a stopped thread: refused (`running`) while the program runs. */
  readonly needsStop: boolean;
  /** The other clients of the session are told of it (a `command` event). */
  readonly echoed: boolean;
  /** The events that answer it (`ok` or `error` for protocol 2's requests; any `error`). */
  readonly replies: readonly string[];
  /** Who answers it. */
  readonly answeredBy: "server" | "core" | "engine";
}

/** Rules by kind: the words of the table below. */
const RULES = {
  /** Runs the program (the resuming commands): `running`, then a stop or the end. */
  resume: { needsStop: true, echoed: true, replies: ["running"], answeredBy: "engine" },
  /** The core answers from the engine's requests, at a stop. */
  inspect: (replies: string[], echoed = true) =>
    ({ needsStop: true, echoed, replies, answeredBy: "core" }) as const,
  /** The core's own tables (breakpoints, watches), running or not. */
  table: (replies: string[], echoed = true) =>
    ({ needsStop: false, echoed, replies, answeredBy: "core" }) as const,
  /** A protocol 2 request: one `ok` or `error`. */
  request: (needsStop: boolean, echoed: boolean, answeredBy: "core" | "engine" = "engine") =>
    ({ needsStop, echoed, replies: ["ok"], answeredBy }) as const,
} as const;

function spec<P>(
  summary: string,
  payload: Schema<P>,
  example: Message,
  rules: CommandRules,
): CommandSpec<P> {
  return { summary, payload, example, ...rules };
}

const code = string({ nonEmpty: true, maxLength: MAX_CODE_LENGTH });

const path = string({ nonEmpty: true, maxLength: 4096 });

/** The id of a group's rule (a breakpoint set on a whole group): `GROUP#N`. */
const groupRule = string({ nonEmpty: true, maxLength: 128 });

/** A snapshot's id in its session. */
const snapshotArgs = object({ id: integer({ min: 1 }) }, {
  session: string({ nonEmpty: true, maxLength: 128 }),
});

/** Payload schema of `start` from a client. */
export const clientStart = optional(union(
  string({ maxLength: MAX_AUTH_LENGTH }),
  object({}, {
    auth: string({ maxLength: MAX_AUTH_LENGTH }),
    protocol: integer({ min: 1 }),
    name: string({ maxLength: 64 }),
    // The program's last output (64 KiB) first, when others are attached already.
    history: boolean(),
  }),
));

/** Payload schema of `set_break`: a line (in `file`, default the main file) or a function. */
export const setBreak = refine(
  object({}, {
    file: path,
    line: integer({ min: 1 }),
    func: string({ nonEmpty: true, maxLength: 512 }),
    cond: nullable(code),
    temp: boolean(),
    ignore: integer({ min: 0 }),
    enabled: boolean(),
    hit_condition: nullable(hitCondition),
    log: nullable(logMessage),
    children: boolean(),
    snapshot: boolean(),
    max: integer({ min: 1, max: MAX_SNAPSHOTS_PER_BREAKPOINT }),
    rule: groupRule,
  }),
  (bp, at) =>
    bp.line === undefined && bp.func === undefined
      ? `${at} needs a "line" or a "func"`
      : bp.snapshot && typeof bp.log === "string"
      ? `${at} is a snapshot or a logpoint, not both`
      : undefined,
);

/** Payload schema of `clear_break`: a breakpoint id, or a file and line (the original shape). */
export const clearBreak = refine(
  object({}, {
    id: integer({ min: 1 }),
    file: path,
    line: integer({ min: 1 }),
    // Accepted for compatibility with the original's clients, which sent the whole breakpoint.
    func: nullable(string()),
    cond: nullable(string()),
    temp: boolean(),
    rule: groupRule,
  }),
  (bp, at) =>
    bp.id === undefined && bp.line === undefined && bp.rule === undefined
      ? `${at} needs an "id", a "line" or a "rule"`
      : undefined,
);

/** Payload schema of `update_break`. */
export const updateBreak = object({ id: integer({ min: 1 }) }, {
  enabled: boolean(),
  cond: nullable(code),
  ignore: integer({ min: 0 }),
  temp: boolean(),
  hit_condition: nullable(hitCondition),
  log: nullable(logMessage),
});

/** Payload schema of `list`: 1-based inclusive lines; no start and end lists the whole file. */
export const listSource = optional(refine(
  object({}, { file: path, start: integer({ min: 1 }), end: integer({ min: 1 }) }),
  (p, at) =>
    p.start !== undefined && p.end !== undefined && p.end < p.start
      ? `${at}.end must be >= ${at}.start (${p.start}), got ${p.end}`
      : undefined,
));

const stackCount = optional(integer({ min: 1 }));

/** A resuming command's payload: absent (protocol 1), or the thread to resume (protocol 2). */
const resume = optional(object({}, { thread: integer() }));
const watches = array(code, { maxItems: 100 });

/**
 * Every client command. The server handles `start` itself and routes the others to the
 * session's tracer.
 */
export const COMMANDS = {
  start: spec(
    "First message on a connection: authenticates (the payload is the auth string, or an object with `auth`, `protocol` and a display `name`). The server replies `attached`, then the tracer sends `breakpoints`, `watchlist` and `stack` when the program is stopped.",
    clientStart,
    { e: "start", p: { auth: "s3cret", protocol: 1, name: "ana" } },
    { needsStop: false, echoed: false, replies: ["attached"], answeredBy: "server" },
  ),
  step: spec(
    "Run to the next line, entering calls, in the selected thread. Protocol 2 may name the `thread` (a stopped one).",
    resume,
    { e: "step" },
    RULES.resume,
  ),
  next: spec(
    "Run to the next line in this frame, stepping over calls (optional `thread`, as `step`).",
    resume,
    { e: "next" },
    RULES.resume,
  ),
  return: spec(
    "Run until the selected frame returns and stop there, as pdb (optional `thread`, as `step`). With `caller: true` (protocol 2), stop in the caller instead, right after the call, as an editor's step out.",
    optional(object({}, { thread: integer(), caller: boolean() })),
    { e: "return" },
    RULES.resume,
  ),
  until: spec(
    "Run until a line greater than the current one is reached in this frame (or the given line), or the frame returns. The payload is the line, or `{thread, line}`.",
    optional(union(
      integer({ min: 1 }),
      object({}, { thread: integer(), line: integer({ min: 1 }) }),
    )),
    { e: "until", p: 12 },
    RULES.resume,
  ),
  continue: spec(
    "Run until a breakpoint, an exception, a pause or the end (optional `thread`, as `step`).",
    resume,
    { e: "continue" },
    RULES.resume,
  ),
  eval: spec(
    "Run code in the selected frame; an expression's value is echoed as in the Python REPL. Replies `print`, then `watchlist`. `{code, repr: true}`: the code is one expression, whose repr is printed even when it is None (pdb's `p`).",
    union(code, object({ code }, { repr: boolean() })),
    { e: "eval", p: "a + b", id: 7 },
    RULES.inspect(["print"]),
  ),
  debug: spec(
    "pdb's `debug`: run code in the selected frame under a debugger of its own. The tracer says `ENTERING RECURSIVE DEBUGGER` (a `print`), the program runs (`running`) and stops at the code's first line, a stop whose `stack` has `depth` 1 (2 inside that one's `debug`...), which is stepped and inspected as any; when the code ends, `LEAVING RECURSIVE DEBUGGER` and the stop it came from again.",
    code,
    { e: "debug", p: "compute(3)", id: 12 },
    RULES.resume,
  ),
  pprint: spec(
    "Evaluate an expression in the selected frame and reply its pretty-printed value as `print`.",
    code,
    { e: "pprint", p: "config" },
    RULES.inspect(["print"]),
  ),
  set_watch: spec(
    "Add expressions to the watchlist; they are re-evaluated at every stop, after eval and after up/down. Replies `watchlist`.",
    watches,
    { e: "set_watch", p: ["len(queue)", "total"] },
    RULES.table(["watchlist"]),
  ),
  clear_watch: spec(
    "Remove expressions from the watchlist (unknown ones are ignored). Replies `watchlist`.",
    watches,
    { e: "clear_watch", p: ["total"] },
    RULES.table(["watchlist"]),
  ),
  set_break: spec(
    "Set a breakpoint on a line (`file` defaults to the program's main file) or on a function by name. A line without code is refused with the nearest line that has code. Replies `breakpoints`. With `children: true`, it is set in the session's live child sessions too (children started later inherit it anyway).",
    setBreak,
    { e: "set_break", p: { file: "app.py", line: 4, cond: "n == 97", temp: false } },
    RULES.table(["breakpoints"]),
  ),
  clear_break: spec(
    "Remove a breakpoint by `id`, every breakpoint on `file`:`line`, or the one a group's `rule` set. Replies `breakpoints`.",
    clearBreak,
    { e: "clear_break", p: { id: 1 } },
    RULES.table(["breakpoints"]),
  ),
  snapshots: spec(
    "The snapshots the session keeps (the newest last), without their values: the server replies `snapshots`. Read-only clients may send it.",
    optional(object({})),
    { e: "snapshots" },
    { needsStop: false, echoed: false, replies: ["snapshots"], answeredBy: "server" },
  ),
  snapshot: spec(
    "One kept snapshot, whole, by `id`: the server replies `snapshot`. Read-only clients may send it.",
    snapshotArgs,
    { e: "snapshot", p: { id: 3 } },
    { needsStop: false, echoed: false, replies: ["snapshot"], answeredBy: "server" },
  ),
  update_break: spec(
    "Enable or disable a breakpoint, change its condition (null removes it), its ignore count or whether it is temporary. Replies `breakpoints`.",
    updateBreak,
    { e: "update_break", p: { id: 1, enabled: false } },
    RULES.table(["breakpoints"]),
  ),
  list: spec(
    "Reply `list` with source text: lines `start` to `end` (1-based, inclusive) of `file` (default: the selected frame's file), or the whole file.",
    listSource,
    { e: "list", p: { file: "app.py", start: 1, end: 11 } },
    RULES.table(["list"], false),
  ),
  up: spec(
    "Select an older frame (the payload is a count, default 1). Replies `watchlist` and `stack`.",
    stackCount,
    { e: "up" },
    RULES.inspect(["watchlist", "stack"]),
  ),
  down: spec(
    "Select a newer frame (the payload is a count, default 1). Replies `watchlist` and `stack`.",
    stackCount,
    { e: "down", p: 2 },
    RULES.inspect(["watchlist", "stack"]),
  ),
  frame: spec(
    "Select the frame at this index of the `stack` list, or (`{thread, index?}`) a stopped thread and one of its frames (default its newest). Replies `watchlist` and `stack`.",
    union(integer({ min: 0 }), object({ thread: integer() }, { index: integer({ min: 0 }) })),
    { e: "frame", p: 0 },
    RULES.inspect(["watchlist", "stack"]),
  ),
  locals: spec("Reply `locals`: the selected frame's local variables as reprs.", none(), {
    e: "locals",
  }, RULES.inspect(["locals"])),
  globals: spec("Reply `globals`: the selected frame's global variables as reprs.", none(), {
    e: "globals",
  }, RULES.inspect(["globals"])),
  args: spec(
    "Reply `args`: the selected frame's arguments as reprs.",
    none(),
    { e: "args" },
    RULES.inspect(["args"]),
  ),
  stack: spec(
    "Reply `stack` again (the `where` command).",
    none(),
    { e: "stack" },
    RULES.inspect(["stack"], false),
  ),
  breakpoints: spec(
    "Reply `breakpoints` again.",
    none(),
    { e: "breakpoints" },
    RULES.table(["breakpoints"], false),
  ),
  pause: spec(
    "Stop the running program where it is, even in a tight loop or a blocking sleep. Replies `stack` once it has stopped.",
    none(),
    { e: "pause" },
    { needsStop: false, echoed: true, replies: ["stack"], answeredBy: "engine" },
  ),
  disable: spec(
    "End debugging: `soft` (default) lets the program run on untraced, `hard` ends it. The tracer replies `disabled`.",
    optional(literal("soft", "hard")),
    { e: "disable", p: "soft" },
    { needsStop: false, echoed: true, replies: ["disabled"], answeredBy: "engine" },
  ),
  complete: spec(
    "Reply `completions` for the text before the cursor: names and attributes in the selected frame.",
    string({ maxLength: 1000 }),
    { e: "complete", p: "math.is" },
    RULES.table(["completions"], false),
  ),
  input: spec(
    'Write text to the program\'s standard input (when the tracer connected it to qdb); `{"eof": true}` closes it (end of file).',
    union(
      string({ maxLength: MAX_INPUT_LENGTH }),
      refine(
        object({ eof: boolean() }),
        (v, path) => v.eof ? undefined : `${path}.eof must be true (or send text)`,
      ),
    ),
    { e: "input", p: "yes\n" },
    { needsStop: false, echoed: false, replies: [], answeredBy: "engine" },
  ),
  set_exception_break: spec(
    "When to stop on exceptions: `uncaught` (the default: post-mortem before the program exits), `raised` (every raise), or `never`.",
    literal("raised", "uncaught", "never"),
    { e: "set_exception_break", p: "raised" },
    { needsStop: false, echoed: true, replies: [], answeredBy: "engine" },
  ),
  // Protocol 2: each is answered by exactly one `ok` (or `error`) with the command's id.
  threads: spec(
    "Protocol 2. Reply `ok` with every thread of the program: its id, name and state (`stopped` or `running`).",
    none(),
    { e: "threads", id: 1 },
    RULES.request(false, false),
  ),
  stack_trace: spec(
    "Protocol 2. Reply `ok` with the frames of a stopped thread, newest first, each with an id valid until the program resumes, and `total` (page with `start` and `levels`).",
    stackTraceArgs,
    { e: "stack_trace", p: { thread: 140245, start: 0, levels: 20 }, id: 2 },
    RULES.request(true, false),
  ),
  scopes: spec(
    "Protocol 2. Reply `ok` with a frame's scopes (locals, closure cells, globals), each with a variables reference.",
    scopesArgs,
    { e: "scopes", p: { frame: 1 }, id: 3 },
    RULES.request(true, false),
  ),
  variables: spec(
    "Protocol 2. Reply `ok` with one page of the children of a reference (`count` from `start`; `filter` takes only `named` or `indexed` ones).",
    variablesArgs,
    { e: "variables", p: { ref: 4, start: 0, count: 100 }, id: 4 },
    RULES.request(true, false),
  ),
  evaluate: spec(
    "Protocol 2. Evaluate an expression in a frame (default: the selected one) and reply `ok` with its value and a reference to its children. `repl` runs statements too, and its output comes as `print`.",
    evaluateArgs,
    { e: "evaluate", p: { expr: "primes[-3:]", frame: 1, context: "hover" }, id: 5 },
    RULES.request(true, true),
  ),
  set_breakpoints: spec(
    "Protocol 2. Replace every line breakpoint of a file with these (an editor's whole list for the file); a line without code moves to the next line that has code. Reply `ok` with each one as set, in order: `verified` when bound to code, else a `message` why not. Every client also gets `breakpoints`.",
    setBreakpointsArgs,
    {
      e: "set_breakpoints",
      p: { file: "/src/app.py", breakpoints: [{ line: 4 }, { line: 9, log: "n is {n}" }] },
      id: 7,
    },
    RULES.request(false, true, "core"),
  ),
  set_variable: spec(
    "Protocol 2. Give a child of a reference (a variable of a scope, a key, an item of a list, an attribute) the value of an expression, evaluated in `frame` (default: the selected one) under the eval policy. Reply `ok` with the new value.",
    setVariableArgs,
    { e: "set_variable", p: { ref: 9, name: "n", value: "97" }, id: 9 },
    RULES.request(true, true),
  ),
  jump: spec(
    "Protocol 2. pdb's `jump`: set the next line to run in the newest frame of the thread that stopped (it must not run the lines in between; the engine refuses a jump into a block or out of a `finally` with a `jump` error). Reply `ok` with the line; every client is sent the stop again at that line, with reason `goto`.",
    jumpArgs,
    { e: "jump", p: { line: 14 }, id: 11 },
    RULES.request(true, true),
  ),
  completions: spec(
    "Protocol 2. Reply `ok` with completions of the text before the cursor: names in `frame` (default: the selected one) and attributes.",
    completionsArgs,
    { e: "completions", p: { text: "math.is", frame: 7 }, id: 10 },
    RULES.request(false, true),
  ),
  exception_info: spec(
    "Protocol 2. Reply `ok` with the exception a thread stopped on: its type, message, formatted traceback, whether it was uncaught, and a variables reference to the exception object.",
    exceptionInfoArgs,
    { e: "exception_info", p: { thread: 140245 }, id: 8 },
    RULES.request(true, true),
  ),
  source: spec(
    "Protocol 2. Reply `ok` with the text of a source file the program has loaded as code, and its SHA-256 hash; any other path is refused.",
    sourceArgs,
    { e: "source", p: { path: "/src/app.py" }, id: 6 },
    RULES.request(false, false),
  ),
  find_source: spec(
    "Protocol 2. Reply `ok` with the paths that end with `/TAIL` among the files the program has loaded as code and the Python files under its main file's directory (at most 100): how a client on another machine finds the program's copy of its own file.",
    findSourceArgs,
    { e: "find_source", p: { tail: "pkg/lib.py" }, id: 9 },
    RULES.request(false, true),
  ),
} as const;

/** A client command name. */
export type CommandName = keyof typeof COMMANDS;

/** The payload type of each client command. */
export type CommandPayloads = {
  [K in CommandName]: Infer<(typeof COMMANDS)[K]["payload"]>;
};

/** True for a known client command name. */
export function isCommandName(name: string): name is CommandName {
  return Object.hasOwn(COMMANDS, name);
}

/** Commands that only make sense while the program is stopped (they need a frame). */
export const NEEDS_STOP: ReadonlySet<CommandName> = new Set<CommandName>(
  (Object.keys(COMMANDS) as CommandName[]).filter((name) => COMMANDS[name].needsStop),
);

/** The list of watched expressions, checked like every watch command. */
export type WatchExpressions = Infer<typeof watches>;
