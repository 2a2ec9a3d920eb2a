/**
 * The session's breakpoint table, kept by the core for every engine: the ids, what each
 * breakpoint is (place, condition, hit condition, logpoint, enabled, temporary, ignore count),
 * the commands that change it (protocol 1's `set_break`, `clear_break`, `update_break`,
 * `breakpoints`, and protocol 2's `set_breakpoints` for a whole file), and the list clients see.
 *
 * The engine places each breakpoint it is given (it knows the program's files and functions),
 * runs the rules of a hit where they must be fast (in the debugged program), and reports what
 * changes by itself: hit and ignore counts, a pending breakpoint bound when its code loads, a
 * temporary one removed by its hit, and those set from the configuration before the program ran.
 *
 * @module
 */

import type { BreakpointRequest } from "../engine/engine.ts";
import {
  array,
  boolean,
  type Breakpoint,
  breakpointSchema,
  COMMANDS,
  ERROR_TYPES,
  type ErrorType,
  type Infer,
  integer,
  type Message,
  nullable,
  object,
  ProtocolError,
  RESULTS,
  type Schema,
  string,
} from "../protocol/mod.ts";

/** Sends one engine request; resolves with its answer, or undefined when the engine ended. */
export type Ask = (command: BreakpointRequest, args: unknown) => Promise<Message | undefined>;

/** What the engine reports by itself, in its `breakpoint_state` event. */
export interface BreakpointState {
  /** Counts of every breakpoint, with its place once bound (a pending one is not yet). */
  changed: {
    id: number;
    hits: number;
    ignore: number;
    file?: string;
    line?: number;
    verified?: boolean;
  }[];
  /** Breakpoints gone by themselves (a temporary one, hit). */
  removed: number[];
  /** Breakpoints set before the program ran (from the launch options), with their ids. */
  added?: Breakpoint[];
}

/** The check of the engine's `breakpoint_state` event. */
export const BREAKPOINT_STATE: Schema<BreakpointState> = object({
  changed: array(
    object({ id: integer({ min: 1 }), hits: integer({ min: 0 }), ignore: integer({ min: 0 }) }, {
      file: string(),
      line: integer({ min: 0 }),
      verified: boolean(),
    }),
  ),
  removed: array(integer({ min: 1 })),
}, { added: array(breakpointSchema) });

const PLACED = object({ breakpoint: breakpointSchema });
const LOCATED = object({ path: nullable(string()), name: string() });

/** `set_break`'s payload. */
export type SetBreak = Infer<typeof COMMANDS.set_break.payload>;
/** `clear_break`'s payload. */
export type ClearBreak = Infer<typeof COMMANDS.clear_break.payload>;
/** `update_break`'s payload. */
export type UpdateBreak = Infer<typeof COMMANDS.update_break.payload>;
/** `set_breakpoints`'s arguments. */
export type SetBreakpoints = Infer<typeof COMMANDS.set_breakpoints.payload>;
/** `set_breakpoints`'s result. */
export type SetBreakpointsResult = Infer<typeof RESULTS.set_breakpoints>;

/** The table, and the commands that change it through the engine. */
export class Breakpoints {
  readonly #ask: Ask;
  readonly #table = new Map<number, Breakpoint>();
  #next = 1;

  /** Uses `ask` to reach the engine. */
  constructor(ask: Ask) {
    this.#ask = ask;
  }

  /** Every breakpoint, by id: the payload of protocol 1's `breakpoints` event. */
  list(): Breakpoint[] {
    return [...this.#table.values()].sort((a, b) => a.id - b.id);
  }

  /** `set_break`: a new breakpoint with the next id; refused as the engine says. */
  async set(p: SetBreak): Promise<Breakpoint> {
    const id = this.#next;
    const answer = await this.#request("set_breakpoint", { breakpoint: { ...p, id } });
    const { breakpoint } = PLACED.check(answer, "answer");
    // A group's rule set again (the member came back, or the rule was sent twice) replaces
    // the breakpoint it set before.
    const before = p.rule === undefined ? [] : this.#byRule(p.rule);
    if (before.length > 0) {
      await this.#request("remove_breakpoints", { ids: before });
      for (const old of before) this.#table.delete(old);
    }
    const kept = { ...breakpoint, id, ...(p.rule !== undefined ? { rule: p.rule } : {}) };
    this.#keep(kept);
    return kept;
  }

  #byRule(rule: string): number[] {
    return [...this.#table.values()].filter((bp) => bp.rule === rule).map((bp) => bp.id);
  }

  /** `clear_break`: by id, or every breakpoint at a file's line. */
  async clear(p: ClearBreak): Promise<void> {
    const ids: number[] = [];
    if (p.id !== undefined && p.id !== null) {
      if (!this.#table.has(p.id)) throw new ProtocolError("clear_break", `No breakpoint ${p.id}`);
      ids.push(p.id);
    } else if (p.rule !== undefined) {
      ids.push(...this.#byRule(p.rule));
      if (ids.length === 0) {
        throw new ProtocolError("clear_break", `No breakpoint of rule ${p.rule}`);
      }
    } else {
      const { path, name } = await this.#locate(p.file ?? undefined);
      for (const bp of this.#table.values()) {
        if (path !== null && bp.file === path && bp.line === p.line) ids.push(bp.id);
      }
      if (ids.length === 0) {
        throw new ProtocolError("clear_break", `No breakpoint at "${name}:${p.line}"`);
      }
    }
    await this.#request("remove_breakpoints", { ids });
    for (const id of ids) this.#table.delete(id);
  }

  /** `update_break`: the fields given change. */
  async update(p: UpdateBreak): Promise<void> {
    if (!this.#table.has(p.id)) throw new ProtocolError("update_break", `No breakpoint ${p.id}`);
    const answer = await this.#request("update_breakpoint", p);
    this.#keep(PLACED.check(answer, "answer").breakpoint);
  }

  /**
   * `set_breakpoints`: an editor's whole list of line breakpoints for one file replaces the
   * file's line breakpoints (those on functions stay). A line without code moves to the next
   * one with code. Each is answered in order; one that cannot be set has id 0, `verified` false
   * and a message, and is not kept.
   */
  async setForFile(args: SetBreakpoints): Promise<SetBreakpointsResult> {
    const { path } = await this.#locate(args.file);
    if (path !== null) {
      const ids = [...this.#table.values()]
        .filter((bp) => bp.file === path && bp.func === null)
        .map((bp) => bp.id);
      if (ids.length > 0) {
        await this.#request("remove_breakpoints", { ids });
        for (const id of ids) this.#table.delete(id);
      }
    }
    const out: Breakpoint[] = [];
    for (const spec of args.breakpoints) {
      const id = this.#next;
      try {
        const answer = await this.#request("set_breakpoint", {
          breakpoint: { ...spec, file: path ?? args.file, id },
          adjust: true,
        });
        const { breakpoint } = PLACED.check(answer, "answer");
        this.#keep({ ...breakpoint, id });
        out.push(breakpoint);
      } catch (error) {
        if (!(error instanceof ProtocolError) || error.type === "tracer") throw error;
        out.push({
          id: 0,
          file: path ?? args.file,
          line: spec.line,
          temp: false,
          cond: spec.cond ?? null,
          func: null,
          enabled: true,
          ignore: 0,
          hits: 0,
          verified: false,
          message: error.message,
        });
      }
    }
    return { breakpoints: out };
  }

  /** What the engine reported by itself; true when the list clients see changed. */
  apply(state: BreakpointState): boolean {
    let changed = false;
    for (const bp of state.added ?? []) {
      this.#keep(bp);
      changed = true;
    }
    for (const id of state.removed) changed = this.#table.delete(id) || changed;
    for (const { id, ...facts } of state.changed) {
      const bp = this.#table.get(id);
      if (!bp) continue; // Removed meanwhile.
      const next: Breakpoint = { ...bp, ...facts };
      if (facts.verified) delete next.pending;
      if (JSON.stringify(next) !== JSON.stringify(bp)) {
        this.#table.set(id, next);
        changed = true;
      }
    }
    return changed;
  }

  #keep(bp: Breakpoint): void {
    this.#table.set(bp.id, bp);
    this.#next = Math.max(this.#next, bp.id + 1);
  }

  async #locate(file: string | undefined): Promise<{ path: string | null; name: string }> {
    return LOCATED.check(await this.#request("locate", { file }), "answer");
  }

  /** An engine request's result; its error, or the engine's end, as a ProtocolError. */
  async #request(command: BreakpointRequest, args: unknown): Promise<unknown> {
    const answer = await this.#ask(command, args);
    if (answer === undefined) throw new ProtocolError("tracer", "The program has ended");
    const body = (typeof answer.p === "object" && answer.p !== null ? answer.p : {}) as {
      result?: unknown;
      error?: { type?: unknown; data?: unknown };
      type?: unknown;
      data?: unknown;
    };
    if (answer.e === "response" && "result" in body) return body.result;
    const error = answer.e === "response" ? body.error ?? {} : body;
    const type = typeof error.type === "string" && Object.hasOwn(ERROR_TYPES, error.type)
      ? error.type as ErrorType
      : "internal";
    const data = typeof error.data === "string" ? error.data : `The engine failed "${command}"`;
    throw new ProtocolError(type, data);
  }
}
