/**
 * The events clients receive: from the tracer (broadcast to every client of the session) and
 * from the server itself, plus the messages of the tracer link. Each has a payload schema,
 * which clients may use to check what they receive and tests use to check what we send.
 *
 * Schemas here are strict (unknown fields are refused) so that our own tests catch any field
 * we send without documenting it; clients should ignore fields they do not know.
 *
 * @example
 * ```ts
 * import { TRACER_EVENTS } from "./events.ts";
 * TRACER_EVENTS.print.payload.check({ input: "2 + 2", exc: false, output: "4" }, "payload");
 * ```
 * @module
 */

import type { Message } from "./envelope.ts";
import { ERROR_TYPES } from "./errors.ts";
import {
  any,
  array,
  boolean,
  type Infer,
  integer,
  literal,
  none,
  nullable,
  object,
  optional,
  record,
  type Schema,
  string,
} from "./schema.ts";

/** How an event is documented and checked. */
export interface EventSpec<P> {
  /** One sentence: when the event is sent and what it carries. */
  readonly summary: string;
  /** The payload's schema. */
  readonly payload: Schema<P>;
  /** A valid message of this event. */
  readonly example: Message;
}

function spec<P>(summary: string, payload: Schema<P>, example: Message): EventSpec<P> {
  return { summary, payload, example };
}

/** A thread of the debugged program. */
export const threadSchema = object({ id: integer(), name: string() });

/** One frame of a stack: the file, line, function and that line's source text. */
export const frameSchema = object({
  file: string(),
  line: integer({ min: 0 }),
  func: string(),
  code: string(),
}, {
  // Protocol 2's frame id (for `scopes`, `evaluate`, ...), valid until the program resumes.
  id: integer({ min: 1 }),
});

/** Why the program stopped. */
export const stopReason = literal(
  "entry",
  "step",
  "breakpoint",
  "exception",
  "pause",
  "set_trace",
  "return",
  "select",
  "goto",
);

/** Payload of `stack`: frames oldest first; `index` is the selected frame. */
export const stackPayload = object({
  index: integer({ min: 0 }),
  stack: array(frameSchema),
}, {
  thread: threadSchema,
  reason: stopReason,
  breakpoint: integer({ min: 1 }),
  post_mortem: boolean(),
  // Inside the code of `debug` (pdb's recursive debugger): how deep.
  depth: integer({ min: 1 }),
});

/** One breakpoint. `func` is the function it was set on, if any. */
export const breakpointSchema = object({
  // 0 only in set_breakpoints' answer, for one that could not be set (it has a `message`).
  id: integer({ min: 0 }),
  file: string(),
  line: integer({ min: 0 }),
  temp: boolean(),
  cond: nullable(string()),
  func: nullable(string()),
  enabled: boolean(),
  ignore: integer({ min: 0 }),
  hits: integer({ min: 0 }),
}, {
  pending: boolean(),
  hit_condition: nullable(string()),
  log: nullable(string()),
  verified: boolean(),
  message: string(),
  snapshot: boolean(),
  max: integer({ min: 1 }),
  rule: string(),
  // Python: why it is looked for by a trace function instead of compiled into the code.
  traced: string(),
});

/** One watched expression and its current value (or the exception it raised). */
export const watchSchema = object({ expr: string(), exc: boolean(), value: string() });

/** Payload of `print`: a command's input and output, or program output (`<stdout>`). */
export const printPayload = object({ input: string(), exc: boolean(), output: string() }, {
  // On a group link: the member that printed.
  session: string(),
});

/** Payload of `exception`. */
export const exceptionPayload = object({
  type: string(),
  value: string(),
  traceback: string(),
}, { uncaught: boolean(), thread: threadSchema });

/** Payload of `error`. */
export const errorPayload = object({
  type: literal(...(Object.keys(ERROR_TYPES) as (keyof typeof ERROR_TYPES)[])),
  data: any(),
}, { command: string() });

/** Most groups one tracer names. */
export const MAX_GROUPS = 16;

/** One frame of a snapshot: where, and its locals (name to a bounded repr) if they were taken. */
export const snapshotFrameSchema = object({
  file: string(),
  line: integer({ min: 0 }),
  func: string(),
}, { locals: record(string()) });

/** Payload of `snapshot`: the stack and values captured at a hit, while the program ran on. */
export const snapshotPayload = object({
  breakpoint: integer({ min: 1 }),
  time: string(),
  stack: array(snapshotFrameSchema, { maxItems: 1000 }),
}, {
  id: integer({ min: 1 }),
  session: string(),
  rule: string(),
  thread: threadSchema,
  truncated: boolean(),
});

/** One snapshot as `snapshots` lists it: without its values. */
export const snapshotSummarySchema = object({
  id: integer({ min: 1 }),
  breakpoint: integer({ min: 1 }),
  time: string(),
  where: snapshotFrameSchema,
}, { session: string(), rule: string() });

/** What a tracer tells about what it runs (in `start`; clients see it in `attached`). */
const tracerFields = {
  engine: string(),
  program: string(),
  argv: array(string()),
  pid: integer(),
  host: string(),
  cwd: string(),
  protocol: integer({ min: 1 }),
};

/** What a tracer tells about itself in `start`, as clients see it. */
export const tracerInfoSchema = object(tracerFields, {
  runtime: string(),
  version: string(),
  capabilities: array(string({ maxLength: 64 }), { maxItems: 64 }),
  groups: array(string({ nonEmpty: true, maxLength: 64 }), { maxItems: MAX_GROUPS }),
});

/** A client as other clients see it (`readOnly` only when it is). */
export const clientInfoSchema = object({ id: string(), name: string(), address: string() }, {
  readOnly: boolean(),
});

/** One live session, as `GET /sessions` and `attached` describe it. */
export const sessionInfoSchema = object({
  id: string(),
  created: string(),
  clients: integer({ min: 0 }),
  tracer: nullable(tracerInfoSchema),
}, {
  parent: string(),
});

/** Where a child session's program stopped. */
export const childWhereSchema = object({ file: string(), line: integer({ min: 0 }) }, {
  func: string(),
  reason: string(),
  thread: string(),
});

/** A child session, as its ancestors' clients see it (`child`, `attached`). */
export const childInfoSchema = object({
  session: string(),
  parent: string(),
  pid: integer(),
  argv: array(string()),
  state: literal("running", "stopped", "ended"),
}, {
  where: childWhereSchema,
  reason: string(),
});

/** Events the tracer sends; the server broadcasts each to every client of the session. */
export const TRACER_EVENTS = {
  stack: spec(
    "The program stopped (or the selected frame changed): its frames, oldest first, and the selected index. Optional: the thread, why it stopped, which breakpoint, and whether this is post-mortem.",
    stackPayload,
    {
      e: "stack",
      p: {
        index: 1,
        stack: [
          { file: "/src/app.py", line: 9, func: "<module>", code: "main()" },
          { file: "/src/app.py", line: 4, func: "main", code: "    x = f(3)" },
        ],
        thread: { id: 140245, name: "MainThread" },
        reason: "breakpoint",
        breakpoint: 1,
      },
    },
  ),
  watchlist: spec(
    "Every watched expression with its value, or with `exc: true` and the exception.",
    array(watchSchema),
    { e: "watchlist", p: [{ expr: "total", exc: false, value: "42" }] },
  ),
  print: spec(
    "Output of a command (`input` is the code run, `exc` is true when it raised) or of the program (`input` is `<stdout>` or `<stderr>`).",
    printPayload,
    { e: "print", p: { input: "<stdout>", exc: false, output: "2 3 5 7\n" } },
  ),
  breakpoints: spec(
    "Every breakpoint, sent after any change and on `start`.",
    array(breakpointSchema),
    {
      e: "breakpoints",
      p: [{
        id: 1,
        file: "/src/app.py",
        line: 4,
        temp: false,
        cond: "n == 97",
        func: null,
        enabled: true,
        ignore: 0,
        hits: 0,
      }],
    },
  ),
  list: spec("Source text, as asked by `list`.", string(), {
    e: "list",
    p: "def f(x):\n    return x * 2\n",
  }),
  locals: spec(
    "The selected frame's locals, name to repr.",
    record(string()),
    { e: "locals", p: { n: "97", primes: "[2, 3, 5]" } },
  ),
  globals: spec(
    "The selected frame's globals, name to repr.",
    record(string()),
    { e: "globals", p: { math: "<module 'math' (built-in)>" } },
  ),
  args: spec("The selected frame's arguments, name to repr.", record(string()), {
    e: "args",
    p: { n: "97" },
  }),
  return: spec(
    "The selected frame is about to return this value (repr), after `return` or stepping off a frame's end.",
    string(),
    { e: "return", p: "[2, 3, 5, 7]" },
  ),
  exception: spec(
    "An exception stopped the program: type, value and the formatted traceback. `uncaught: true` means post-mortem.",
    exceptionPayload,
    {
      e: "exception",
      p: {
        type: "ZeroDivisionError",
        value: "division by zero",
        traceback:
          'Traceback (most recent call last):\n  File "/src/app.py", line 2, in <module>\n    1 / 0\nZeroDivisionError: division by zero\n',
        uncaught: true,
      },
    },
  ),
  running: spec(
    "The program runs again after a stop (clients may show it as busy); also the answer to a `start` while the program runs.",
    optional(object({}, { thread: threadSchema })),
    { e: "running" },
  ),
  reading: spec(
    "The program waits to read its standard input, and there is nothing to read yet (sent once per wait; clients may offer to type its input).",
    none(),
    { e: "reading" },
  ),
  completions: spec(
    "Completions for the text of a `complete` command.",
    object({ text: string(), matches: array(string()) }),
    { e: "completions", p: { text: "math.is", matches: ["math.isclose(", "math.isqrt("] } },
  ),
  exited: spec(
    "The program ended, with its exit code (null when a signal ended it, named in `signal`).",
    object({ code: nullable(integer()) }, { signal: string() }),
    { e: "exited", p: { code: 0 } },
  ),
  disabled: spec(
    "The tracer stopped debugging (soft: the program runs on; hard: it was ended). The server then ends the session.",
    optional(object({}, { mode: literal("soft", "hard"), reason: string() })),
    { e: "disabled", p: { mode: "soft" } },
  ),
  error: spec(
    "A command failed; `type` is stable (see the error table), `command` names the command.",
    errorPayload,
    { e: "error", p: { type: "up", data: "Oldest frame", command: "up" } },
  ),
  groups: spec(
    "The session joins these groups (`qdb.set_trace(group=...)` in the program): the server adds them to the tracer's description and sets their rules. Clients are not sent it.",
    array(string({ nonEmpty: true, maxLength: 64 }), { maxItems: MAX_GROUPS }),
    { e: "groups", p: ["backtest"] },
  ),
  snapshot: spec(
    "A snapshot breakpoint was hit and the program ran on: the stack (oldest frame first) and the locals of the newest frames, as bounded reprs taken at the hit. The server numbers it (`id`) and keeps it; also the reply to `snapshot`.",
    snapshotPayload,
    {
      e: "snapshot",
      p: {
        id: 1,
        session: "jobs-7",
        breakpoint: 2,
        time: "2026-12-06T10:00:12.345Z",
        thread: { id: 140245, name: "MainThread" },
        stack: [
          { file: "/srv/jobs/job.py", line: 30, func: "<module>" },
          { file: "/srv/jobs/job.py", line: 12, func: "work", locals: { n: "97", acc: "[2, 3]" } },
        ],
      },
    },
  ),
  ok: spec(
    "Protocol 2: the reply to one command, sent to its client only, with the command's id; the payload is the command's result (see each command).",
    any(),
    { e: "ok", p: { threads: [{ id: 140245, name: "MainThread", state: "stopped" }] }, id: 1 },
  ),
} as const;

/** Events the server itself sends to clients. */
export const SERVER_EVENTS = {
  attached: spec(
    "Reply to a client's `start`: the session, the protocol version, the tracer (null while none is attached), the clients, and this client's own id. Sent again when a tracer arrives.",
    object({
      session: string(),
      protocol: integer({ min: 1 }),
      server: string(),
      tracer: nullable(tracerInfoSchema),
      clients: array(clientInfoSchema),
      you: string(),
    }, {
      parent: string(),
      children: array(childInfoSchema),
    }),
    {
      e: "attached",
      p: {
        session: "backtest-42",
        protocol: 1,
        server: "qdb 0.1.0",
        tracer: {
          engine: "python",
          program: "backtest.py",
          argv: ["backtest.py", "--fast"],
          pid: 8812,
          host: "worker",
          cwd: "/srv/jobs",
          protocol: 1,
          runtime: "CPython 3.12.1",
        },
        clients: [{ id: "c1", name: "ana", address: "10.0.0.7" }],
        you: "c1",
      },
    },
  ),
  clients: spec(
    "Someone joined or left: a change to the list `attached` gave (servers before 0.2 also sent the whole list as `clients`).",
    object({}, {
      joined: clientInfoSchema,
      left: clientInfoSchema,
      clients: array(clientInfoSchema),
    }),
    {
      e: "clients",
      p: { joined: { id: "c2", name: "bo", address: "10.0.0.9" } },
    },
  ),
  command: spec(
    "Another client of the session sent this command (so collaborators see each other's work).",
    object({ client: clientInfoSchema, e: string() }, { p: any() }),
    {
      e: "command",
      p: { client: { id: "c2", name: "bo", address: "10.0.0.9" }, e: "eval", p: "x" },
    },
  ),
  child: spec(
    "A child process of the program (or of one of its children) started, stopped, ran on or ended: its session, its parent's, and where it stopped. Sent to the clients of every session it descends from.",
    childInfoSchema,
    {
      e: "child",
      p: {
        session: "backtest-42/8830",
        parent: "backtest-42",
        pid: 8830,
        argv: ["backtest.py"],
        state: "stopped",
        where: { file: "/srv/jobs/backtest.py", line: 12, func: "work", reason: "breakpoint" },
      },
    },
  ),
  snapshots: spec(
    "Reply to `snapshots`: the snapshots the session keeps, oldest first, each without its values (`snapshot` fetches one).",
    array(snapshotSummarySchema),
    {
      e: "snapshots",
      p: [{
        id: 1,
        breakpoint: 2,
        time: "2026-12-06T10:00:12.345Z",
        where: { file: "/srv/jobs/job.py", line: 12, func: "work" },
      }],
    },
  ),
  disable: spec(
    "The session ended (the tracer left, a timeout, or a failed `start`); the server closes the connection next.",
    optional(object({}, { reason: string() })),
    { e: "disable", p: { reason: "The program exited" } },
  ),
  error: spec(
    "A message was refused (malformed, unknown event, bad payload, auth...); the connection lives on unless `disable` follows.",
    errorPayload,
    {
      e: "error",
      p: {
        type: "payload",
        data: 'payload.line must be an integer >= 1, got "7"',
        command: "set_break",
      },
      id: 3,
    },
  ),
} as const;

/** A member of a group, as a group link describes it. */
export const memberSchema = object({
  session: string(),
  state: literal("running", "stopped", "ended", "refused"),
}, {
  tracer: nullable(tracerInfoSchema),
  where: childWhereSchema,
  reason: string(),
  readOnly: boolean(),
});

/** A rule of a group: a breakpoint (a stop, a logpoint or a snapshot) set on all its members. */
export const groupRuleSchema = object({ rule: string(), set: record(any()) });

/**
 * What the server sends on a group link (a client attached to a group rather than a session):
 * besides these, `print` (logpoint output), `snapshot` and `snapshots` (with `session`), and
 * `error`.
 */
export const GROUP_EVENTS = {
  group: spec(
    "Reply to a group link's `start`: the group, its members (sessions whose tracer named the group) and its rules.",
    object({
      group: string(),
      members: array(memberSchema),
      rules: array(groupRuleSchema),
      you: string(),
    }),
    {
      e: "group",
      p: {
        group: "jobs",
        you: "c7",
        members: [
          { session: "jobs-1", state: "running" },
          {
            session: "jobs-2",
            state: "stopped",
            where: { file: "/srv/jobs/job.py", line: 88, func: "work", reason: "breakpoint" },
          },
        ],
        rules: [{ rule: "jobs#1", set: { file: "job.py", line: 88, snapshot: true } }],
      },
    },
  ),
  member: spec(
    "A member joined the group, stopped, ran on or ended (or the auth function refused it to this client).",
    memberSchema,
    { e: "member", p: { session: "jobs-3", state: "running" } },
  ),
  rules: spec(
    "The group's rules changed (a group `set_break` or `clear_break`).",
    array(groupRuleSchema),
    { e: "rules", p: [{ rule: "jobs#1", set: { file: "job.py", line: 88, snapshot: true } }] },
  ),
  applied: spec(
    "Reply to a command sent to a whole group: on how many members it was applied (`sessions` of `of`), the rule it made or cleared, and each member's refusal.",
    object({
      command: string(),
      sessions: integer({ min: 0 }),
      of: integer({ min: 0 }),
    }, {
      rule: string(),
      errors: array(object({ session: string(), data: string() })),
    }),
    {
      e: "applied",
      p: { command: "set_break", rule: "jobs#1", sessions: 20, of: 20 },
      id: 4,
    },
  ),
} as const;

/** Payload schema of the tracer's `start` on the tracer link. */
export const tracerStartPayload = object({
  session: string({ nonEmpty: true, maxLength: 128 }),
  ...tracerFields,
}, {
  auth: string({ maxLength: 4096 }),
  runtime: string(),
  version: string(),
  uuid: string({ maxLength: 128 }),
  resume: string({ maxLength: 128 }),
  capabilities: array(string({ maxLength: 64 }), { maxItems: 64 }),
  groups: array(string({ nonEmpty: true, maxLength: 64 }), { maxItems: MAX_GROUPS }),
  parent: string({ nonEmpty: true, maxLength: 128 }),
  tree: string({ maxLength: 128 }),
});

/**
 * Messages on the tracer link other than the routed client commands (which the server sends
 * to the tracer, with the server's own numeric `id`) and the tracer events (which the tracer
 * sends to the server).
 */
export const LINK_MESSAGES = {
  "start (tracer)": spec(
    "First frame a tracer sends: which session it serves, its auth, and what it runs.",
    tracerStartPayload,
    {
      e: "start",
      p: {
        session: "backtest-42",
        auth: "s3cret",
        protocol: 1,
        engine: "python",
        program: "backtest.py",
        argv: ["backtest.py"],
        pid: 8812,
        host: "worker",
        cwd: "/srv/jobs",
        runtime: "CPython 3.12.1",
        version: "0.1.0",
      },
    },
  ),
  started: spec(
    "The server accepted the tracer: the session id, the server's protocol version, the key with which this tracer may take its session back after losing the link (`resume`), the key of its session tree that the `start` of each of its program's children must carry (`tree`), and where clients attach (`clients`, when the server knows).",
    object({ session: string(), protocol: integer({ min: 1 }), server: string() }, {
      resume: string(),
      tree: string(),
      clients: string(),
    }),
    {
      e: "started",
      p: {
        session: "backtest-42",
        protocol: 1,
        server: "qdb 0.1.0",
        resume: "9b2f6c1e8d3a4f5b",
        tree: "41d07a9e2c5b8f36",
      },
    },
  ),
  "start (routed)": spec(
    "The server forwards a client's successful `start` to the tracer (without its auth), so the tracer sends its state.",
    object({ client: string() }),
    { e: "start", p: { client: "c1" }, id: 17 },
  ),
} as const;

/** A tracer event name. */
export type TracerEventName = keyof typeof TRACER_EVENTS;
/** A server event name. */
export type ServerEventName = keyof typeof SERVER_EVENTS;

/** Payload types of every event a client can receive. */
export type EventPayloads =
  & { [K in TracerEventName]: Infer<(typeof TRACER_EVENTS)[K]["payload"]> }
  & { [K in ServerEventName]: Infer<(typeof SERVER_EVENTS)[K]["payload"]> };

/** A group event name. */
export type GroupEventName = keyof typeof GROUP_EVENTS;
/** A member of a group. */
export type Member = Infer<typeof memberSchema>;
/** A group's rule. */
export type GroupRule = Infer<typeof groupRuleSchema>;
/** Payload of `applied`: what a command sent to a group did. */
export type Applied = Infer<(typeof GROUP_EVENTS)["applied"]["payload"]>;
/** Payload of `snapshot`. */
export type Snapshot = Infer<typeof snapshotPayload>;
/** One snapshot as `snapshots` lists it. */
export type SnapshotSummary = Infer<typeof snapshotSummarySchema>;

/** A frame of a stack. */
export type Frame = Infer<typeof frameSchema>;
/** Payload of `stack`. */
export type StackPayload = Infer<typeof stackPayload>;
/** A breakpoint. */
export type Breakpoint = Infer<typeof breakpointSchema>;
/** A watched expression. */
export type Watch = Infer<typeof watchSchema>;
/** Payload of `print`. */
export type PrintPayload = Infer<typeof printPayload>;
/** Payload of `exception`. */
export type ExceptionPayload = Infer<typeof exceptionPayload>;
/** What a tracer tells about itself. */
export type TracerInfo = Infer<typeof tracerInfoSchema>;
/** A client as others see it. */
export type ClientInfo = Infer<typeof clientInfoSchema>;
/** A live session. */
export type SessionInfo = Infer<typeof sessionInfoSchema>;
/** A child session, as its ancestors' clients see it. */
export type ChildInfo = Infer<typeof childInfoSchema>;
/** Payload of the tracer's `start`. */
export type TracerStart = Infer<typeof tracerStartPayload>;
/** Why the program stopped. */
export type StopReason = Infer<typeof stopReason>;

/** Body of `GET /sessions`. */
export const sessionListSchema = object({
  now: string(),
  sessions: array(sessionInfoSchema),
});

/** Body of `GET /sessions`. */
export type SessionList = Infer<typeof sessionListSchema>;
