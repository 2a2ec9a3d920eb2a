/**
 * Protocol 2's inspection commands: threads, a thread's frames, a frame's scopes, variables by
 * reference, structured evaluation and remote source. Each is answered by exactly one reply to
 * the client that sent it: `ok` with the result below, or `error`, both with the command's id.
 *
 * Frame ids and variable references are numbers the tracer hands out at a stop; they stay valid
 * until the program resumes, and are never reused, so a stale one is refused rather than
 * pointing at something else.
 *
 * @example
 * ```ts
 * import { RESULTS } from "./requests.ts";
 * RESULTS.threads.check({ threads: [{ id: 1, name: "MainThread", state: "stopped" }] }, "p");
 * ```
 * @module
 */

import { breakpointSchema } from "./events.ts";
import {
  array,
  boolean,
  type Infer,
  integer,
  literal,
  nullable,
  object,
  refine,
  type Schema,
  string,
} from "./schema.ts";

/** Most frames, variables or children in one reply. */
export const MAX_PAGE = 1000;
/** Longest `value` (a bounded repr) in a variable or an evaluation. */
export const MAX_VALUE_LENGTH = 10_000;
/** Largest source text `source` returns. */
export const MAX_SOURCE_BYTES = 8 * 1024 * 1024;

const count = integer({ min: 0 });
const ref = integer({ min: 0 });
const id = integer({ min: 1 });

/** Payload of `stack_trace`: the frames of one thread, newest first, `levels` from `start`. */
export const stackTraceArgs: Schema<{ thread: number; start?: number; levels?: number }> = object(
  { thread: integer() },
  { start: count, levels: integer({ min: 1, max: MAX_PAGE }) },
);

/** Payload of `scopes`. */
export const scopesArgs: Schema<{ frame: number }> = object({ frame: id });

/** Payload of `variables`: a page of the children of a reference. */
export const variablesArgs: Schema<{
  ref: number;
  start?: number;
  count?: number;
  filter?: "named" | "indexed";
}> = object({ ref: id }, {
  start: count,
  count: integer({ min: 1, max: MAX_PAGE }),
  filter: literal("named", "indexed"),
});

/** Payload of `evaluate`: an expression in a frame (default: the selected one). */
export const evaluateArgs: Schema<{
  expr: string;
  frame?: number;
  context?: "repl" | "watch" | "hover";
  echo?: "repl" | "repr" | "pretty";
}> = object({ expr: string({ nonEmpty: true, maxLength: 100_000 }) }, {
  frame: id,
  context: literal("repl", "watch", "hover"),
  echo: literal("repl", "repr", "pretty"),
});

/** Payload of `set_variable`: a child of a reference gets the value of an expression. */
export const setVariableArgs: Schema<{ ref: number; name: string; value: string; frame?: number }> =
  object({
    ref: id,
    name: string({ nonEmpty: true, maxLength: 1000 }),
    value: string({ nonEmpty: true, maxLength: 100_000 }),
  }, { frame: id });

/**
 * Payload of `jump`: the next line to run in the newest frame of the stopped thread (pdb's
 * `jump`; DAP's `goto`). `frame`, when given, must be that frame.
 */
export const jumpArgs: Schema<{ line: number; thread?: number; frame?: number }> = object(
  { line: integer({ min: 1 }) },
  { thread: integer(), frame: id },
);

/** Payload of `completions`: the text before the cursor, in a frame (default: the selected one). */
export const completionsArgs: Schema<{ text: string; frame?: number }> = object(
  { text: string({ maxLength: 1000 }) },
  { frame: id },
);

/** Payload of `exception_info`: a thread stopped on an exception. */
export const exceptionInfoArgs: Schema<{ thread: number }> = object({ thread: integer() });

/** Payload of `source`: a file the program has loaded as code. */
export const sourceArgs: Schema<{ path: string }> = object({
  path: string({ nonEmpty: true, maxLength: 4096 }),
});

/** Most paths `find_source` answers with. */
export const MAX_FOUND_SOURCES = 100;

/** `find_source`'s arguments: the trailing part of a path, such as `pkg/lib.py`. */
export const findSourceArgs: Schema<{ tail: string }> = object({
  tail: string({ nonEmpty: true, maxLength: 4096 }),
});

/** Most breakpoints `set_breakpoints` takes for one file. */
export const MAX_FILE_BREAKPOINTS = 1000;

/**
 * A hit condition: stop (or log) only on some hits of a breakpoint, counted when its condition
 * holds: `>= 5` (from the fifth on; a bare `5` means the same), `> 5`, `== 3`, `< 3`, `<= 3`, or
 * `% 10` (every tenth).
 */
export const hitCondition: Schema<string> = refine(
  string({ nonEmpty: true, maxLength: 32 }),
  (text, at) =>
    /^\s*(>=|>|==|=|<=|<|%)?\s*\d+\s*$/.test(text)
      ? undefined
      : `${at} must be an operator (>=, >, ==, <, <=, %) and a count, such as ">= 5", got ${
        JSON.stringify(text.slice(0, 40))
      }`,
);

/** A logpoint's message: text with `{expression}` parts (`{{` and `}}` for braces). */
export const logMessage: Schema<string> = string({ nonEmpty: true, maxLength: 100_000 });

/** One breakpoint of `set_breakpoints`. */
export interface SourceBreakpoint {
  /** The line (a line without code moves to the next that has code). */
  line: number;
  /** Stop only when this is true. */
  cond?: string | null;
  /** Stop only on some hits (`>= 5`, `% 10`...). */
  hit_condition?: string | null;
  /** A logpoint's message instead of a stop. */
  log?: string | null;
}

/** One breakpoint of `set_breakpoints`. */
export const sourceBreakpointSchema: Schema<SourceBreakpoint> = object({
  line: integer({ min: 1 }),
}, {
  cond: nullable(string({ nonEmpty: true, maxLength: 100_000 })),
  hit_condition: nullable(hitCondition),
  log: nullable(logMessage),
});

/** Payload of `set_breakpoints`: every line breakpoint a file is to have. */
export const setBreakpointsArgs: Schema<{
  file: string;
  breakpoints: SourceBreakpoint[];
}> = object({
  file: string({ nonEmpty: true, maxLength: 4096 }),
  breakpoints: array(sourceBreakpointSchema, { maxItems: MAX_FILE_BREAKPOINTS }),
});

/** A thread of the program. */
export interface ThreadInfo {
  /** Its id (Python: threading.get_ident()). */
  id: number;
  /** Its name. */
  name: string;
  /** Whether it is stopped (its frames can be read) or running. */
  state: "stopped" | "running";
}

/** A thread of the program. */
export const threadInfoSchema: Schema<ThreadInfo> = object({
  id: integer(),
  name: string(),
  state: literal("stopped", "running"),
});

/** A frame of a stopped thread, with its id. */
export interface FrameInfo {
  /** Valid until the program resumes. */
  id: number;
  /** The function's name. */
  func: string;
  /** Its file on the tracer's machine. */
  file: string;
  /** The line it is at (0 when unknown). */
  line: number;
  /** The text of that line. */
  code: string;
}

/** A frame of a stopped thread, with its id. */
export const frameInfoSchema: Schema<FrameInfo> = object({
  id,
  func: string(),
  file: string(),
  line: integer({ min: 0 }),
  code: string(),
});

/** A scope of a frame: its variables are the children of `ref`. */
export interface Scope {
  /** As shown: `Locals`, `Closure`, `Globals`. */
  name: string;
  /** What it holds. */
  kind: "locals" | "globals" | "closure";
  /** Its variables, through `variables`. */
  ref: number;
  /** How many variables. */
  named: number;
  /** In the locals scope: the names of the frame's parameters, in order (protocol 1's `args`). */
  args?: string[];
}

/** A scope of a frame: its variables are the children of `ref`. */
export const scopeSchema: Schema<Scope> = object({
  name: string(),
  kind: literal("locals", "globals", "closure"),
  ref: id,
  named: count,
}, { args: array(string({ maxLength: 1000 }), { maxItems: 10_000 }) });

const valueFields = {
  value: string({ maxLength: MAX_VALUE_LENGTH }),
  type: string(),
  ref,
  named: count,
  indexed: count,
};

/**
 * A value: a bounded repr, its type, and a reference to its children (0 for a leaf), with how
 * many are named (attributes, keys) and indexed (items).
 */
export interface Value {
  /** A bounded repr. */
  value: string;
  /** Its type's name. */
  type: string;
  /** Its children, through `variables`; 0 for none. */
  ref: number;
  /** How many named children (keys, attributes). */
  named: number;
  /** How many indexed children (items). */
  indexed: number;
}

/** A value with a reference to its children. */
export const valueSchema: Schema<Value> = object(valueFields);

/** What `evaluate` replies: the value, and what the code printed while it ran. */
export interface EvaluateResult extends Value {
  /** What the code printed, if anything. */
  output?: string;
  /**
   * With `echo`: what the language's REPL shows of the value (a whole repr, up to 1 MB; none
   * when the REPL shows nothing), or the exception's text when it `raised`.
   */
  display?: string;
  /** With `echo`: the code raised (its text is `display`, after `output`). */
  raised?: boolean;
}

/** Longest `display` of `evaluate` (protocol 1's `p` shows up to 1,000,000 characters). */
export const MAX_DISPLAY_LENGTH = 1_100_000;

/** What `evaluate` replies. */
export const evaluateResultSchema: Schema<EvaluateResult> = object(valueFields, {
  output: string(),
  display: string({ maxLength: MAX_DISPLAY_LENGTH }),
  raised: boolean(),
});

/** A child of a value, or a variable of a scope. */
export interface Variable extends Value {
  /** Its name: a variable's, a key's repr, an attribute's, or `[index]`. */
  name: string;
}

/** A child of a value, or a variable of a scope. */
export const variableSchema: Schema<Variable> = object({
  name: string(),
  value: string({ maxLength: MAX_VALUE_LENGTH }),
  type: string(),
  ref,
  named: count,
  indexed: count,
});

/** What each inspection command replies in `ok`. */
export const RESULTS = {
  threads: object({ threads: array(threadInfoSchema) }),
  stack_trace: object({ frames: array(frameInfoSchema, { maxItems: MAX_PAGE }), total: count }),
  scopes: object({ scopes: array(scopeSchema) }),
  variables: object({ variables: array(variableSchema, { maxItems: MAX_PAGE }) }),
  evaluate: evaluateResultSchema,
  source: object({ path: string(), text: string(), hash: string() }),
  find_source: object({ paths: array(string(), { maxItems: MAX_FOUND_SOURCES }) }),
  set_breakpoints: object({ breakpoints: array(breakpointSchema) }),
  set_variable: valueSchema,
  jump: object({ line: integer({ min: 1 }) }, { warning: string({ maxLength: 1000 }) }),
  completions: object({ matches: array(string(), { maxItems: 1000 }) }),
  exception_info: object({
    type: string(),
    message: string(),
    traceback: string(),
    uncaught: boolean(),
    ref,
  }),
} as const;

/** An inspection command name. */
export type RequestCommand = keyof typeof RESULTS;

/** The result type of each inspection command. */
export type RequestResults = { [K in RequestCommand]: Infer<(typeof RESULTS)[K]> };

/** True for a command that protocol 2 added (answered by `ok` or `error`). */
export function isRequestCommand(name: string): name is RequestCommand {
  return Object.hasOwn(RESULTS, name);
}
