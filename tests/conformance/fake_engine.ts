/**
 * A scripted engine in memory that keeps the engine contract (tests/conformance/contract.ts)
 * for the contract's program, with no Python: it lets the suite test the core alone, and shows
 * in a page what a new engine must answer.
 *
 * @module
 */

import { createHash } from "node:crypto";
import type { EngineRequest } from "../../engine/engine.ts";
import type { Message } from "../../protocol/mod.ts";
import { AsyncQueue } from "../../transport/async_queue.ts";

/** A value of the scripted program. */
type Value = number | string | number[];

const THREAD = { id: 1, name: "MainThread" };

/** The lines of the contract program that have code. */
const CODE_LINES = new Set([2, 3, 4, 7, 8, 9]);

/** The contract program, stop by stop: `visit(items, n)` for n = 0, 1. */
export class FakeEngine {
  readonly events = new AsyncQueue<Message>();
  readonly #program: string;
  readonly #source: string;
  #n = 0;
  #running = false;
  #nextId = 1;
  /** Frame ids and references of this stop; forgotten at each resume. */
  #frames = new Map<number, "visit" | "<module>">();
  /** The breakpoints the core placed (and the one from the configuration, id 1). */
  #bps = new Map<number, Record<string, unknown>>();
  #refs = new Map<
    number,
    { scope: "locals" | "globals"; frame: "visit" | "<module>" } | { list: number[] }
  >();

  constructor(program: string, source: string) {
    this.#program = program;
    this.#source = source;
    // As if launched with a breakpoint on visit's return line: it hits at every stop.
    const configured = this.#placed({ id: 1, line: 4 });
    this.#bps.set(1, configured);
    this.events.push({
      e: "breakpoint_state",
      p: { added: [configured], changed: [], removed: [] },
    });
    this.#stop();
  }

  #placed(bp: Record<string, unknown>): Record<string, unknown> {
    return {
      id: bp.id,
      file: this.#program,
      line: bp.line,
      temp: bp.temp ?? false,
      cond: bp.cond ?? null,
      func: null,
      enabled: bp.enabled ?? true,
      ignore: bp.ignore ?? 0,
      hits: 0,
      verified: true,
    };
  }

  send(msg: Message | EngineRequest): void {
    if (msg.e === "request") return this.#request(msg as EngineRequest);
    if (msg.e === "continue" && !this.#running) return this.#resume(msg);
    this.events.push({
      e: "error",
      p: { type: "event", data: `The fake engine does not do "${msg.e}"`, command: msg.e },
      ...(msg.id !== undefined ? { id: msg.id } : {}),
    });
  }

  #stop(): void {
    this.#running = false;
    // The stop gives every frame its id (the core selects frames by id).
    const visit = this.#nextId++;
    const module = this.#nextId++;
    this.#frames.set(visit, "visit");
    this.#frames.set(module, "<module>");
    this.events.push({
      e: "breakpoint_state",
      p: { changed: [{ id: 1, hits: this.#n + 1, ignore: 0 }], removed: [] },
    });
    // The core asks for the frames (stack_trace) and shows the stop.
    this.events.push({
      e: "stopped",
      p: { thread: THREAD, reason: "breakpoint", breakpoint: 1 },
    });
  }

  #resume(msg: Message): void {
    this.#running = true;
    this.#frames.clear();
    this.#refs.clear();
    this.events.push({ e: "running", p: { thread: THREAD }, ...(msg.id ? { id: msg.id } : {}) });
    this.#n++;
    if (this.#n < 2) return this.#stop();
    this.events.push({ e: "exited", p: { code: 0 } });
    this.events.push({ e: "disabled", p: { reason: "The program exited with code 0" } });
    this.events.end();
  }

  #locals(frame: "visit" | "<module>" = "visit"): Record<string, Value> {
    if (frame === "<module>") return { n: this.#n };
    return {
      items: Array.from({ length: 250 }, (_, i) => i),
      n: this.#n,
      label: `visit ${this.#n}`,
    };
  }

  /** The module's variables (the function `visit` left out). */
  #globals(): Record<string, Value> {
    return { total: this.#n === 0 ? 0 : 250, n: this.#n };
  }

  /** `NAME` or `NAME + INT` over a frame's names; a string is the exception it raises. */
  #evaluate(expr: string, frame?: "visit" | "<module>"): { v: Value } | string {
    const m = /^\s*([a-z_]+)\s*(?:\+\s*(\d+))?\s*$/.exec(expr);
    const locals = this.#locals(frame);
    if (!m || !(m[1]! in locals)) return `NameError: name '${expr}' is not defined`;
    const base = locals[m[1]!]!;
    return { v: m[2] ? (base as number) + Number(m[2]) : base };
  }

  #value(v: Value): { value: string; type: string; ref: number; named: number; indexed: number } {
    if (Array.isArray(v)) {
      const ref = this.#nextId++;
      this.#refs.set(ref, { list: v });
      return {
        value: `[${v.slice(0, 5).join(", ")}, ...]`,
        type: "list",
        ref,
        named: 0,
        indexed: v.length,
      };
    }
    return typeof v === "number"
      ? { value: String(v), type: "int", ref: 0, named: 0, indexed: 0 }
      : { value: `'${v}'`, type: "str", ref: 0, named: 0, indexed: 0 };
  }

  #request(msg: EngineRequest): void {
    const answer = (result: unknown) =>
      this.events.push({ e: "response", id: msg.id, p: { result } });
    const fail = (type: string, data: string) =>
      this.events.push({ e: "response", id: msg.id, p: { error: { type, data } } });
    const args = (msg.p.args ?? {}) as Record<string, unknown>;
    switch (msg.p.command) {
      case "locate":
        return answer(
          args.file === undefined || args.file === this.#program
            ? { path: this.#program, name: args.file ?? this.#program }
            : { path: null, name: args.file },
        );
      case "set_breakpoint": {
        const bp = args.breakpoint as Record<string, unknown>;
        let line = bp.line as number;
        while (args.adjust && line < 10 && !CODE_LINES.has(line)) line++;
        if ((bp.file !== undefined && bp.file !== this.#program) || !CODE_LINES.has(line)) {
          return fail("set_break", `Cannot set breakpoint at "${bp.file}:${bp.line}"`);
        }
        const placed = this.#placed({ ...bp, line });
        this.#bps.set(bp.id as number, placed);
        return answer({ breakpoint: placed });
      }
      case "update_breakpoint": {
        const bp = this.#bps.get(args.id as number);
        if (!bp) return fail("update_break", `No breakpoint ${args.id}`);
        Object.assign(bp, args);
        return answer({ breakpoint: bp });
      }
      case "remove_breakpoints":
        for (const id of args.ids as number[]) this.#bps.delete(id);
        return answer({});
      case "threads":
        return answer({ threads: [{ ...THREAD, state: this.#running ? "running" : "stopped" }] });
      case "source":
        return args.path === this.#program
          ? answer({
            path: this.#program,
            text: this.#source,
            hash: `sha256:${sha256(this.#source)}`,
          })
          : fail("source", `Cannot read ${args.path}: no such file of the program's code`);
    }
    if (this.#running) return fail("running", `${msg.p.command} needs a stopped program`);
    switch (msg.p.command) {
      case "stack_trace": {
        if (args.thread !== THREAD.id) return fail("thread", `No thread ${args.thread}`);
        const all = [...this.#frames].map(([id, func]) => ({
          id,
          func,
          file: this.#program,
          line: func === "visit" ? 4 : 9,
          code: func === "visit"
            ? "    return len(items) + n"
            : "    total += visit(list(range(250)), n)",
        }));
        const start = (args.start as number | undefined) ?? 0;
        const levels = (args.levels as number | undefined) ?? 1000;
        return answer({ frames: all.slice(start, start + levels), total: all.length });
      }
      case "scopes": {
        const frame = this.#frames.get(args.frame as number);
        if (!frame) return fail("reference", `No frame ${args.frame} at this stop`);
        // A function's frame has its locals (and parameters) and the globals; the module's, its
        // globals only.
        const globals = this.#nextId++;
        this.#refs.set(globals, { scope: "globals", frame });
        const scopes = [{ name: "Globals", kind: "globals", ref: globals, named: 2 }];
        if (frame === "<module>") return answer({ scopes });
        const ref = this.#nextId++;
        this.#refs.set(ref, { scope: "locals", frame });
        const locals = { name: "Locals", kind: "locals", ref, named: 3, args: ["items", "n"] };
        return answer({ scopes: [locals, ...scopes] });
      }
      case "variables": {
        const entry = this.#refs.get(args.ref as number);
        if (!entry) return fail("reference", `No variables reference ${args.ref} at this stop`);
        const start = (args.start as number | undefined) ?? 0;
        const count = (args.count as number | undefined) ?? 1000;
        if ("list" in entry) {
          if (args.filter === "named") return answer({ variables: [] });
          const page = entry.list.slice(start, start + count);
          return answer({
            variables: page.map((v, i) => ({ name: `[${start + i}]`, ...this.#value(v) })),
          });
        }
        const names = entry.scope === "globals" ? this.#globals() : this.#locals(entry.frame);
        const pairs = Object.entries(names).slice(start, start + count);
        return answer({ variables: pairs.map(([name, v]) => ({ name, ...this.#value(v) })) });
      }
      case "watch": {
        const frame = args.frame === undefined ? undefined : this.#frames.get(args.frame as number);
        return answer({
          values: (args.exprs as string[]).map((expr) => {
            const value = this.#evaluate(expr, frame);
            return typeof value === "string"
              ? { exc: true, value }
              : { exc: false, value: this.#value(value.v).value };
          }),
        });
      }
      case "evaluate": {
        const frame = args.frame === undefined ? undefined : this.#frames.get(args.frame as number);
        const value = this.#evaluate(String(args.expr), frame);
        if (args.echo !== undefined) {
          // What a REPL shows: the repr, or the exception as the result.
          return typeof value === "string"
            ? answer({ ...this.#value(0), raised: true, display: value })
            : answer({ ...this.#value(value.v), display: this.#value(value.v).value });
        }
        return typeof value === "string" ? fail("eval", value) : answer(this.#value(value.v));
      }
    }
    return fail("event", `Unknown request ${msg.p.command}`);
  }
}

/** SHA-256 of UTF-8 text, as hex (synchronous, for the fake's answers). */
function sha256(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}
