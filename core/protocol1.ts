/**
 * Protocol 1's inspection commands, answered by qdb's core for every engine through the
 * engine's primitive requests: `list` (through `source`), `complete` (`completions`), `locals`,
 * `globals` and `args` (`scopes` and `variables`), `eval`, pdb's `p` and `pprint` (`evaluate`
 * with `echo`). An engine implements the primitives only; a protocol 1 client (the terminal, the
 * original qdb's clients) works with it all the same.
 *
 * @module
 */

import type { EngineRequest } from "../engine/engine.ts";
import {
  COMMANDS,
  type ErrorType,
  type Frame,
  type Infer,
  MAX_PAGE,
  type Message,
  type MessageId,
  nullable,
  object,
  RESULTS,
  SchemaError,
  string,
  type TracerMessage,
} from "../protocol/mod.ts";

/** An engine request's result, or its error. */
export type Answer = { result: unknown } | { error: { type: string; data: unknown } };

/** What the translations need of the core. */
export interface Protocol1Context {
  /** The selected frame, or undefined while the program runs. */
  selected(): Frame | undefined;
  /** The selected thread's frames (none while the program runs). */
  frames(): readonly Frame[];
  /** An engine request of the core's own: its result or error; undefined if the program ended. */
  result(command: EngineRequest["p"]["command"], args: unknown): Promise<Answer | undefined>;
  /** Sends a message to the server, in order with the core's others. */
  push(msg: TracerMessage): void;
  /** A command's error. */
  fail(command: string, id: MessageId | undefined, type: ErrorType, text: string): void;
  /** A request of the core's own failed (or the program ended): the command's error. */
  answerFailed(
    command: string,
    id: MessageId | undefined,
    answer: { error: { type: string; data: unknown } } | undefined,
  ): void;
  /** Code ran: the watches are evaluated again and sent (`watchlist`). */
  afterEval(id: MessageId | undefined): Promise<void>;
}

/** The engine's answer to `locate`: the file as breakpoints name it, and as the person did. */
const LOCATED = object({ path: nullable(string()), name: string() });

/** Most names protocol 1's `locals` and `globals` show of one scope. */
const MAX_NAMES = 10_000;

/** The most of a file that `list` without a range gives: a source file, not a log. */
const MAX_LIST_CHARS = 4 * 1024 * 1024;

/** Protocol 1's inspection commands over an engine's primitive requests. */
export class Protocol1 {
  readonly #ctx: Protocol1Context;

  constructor(ctx: Protocol1Context) {
    this.#ctx = ctx;
  }

  /**
   * Protocol 1's `list`, for every engine: the file (the selected frame's, the program's while
   * it runs, or one the person named, found as breakpoints find it) through `source`, cut to
   * the lines asked for. A range with one end open gets 11 lines, as pdb's `list`.
   */
  async list(command: Message): Promise<void> {
    let p: Infer<typeof COMMANDS.list.payload>;
    try {
      p = COMMANDS.list.payload.check(command.p, "payload");
    } catch (error) {
      const text = error instanceof SchemaError ? error.message : String(error);
      return this.#ctx.fail("list", command.id, "payload", text);
    }
    // The selected frame's file, or a file of this stop's frames by the name it shows.
    let path = p?.file === undefined
      ? this.#ctx.selected()?.file
      : this.#ctx.frames().find((f) => f.file === p.file)?.file;
    let label = path;
    if (path === undefined) {
      const found = await this.#ctx.result("locate", p?.file === undefined ? {} : { file: p.file });
      const place = found && "result" in found ? LOCATED.check(found.result, "answer") : undefined;
      label = p?.file ?? place?.name ?? "the program";
      if (!place?.path) {
        return this.#ctx.fail("list", command.id, "list", `Cannot list ${label}: no such file`);
      }
      path = place.path;
    }
    const answer = await this.#ctx.result("source", { path });
    if (!answer || "error" in answer) {
      const why = answer?.error.data ?? "the program ended";
      return this.#ctx.fail(
        "list",
        command.id,
        "list",
        `Cannot list ${label}: ${String(why).replace(/^Cannot read [^:]*: /, "")}`,
      );
    }
    const { text } = RESULTS.source.check(answer.result, "answer");
    let start = p?.start;
    let end = p?.end;
    if (start !== undefined || end !== undefined) {
      start ??= Math.max(1, end! - 10);
      end ??= start + 10;
    } else if (text.length > MAX_LIST_CHARS) {
      return this.#ctx.fail(
        "list",
        command.id,
        "list",
        `Cannot list ${label}: it has more than ${MAX_LIST_CHARS} characters; list a range of lines instead`,
      );
    }
    const lines = text.split(/(?<=\n)/);
    const out: TracerMessage = {
      e: "list",
      p: start === undefined ? text : lines.slice(start - 1, end).join(""),
    };
    if (command.id !== undefined) out.id = command.id;
    this.#ctx.push(out);
  }

  /**
   * Protocol 1's `eval` (a REPL line; `{code, repr}`: pdb's `p`) and `pprint`, for every
   * engine: `evaluate` with `echo` in the selected frame, shown as the REPL would (what the code
   * printed, then the value or the exception) in one `print`. Code that ran may have changed
   * what the watches show: after an `eval` they are evaluated again.
   */
  async evaluate(command: Message, name: "eval" | "pprint"): Promise<void> {
    let code: string;
    let echo: "repl" | "repr" | "pretty";
    try {
      const p = COMMANDS[name].payload.check(command.p, "payload");
      code = typeof p === "string" ? p : p.code;
      echo = name === "pprint" ? "pretty" : typeof p !== "string" && p.repr ? "repr" : "repl";
    } catch (error) {
      const why = error instanceof SchemaError ? error.message : String(error);
      return this.#ctx.fail(name, command.id, "payload", why);
    }
    const frame = this.#ctx.selected()?.id;
    if (frame === undefined) {
      const why = `${name} needs a stopped program, and it is running (send pause first)`;
      return this.#ctx.fail(name, command.id, "running", why);
    }
    const answer = await this.#ctx.result("evaluate", { expr: code, frame, context: "repl", echo });
    if (!answer || "error" in answer) return this.#ctx.answerFailed(name, command.id, answer);
    const r = RESULTS.evaluate.check(answer.result, "answer");
    const text = (r.output ?? "") + (r.display !== undefined ? `${r.display}\n` : "");
    const out: TracerMessage = {
      e: "print",
      p: { input: code, exc: r.raised === true, output: text.replace(/\n$/, "") },
    };
    if (command.id !== undefined) out.id = command.id;
    this.#ctx.push(out);
    if (name === "eval") await this.#ctx.afterEval(command.id);
  }

  /**
   * Protocol 1's `locals`, `globals` and `args`, for every engine: the selected frame's scopes
   * (locals with the closure's, globals, or the parameters of the locals, in order), name to
   * repr, read through `scopes` and `variables` a page at a time.
   */
  async namespace(command: Message, name: "locals" | "globals" | "args"): Promise<void> {
    const frame = this.#ctx.selected()?.id;
    if (frame === undefined) {
      const why = `${name} needs a stopped program, and it is running (send pause first)`;
      return this.#ctx.fail(name, command.id, "running", why);
    }
    const answer = await this.#ctx.result("scopes", { frame });
    if (!answer || "error" in answer) return this.#ctx.answerFailed(name, command.id, answer);
    const { scopes } = RESULTS.scopes.check(answer.result, "answer");
    const own = scopes.filter((s) => s.kind !== "globals");
    // A module's frame has no locals of its own: its globals are its locals.
    const chosen = name === "globals" || own.length === 0
      ? scopes.filter((s) => s.kind === "globals")
      : own;
    const values = new Map<string, string>();
    for (const scope of chosen) {
      for (let start = 0; start < Math.min(scope.named, MAX_NAMES); start += MAX_PAGE) {
        const page = await this.#ctx.result("variables", {
          ref: scope.ref,
          start,
          count: MAX_PAGE,
        });
        if (!page || "error" in page) return this.#ctx.answerFailed(name, command.id, page);
        const { variables } = RESULTS.variables.check(page.result, "answer");
        for (const v of variables) values.set(v.name, v.value);
        if (variables.length < MAX_PAGE) break;
      }
    }
    let names = [...values.keys()];
    if (name === "args") {
      const params = scopes.find((s) => s.kind === "locals")?.args ?? [];
      names = params.filter((n) => values.has(n));
    }
    const out: TracerMessage = {
      e: name,
      p: Object.fromEntries(names.map((n) => [n, values.get(n)!])),
    };
    if (command.id !== undefined) out.id = command.id;
    this.#ctx.push(out);
  }

  /** Protocol 1's `complete`: `completions` in the selected frame, for every engine. */
  async complete(command: Message): Promise<void> {
    let text: string;
    try {
      text = COMMANDS.complete.payload.check(command.p, "payload");
    } catch (error) {
      const why = error instanceof SchemaError ? error.message : String(error);
      return this.#ctx.fail("complete", command.id, "payload", why);
    }
    const frame = this.#ctx.selected()?.id;
    const answer = await this.#ctx.result(
      "completions",
      frame === undefined ? { text } : { text, frame },
    );
    if (!answer || "error" in answer) return this.#ctx.answerFailed("complete", command.id, answer);
    const { matches } = RESULTS.completions.check(answer.result, "answer");
    const out: TracerMessage = { e: "completions", p: { text, matches } };
    if (command.id !== undefined) out.id = command.id;
    this.#ctx.push(out);
  }
}
