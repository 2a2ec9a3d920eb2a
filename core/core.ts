/**
 * The engine-neutral debugger core: it stands between the tracer's link to the server and a
 * debug engine, and is the one place where protocol 2's commands become engine requests and
 * their answers become replies.
 *
 * It owns, for every engine:
 * - reply correlation for protocol 2's commands: each gets exactly one `ok` (with a result
 *   checked against the protocol's schema) or `error`, with the command's id, even when the
 *   engine fails, sends something malformed, or the program ends first;
 * - the watchlist (`set_watch`, `clear_watch`): refreshed through the engine's `evaluate` at
 *   every stop, at every change of the selected frame and after every `eval`, and sent before the
 *   stop it belongs to;
 * - the breakpoint table and its ids (./breakpoints.ts): protocol 1's breakpoint commands and
 *   protocol 2's `set_breakpoints` become the engine's primitive requests, and the table's
 *   `breakpoints` event is made here, with what the engine reports by itself (hit counts, a
 *   pending breakpoint bound, a temporary one gone);
 * - protocol 1's selected frame, shared by the session's clients: `up`, `down` and `frame`
 *   (which may also select another stopped thread) are answered here, and the commands that act
 *   on the selected frame (`eval`, `locals`, `list`, `next`, `return`, `until`, ...) go to the
 *   engine with its frame id; a stack sent again (`where`, a new client) shows the selection;
 * - checking every engine event against the protocol (the engine runs in the debugged program).
 *
 * The engine keeps what must be fast or needs the program: where a breakpoint goes, the rules
 * of a hit, running code, stepping.
 *
 * @example
 * ```ts ignore
 * import { DebugCore } from "./core.ts";
 * const core = new DebugCore(engineSession);
 * core.send({ e: "threads", id: 7 });
 * for await (const event of core.events) console.log(event); // ... {e: "ok", id: 7, p: {...}}
 * ```
 * @module
 */

import type { EngineRequest, EngineSession } from "../engine/engine.ts";
import {
  array,
  boolean,
  checkTracerMessage,
  COMMANDS,
  ERROR_TYPES,
  errorEvent,
  type ErrorType,
  type Frame,
  type Infer,
  integer,
  isCommandName,
  isRequestCommand,
  MAX_PAGE,
  type Message,
  type MessageId,
  object,
  ProtocolError,
  type RequestCommand,
  RESULTS,
  SchemaError,
  type StackPayload,
  stopReason,
  string,
  threadSchema,
  type TracerMessage,
} from "../protocol/mod.ts";
import { AsyncQueue } from "../transport/async_queue.ts";
import { BREAKPOINT_STATE, Breakpoints } from "./breakpoints.ts";
import { Watches, WatchLimitError } from "./watches.ts";
import { type Answer, Protocol1 } from "./protocol1.ts";

/** A request sent to the engine and not answered yet. */
interface Pending {
  /** The client command it serves. */
  readonly command: RequestCommand;
  /** The id to answer with (the server's id of the client's command). */
  readonly id: MessageId | undefined;
}

/** A piece of work for the processing stage, in the order it arrived. */
type Work =
  | { kind: "event"; event: Message }
  | { kind: "local"; run: () => Promise<void> | void };

const watchValue = object({ exc: boolean(), value: string({ maxLength: 100_000 }) });

/** The engine's answer to `watch`: a value or an exception per expression, in order. */
const WATCH_VALUES = object({ result: object({ values: array(watchValue) }) });

/** The engine's `watch_values` event: the watches it evaluated at a stop, sent before it. */
const STOP_WATCH_VALUES = object({ exprs: array(string()), values: array(watchValue) });

/**
 * Protocol 1's selected frame: a thread's frames (oldest first, as `stack` lists them) and the
 * index of the selected one. At a stop it is the stopped thread's newest frame.
 */
interface Selection {
  /** The stop's own `stack` payload. */
  readonly stop: StackPayload;
  /** The selected thread's frames: the stop's own, or a held thread's. */
  readonly frames: Frame[];
  /** The selected thread. */
  readonly thread: StackPayload["thread"];
  /** The selected frame, an index into `frames`. */
  index: number;
}

/** Most frames of a held thread that `frame {thread}` fetches (protocol 2's page limit). */
const MAX_HELD_FRAMES = 1000;

/** The engine's `stopped` event: which thread stopped, and why. */
const STOPPED = object({ thread: threadSchema, reason: stopReason }, {
  breakpoint: integer({ min: 1 }),
  post_mortem: boolean(),
  depth: integer({ min: 1 }),
});

/** Most frames of a stop that protocol 1's `stack` shows (a deep recursion has more). */
const MAX_STOP_FRAMES = 10_000;

/** The answer to the core's own `stack_trace`: a stopped thread's frames, newest first. */
const STACK_TRACE = object({ result: RESULTS.stack_trace });

/** Commands whose replies the core adds to (the id remembered until their reply). */
const FOLLOWED = new Set(["start"]);
/** Most commands followed at once; the oldest is forgotten past it. */
const MAX_FOLLOWED = 1000;

/** The debugger core over one engine session. */
export class DebugCore {
  /**
   * What goes to the server, in order: the engine's events (checked: the engine runs inside the
   * debugged program) and the replies made here.
   */
  readonly events: AsyncIterable<TracerMessage>;
  readonly #engine: Pick<EngineSession, "send" | "events">;
  readonly #out = new AsyncQueue<TracerMessage>();
  readonly #work = new AsyncQueue<Work>();
  readonly #pending = new Map<string, Pending>();
  /** The core's own engine requests (watch evaluations), answered straight from the reader. */
  readonly #internal = new Map<string, (answer: Message | undefined) => void>();
  readonly #followed = new Map<MessageId, string>();
  readonly #watches = new Watches();
  #nextRequest = 1;
  #ended = false;
  /** Whether the program is stopped, as the engine's events said. */
  #stopped = false;
  /** Watch values the engine sent for the stop that comes next. */
  #stopValues: Infer<typeof STOP_WATCH_VALUES> | undefined;
  /** Protocol 1's selected frame while the program is stopped. */
  #selection: Selection | undefined;
  readonly #breakpoints = new Breakpoints((command, args) => this.#ask(command, args));
  /** Protocol 1's inspection commands, answered here through the engine's requests. */
  readonly #protocol1 = new Protocol1({
    selected: () => this.#selection?.frames[this.#selection.index],
    frames: () => this.#selection?.frames ?? [],
    result: (command, args) => this.#result(command, args),
    push: (msg) => this.#out.push(msg),
    fail: (command, id, type, text) => this.#fail(command, id, type, text),
    answerFailed: (command, id, answer) => this.#answerFailed(command, id, answer),
    afterEval: async (id) => {
      await this.#refresh();
      this.#out.push(this.#watchlist(id));
    },
  });

  /** Takes the engine's events from now on. */
  constructor(engine: Pick<EngineSession, "send" | "events">) {
    this.#engine = engine;
    this.events = this.#out;
    void this.#read();
    void this.#process();
  }

  /** Requests sent to the engine and not answered yet. */
  get pending(): number {
    return this.#pending.size;
  }

  /** Handles a client command (checked by the server) that the tracer received. */
  send(command: Message): void {
    if (command.e === "set_watch" || command.e === "clear_watch") {
      this.#work.push({ kind: "local", run: () => this.#watchCommand(command) });
      return;
    }
    if (!isRequestCommand(command.e)) {
      // In order with the selections before it.
      this.#work.push({ kind: "local", run: () => this.#v1Command(command) });
      return;
    }
    const name = command.e;
    let args: unknown;
    // The editor's breakpoints for a file are the core's table: read by their own schema.
    let forFile: Infer<typeof COMMANDS.set_breakpoints.payload> | undefined;
    try {
      if (name === "set_breakpoints") {
        forFile = COMMANDS.set_breakpoints.payload.check(command.p, "payload");
      } else args = COMMANDS[name].payload.check(command.p, "payload") ?? {};
    } catch (error) {
      const text = error instanceof SchemaError ? error.message : String(error);
      return this.#fail(name, command.id, "payload", text);
    }
    if (this.#ended) {
      return this.#fail(name, command.id, "tracer", "The program has ended");
    }
    if (forFile !== undefined) {
      const p = forFile;
      this.#work.push({
        kind: "local",
        run: () =>
          this.#breakpointCommand(command, async () => {
            const result = await this.#breakpoints.setForFile(p);
            this.#out.push(this.#breakpointsEvent(undefined));
            const reply: TracerMessage = {
              e: "ok",
              p: RESULTS.set_breakpoints.check(result, "result"),
            };
            if (command.id !== undefined) reply.id = command.id;
            this.#out.push(reply);
          }),
      });
      return;
    }
    const key = `q${this.#nextRequest++}`;
    this.#pending.set(key, { command: name, id: command.id });
    const request: EngineRequest = { e: "request", id: key, p: { command: name, args } };
    this.#engine.send(request);
  }

  /** Reader stage: the core's own answers at once, everything else to the processing stage. */
  async #read(): Promise<void> {
    try {
      for await (const event of this.#engine.events) {
        const key = typeof event.id === "string" ? event.id : undefined;
        const own = key === undefined ? undefined : this.#internal.get(key);
        if (own && (event.e === "response" || event.e === "error")) {
          this.#internal.delete(key!);
          own(event);
          continue;
        }
        this.#work.push({ kind: "event", event });
      }
    } finally {
      for (const own of this.#internal.values()) own(undefined);
      this.#internal.clear();
      this.#ended = true;
      this.#work.end();
    }
  }

  /** Processing stage: one piece of work after the other, so that what goes out stays in order. */
  async #process(): Promise<void> {
    try {
      for await (const work of this.#work) {
        try {
          if (work.kind === "local") await work.run();
          else await this.#handle(work.event);
        } catch (error) {
          this.#out.push(errorEvent(
            new ProtocolError("internal", `qdb's core failed: ${String(error)}`),
          ) as TracerMessage);
        }
      }
    } finally {
      this.#endPending("The program ended before answering");
      this.#out.end();
    }
  }

  async #handle(event: Message): Promise<void> {
    const key = typeof event.id === "string" ? event.id : undefined;
    const pending = key === undefined ? undefined : this.#pending.get(key);
    if (pending) {
      this.#pending.delete(key!);
      if (event.e === "response") this.#answer(pending, event.p);
      // The engine refused the request itself (its program is gone, say).
      else if (event.e === "error") this.#answerError(pending, event.p);
      else this.#out.push(this.#checked(event));
      return;
    }
    if (event.e === "response") return; // Not ours (answered already): dropped.
    if (event.e === "stopped") return await this.#onStopped(event);
    if (event.e === "breakpoint_state") {
      // Hit counts at a stop, a pending breakpoint bound, a temporary one gone, or those set
      // before the program ran: the table changes, and every client sees it.
      try {
        this.#breakpoints.apply(BREAKPOINT_STATE.check(event.p, "breakpoint_state"));
      } catch (error) {
        const text = error instanceof SchemaError ? error.message : String(error);
        return this.#out.push(errorEvent(
          new ProtocolError("internal", `The engine sent a malformed event: ${text}`),
        ) as TracerMessage);
      }
      return this.#out.push(this.#breakpointsEvent(event.id));
    }
    if (event.e === "watch_values") {
      try {
        this.#stopValues = STOP_WATCH_VALUES.check(event.p, "watch_values");
      } catch {
        this.#stopValues = undefined; // Evaluated again when the stop comes.
      }
      return;
    }
    const checked = this.#checked(event);
    const followed = checked.id === undefined ? undefined : this.#followed.get(checked.id);
    switch (checked.e) {
      case "exited":
        this.#stopped = false;
        this.#selection = undefined;
        this.#endPending("The program ended before answering");
        break;
      case "stack": {
        // A new stop: the selection is its newest frame, where the watches are evaluated. The
        // same stop sent again (to a new client, or for `where`) shows the selection and the
        // values already known. Values the engine sent belong to the stack that follows them.
        const known = this.#stopValues;
        this.#stopValues = undefined;
        // A jump (`goto`) moved the stop: it is selected and watched as a new one.
        if (!this.#stopped || !this.#selection || checked.p.reason === "goto") {
          this.#stopped = true;
          this.#selection = {
            stop: checked.p,
            frames: checked.p.stack,
            thread: checked.p.thread,
            index: checked.p.index,
          };
          if (!known || !this.#watches.take(known.exprs, known.values)) await this.#refresh();
          this.#out.push(this.#watchlist(checked.id));
        } else {
          if (followed === "start") this.#out.push(this.#watchlist(checked.id));
          const selection = this.#selection;
          if (selection.thread?.id === checked.p.thread?.id) {
            this.#out.push({ ...checked, p: { ...checked.p, index: selection.index } });
            if (followed === "start") this.#followed.delete(checked.id!);
            return;
          }
        }
        if (followed === "start") this.#followed.delete(checked.id!);
        break;
      }
      case "running":
        if (followed === "start") {
          this.#followed.delete(checked.id!);
          this.#out.push(this.#watchlist(checked.id));
        }
        this.#stopped = false;
        this.#selection = undefined;
        this.#stopValues = undefined;
        break;
      case "snapshot": {
        // Which group rule set it, for the clients of a fleet.
        const rule = this.#breakpoints.list().find((bp) => bp.id === checked.p.breakpoint)?.rule;
        if (rule !== undefined) return this.#out.push({ ...checked, p: { ...checked.p, rule } });
        break;
      }
    }
    this.#out.push(checked);
  }

  /**
   * A protocol 1 command: the selection's and the breakpoint table's are answered here, the
   * others sent on.
   */
  async #v1Command(command: Message): Promise<void> {
    const selection = this.#selection;
    switch (command.e) {
      case "up":
      case "down":
      case "frame":
        return await this.#select(command);
      case "breakpoints":
        return this.#out.push(this.#breakpointsEvent(command.id));
      case "list":
        return await this.#protocol1.list(command);
      case "complete":
        return await this.#protocol1.complete(command);
      case "locals":
      case "globals":
      case "args":
        return await this.#protocol1.namespace(command, command.e);
      case "eval":
      case "pprint":
        return await this.#protocol1.evaluate(command, command.e);
      case "set_break":
      case "clear_break":
      case "update_break": {
        const name = command.e;
        const table = this.#breakpoints;
        let change: () => Promise<unknown>;
        try {
          if (name === "set_break") {
            const p = COMMANDS.set_break.payload.check(command.p, "payload");
            change = () => table.set(p);
          } else if (name === "clear_break") {
            const p = COMMANDS.clear_break.payload.check(command.p, "payload");
            change = () => table.clear(p);
          } else {
            const p = COMMANDS.update_break.payload.check(command.p, "payload");
            change = () => table.update(p);
          }
        } catch (error) {
          const text = error instanceof SchemaError ? error.message : String(error);
          return this.#fail(name, command.id, "payload", text);
        }
        return await this.#breakpointCommand(command, async () => {
          await change();
          this.#out.push(this.#breakpointsEvent(command.id));
        });
      }
      case "start":
        // A new client: the table first, then the engine says where the program is.
        this.#out.push(this.#breakpointsEvent(command.id));
        break;
    }
    if ((command.e === "stack" || command.e === "pause") && selection) {
      // `where` (and a pause of a stopped program): the stop as selected; in a held thread,
      // its frames.
      if (selection.thread?.id !== selection.stop.thread?.id) {
        return this.#out.push(this.#selectionStack(selection, command.id));
      }
      const msg: TracerMessage = {
        e: "stack",
        p: { ...selection.stop, index: selection.index },
      };
      if (command.id !== undefined) msg.id = command.id;
      return this.#out.push(msg);
    }
    if (command.e === "stack") {
      const why = "The program is running: there is no stack to show (send pause first)";
      return this.#fail("stack", command.id, "running", why);
    }
    // What acts on a stopped program is refused here while it runs, for every engine.
    if (isCommandName(command.e) && COMMANDS[command.e].needsStop && !selection) {
      const why = `${command.e} needs a stopped program, and it is running (send pause first)`;
      return this.#fail(command.e, command.id, "running", why);
    }
    if (FOLLOWED.has(command.e) && command.id !== undefined) {
      this.#followed.set(command.id, command.e);
      if (this.#followed.size > MAX_FOLLOWED) {
        this.#followed.delete(this.#followed.keys().next().value!);
      }
    }
    const frame = selection?.frames[selection.index]?.id;
    this.#engine.send(frame === undefined ? command : { ...command, frame });
  }

  /** A request of the core's own failed (or the program ended): the command's error. */
  #answerFailed(
    command: string,
    id: MessageId | undefined,
    answer: { error: { type: string; data: unknown } } | undefined,
  ): void {
    this.#answerError(
      { command, id },
      answer?.error ?? { type: "tracer", data: "The program ended before answering" },
    );
  }

  /** The result of an engine request of the core's own, or its error; undefined if it ended. */
  async #result(
    command: EngineRequest["p"]["command"],
    args: unknown,
  ): Promise<Answer | undefined> {
    const answer = await this.#ask(command, args);
    if (!answer) return undefined;
    const p = answer.p;
    if (answer.e === "response" && p && typeof p === "object") {
      if ("result" in p) return { result: p.result };
      if ("error" in p && p.error && typeof p.error === "object") {
        const error = p.error as { type?: unknown; data?: unknown };
        return { error: { type: String(error.type ?? "internal"), data: error.data } };
      }
    }
    const data = p && typeof p === "object" && "data" in p ? p.data : "no answer";
    return { error: { type: "internal", data } };
  }

  /**
   * The engine's `stopped`: a thread stopped. Its frames come from `stack_trace` (every page),
   * and the stop is shown as protocol 1's `stack`, the selection and watches following it. A
   * stop the program left before its frames came is not shown.
   */
  async #onStopped(event: Message): Promise<void> {
    let p: Infer<typeof STOPPED>;
    try {
      p = STOPPED.check(event.p, "stopped");
    } catch (error) {
      const text = error instanceof SchemaError ? error.message : String(error);
      return this.#out.push(errorEvent(
        new ProtocolError("internal", `The engine sent a malformed event: ${text}`),
      ) as TracerMessage);
    }
    const frames: Frame[] = [];
    for (let total = 1; frames.length < Math.min(total, MAX_STOP_FRAMES);) {
      const answer = await this.#result("stack_trace", {
        thread: p.thread.id,
        start: frames.length,
        levels: MAX_PAGE,
      });
      if (!answer || "error" in answer) return;
      const page = RESULTS.stack_trace.check(answer.result, "answer");
      total = page.total;
      if (page.frames.length === 0) break;
      for (const { id, func, file, line, code } of page.frames) {
        frames.push({ id, func, file, line, code });
      }
    }
    if (frames.length === 0) return;
    const stack: StackPayload = {
      index: frames.length - 1,
      stack: frames.reverse(),
      thread: p.thread,
      reason: p.reason,
    };
    if (p.breakpoint !== undefined) stack.breakpoint = p.breakpoint;
    if (p.post_mortem) stack.post_mortem = true;
    if (p.depth !== undefined) stack.depth = p.depth;
    await this.#handle(
      event.id === undefined ? { e: "stack", p: stack } : {
        e: "stack",
        p: stack,
        id: event.id,
      },
    );
  }

  /** Runs a breakpoint command; a failure becomes its error (nothing else changed). */
  async #breakpointCommand(command: Message, run: () => Promise<void>): Promise<void> {
    try {
      await run();
    } catch (error) {
      if (error instanceof ProtocolError) {
        return this.#fail(command.e, command.id, error.type, error.message);
      }
      if (error instanceof SchemaError) {
        return this.#fail(
          command.e,
          command.id,
          "internal",
          `The engine's answer: ${error.message}`,
        );
      }
      throw error;
    }
  }

  /** Protocol 1's `breakpoints` event: the whole table. */
  #breakpointsEvent(id: MessageId | undefined): TracerMessage {
    const msg: TracerMessage = { e: "breakpoints", p: this.#breakpoints.list() };
    if (id !== undefined) msg.id = id;
    return msg;
  }

  /** `up`, `down` and `frame`: a new selection, answered with the watchlist and the stack. */
  async #select(command: Message): Promise<void> {
    const current = this.#selection;
    const name = command.e;
    if (!current) {
      return this.#fail(
        name,
        command.id,
        "running",
        `${name} needs a stopped program, and it is running (send pause first)`,
      );
    }
    let frames = current.frames;
    let thread = current.thread;
    let index = current.index;
    // Checked by the server already; read again here, typed (a count, a frame or a thread's).
    let p: number | { thread: number; index?: number } | undefined;
    try {
      p = name === "frame"
        ? COMMANDS.frame.payload.check(command.p, "payload")
        : name === "up" || name === "down"
        ? COMMANDS[name].payload.check(command.p, "payload")
        : undefined;
    } catch (error) {
      if (!(error instanceof SchemaError)) throw error;
      return this.#fail(name, command.id, "payload", error.message);
    }
    if (name === "frame" && typeof p === "object") {
      const { thread: id, index: at } = p;
      if (id === current.stop.thread?.id) {
        frames = current.stop.stack;
        thread = current.stop.thread;
      } else {
        const answer = await this.#result("stack_trace", { thread: id, levels: MAX_HELD_FRAMES });
        if (!answer || "error" in answer) {
          return this.#answerError(
            { command: "frame", id: command.id },
            answer?.error ?? { type: "tracer", data: "The program ended before answering" },
          );
        }
        const { frames: newest } = STACK_TRACE.check(answer, "answer").result;
        frames = newest.map(({ id, func, file, line, code }) => ({ id, func, file, line, code }))
          .reverse();
        const names = await this.#threadName(id);
        thread = { id, name: names };
      }
      if (this.#selection !== current) return; // The program resumed meanwhile.
      if (at !== undefined && at >= frames.length) {
        return this.#fail(
          name,
          command.id,
          "frame",
          `No frame ${at}: the stack has frames 0 to ${frames.length - 1}`,
        );
      }
      index = at ?? frames.length - 1;
    } else if (name === "frame" && typeof p === "number") {
      const n = p;
      if (n >= frames.length) {
        return this.#fail(
          name,
          command.id,
          "frame",
          `No frame ${n}: the stack has frames 0 to ${frames.length - 1}`,
        );
      }
      index = n;
    } else {
      const count = typeof p === "number" ? p : 1;
      if (name === "up") {
        if (index === 0) return this.#fail(name, command.id, "up", "Oldest frame");
        index = Math.max(0, index - count);
      } else {
        if (index === frames.length - 1) {
          return this.#fail(name, command.id, "down", "Newest frame");
        }
        index = Math.min(frames.length - 1, index + count);
      }
    }
    const selection: Selection = { stop: current.stop, frames, thread, index };
    this.#selection = selection;
    await this.#refresh();
    if (this.#selection !== selection) return;
    this.#out.push(this.#watchlist(command.id));
    this.#out.push(this.#selectionStack(selection, command.id));
  }

  /** A thread's name, from the engine's list (its id when the engine does not say). */
  async #threadName(id: number): Promise<string> {
    const answer = await this.#ask("threads", {});
    try {
      const body = object({ result: RESULTS.threads }).check(answer?.p, "answer");
      return body.result.threads.find((t) => t.id === id)?.name ?? `Thread-${id}`;
    } catch {
      return `Thread-${id}`;
    }
  }

  /** The selection as protocol 1's `stack` event with reason `select`. */
  #selectionStack(selection: Selection, id: MessageId | undefined): TracerMessage {
    const { stop, frames, thread, index } = selection;
    const p: StackPayload = { index, stack: frames, reason: "select" };
    if (thread) p.thread = thread;
    if (stop.post_mortem) p.post_mortem = true;
    const msg: TracerMessage = { e: "stack", p };
    if (id !== undefined) msg.id = id;
    return msg;
  }

  /** `set_watch` and `clear_watch`: answered with the watchlist (evaluated when stopped). */
  async #watchCommand(command: Message): Promise<void> {
    let exprs: string[];
    try {
      exprs = COMMANDS.set_watch.payload.check(command.p, "payload");
    } catch (error) {
      if (!(error instanceof SchemaError)) throw error;
      return this.#fail(command.e, command.id, "payload", error.message);
    }
    if (command.e === "set_watch") {
      try {
        this.#watches.add(exprs);
      } catch (error) {
        if (!(error instanceof WatchLimitError)) throw error;
        return this.#fail(command.e, command.id, "limit", error.message);
      }
      if (this.#stopped) await this.#refresh();
    } else this.#watches.remove(exprs);
    // The engine evaluates them at the next stops itself, before sending each.
    void this.#ask("set_stop_watches", { exprs: this.#watches.exprs() });
    this.#out.push(this.#watchlist(command.id));
  }

  async #refresh(): Promise<void> {
    const selection = this.#selection;
    const frame = selection?.frames[selection.index]?.id;
    await this.#watches.refresh(async (exprs) => {
      const answer = await this.#result(
        "watch",
        frame === undefined ? { exprs } : { exprs, frame },
      );
      try {
        return WATCH_VALUES.check(answer, "answer").result.values;
      } catch {
        const why = answer && "error" in answer ? answer.error.data : "the engine gave no answer";
        return exprs.map(() => ({ exc: true, value: String(why) }));
      }
    });
  }

  /** An engine request of the core's own; undefined when the engine ended first. */
  #ask(command: EngineRequest["p"]["command"], args: unknown): Promise<Message | undefined> {
    if (this.#ended) return Promise.resolve(undefined);
    const key = `w${this.#nextRequest++}`;
    return new Promise((resolve) => {
      this.#internal.set(key, resolve);
      this.#engine.send({ e: "request", id: key, p: { command, args } });
    });
  }

  #watchlist(id: MessageId | undefined): TracerMessage {
    const msg: TracerMessage = { e: "watchlist", p: this.#watches.list() };
    if (id !== undefined) msg.id = id;
    return msg;
  }

  /** An engine event as the protocol describes it, or an internal error saying what was wrong. */
  #checked(event: Message): TracerMessage {
    try {
      return checkTracerMessage(event);
    } catch (error) {
      const text = error instanceof ProtocolError ? error.message : String(error);
      return errorEvent(
        new ProtocolError("internal", `The engine sent a malformed event: ${text}`, {
          ...(event.id !== undefined ? { id: event.id } : {}),
        }),
      ) as TracerMessage;
    }
  }

  #answer(pending: Pending, p: unknown): void {
    const body = (typeof p === "object" && p !== null ? p : {}) as Record<string, unknown>;
    if ("error" in body) return this.#answerError(pending, body.error);
    try {
      const result = RESULTS[pending.command].check(body.result, "result");
      const reply: TracerMessage = { e: "ok", p: result };
      if (pending.id !== undefined) reply.id = pending.id;
      this.#out.push(reply);
    } catch (error) {
      const text = error instanceof SchemaError ? error.message : String(error);
      this.#fail(
        pending.command,
        pending.id,
        "internal",
        `The engine's answer to "${pending.command}" is not valid: ${text}`,
      );
    }
  }

  #answerError(pending: { command: string; id: MessageId | undefined }, p: unknown): void {
    const error = (typeof p === "object" && p !== null ? p : {}) as {
      type?: unknown;
      data?: unknown;
    };
    const type = typeof error.type === "string" && Object.hasOwn(ERROR_TYPES, error.type)
      ? error.type as ErrorType
      : "internal";
    const data = typeof error.data === "string"
      ? error.data
      : `The engine failed to answer "${pending.command}"`;
    this.#fail(pending.command, pending.id, type, data);
  }

  #fail(command: string, id: MessageId | undefined, type: ErrorType, text: string): void {
    this.#out.push(errorEvent(new ProtocolError(type, text, { command, id })) as TracerMessage);
  }

  #endPending(why: string): void {
    for (const pending of this.#pending.values()) {
      this.#fail(pending.command, pending.id, "tracer", why);
    }
    this.#pending.clear();
  }
}
