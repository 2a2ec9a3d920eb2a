/**
 * The JavaScript engine's breakpoints: the core's table placed in V8 (`setBreakpointByUrl`),
 * and what V8 does not do itself: ignore counts, hit conditions, temporary breakpoints and
 * logpoints, decided when V8 pauses at one.
 *
 * @module
 */

import type { Breakpoint } from "../../protocol/mod.ts";
import type { CdpClient } from "./cdp.ts";
import { breakpointSet, read } from "./cdp_types.ts";

/** One breakpoint, as the core asked for it, and its V8 id while placed. */
interface Placed {
  bp: Breakpoint;
  v8: string | undefined;
}

/** A file's `file://` URL, as V8 names the scripts it loaded. */
export function fileUrl(path: string): string {
  return new URL(`file://${path.split("/").map(encodeURIComponent).join("/")}`).href;
}

/** A breakpoint request the engine refuses: an error of `type` for the client. */
export class BreakpointRefused extends Error {
  /** The protocol error type and the sentence. */
  constructor(readonly type: string, message: string) {
    super(message);
    this.name = "BreakpointRefused";
  }
}

/** What a pause at breakpoints comes to: stop (at which), or run on. */
export interface Hit {
  /** The breakpoint the program stops at, if it does. */
  stop: number | undefined;
  /** Logpoints hit: their ids and messages, to be evaluated and printed. */
  logs: { id: number; message: string }[];
}

/** A hit condition holds for this hit count (`>= 5`, `% 10`, `== 3`...). */
export function hitConditionHolds(condition: string, hits: number): boolean {
  const m = /^\s*(>=|>|==|=|<=|<|%)?\s*(\d+)\s*$/.exec(condition);
  if (!m) return true;
  const n = Number(m[2]);
  switch (m[1]) {
    case ">":
      return hits > n;
    case "==":
    case "=":
      return hits === n;
    case "<":
      return hits < n;
    case "<=":
      return hits <= n;
    case "%":
      return n > 0 && hits % n === 0;
    default:
      return hits >= n;
  }
}

/** The breakpoint table of one JavaScript session. */
/** Where an original line is placed in the code V8 runs, and back (source maps). */
export interface LineMapping {
  generated(path: string, line: number): { url: string; line: number };
  original(scriptId: string, line: number): { path: string; line: number };
}

export class JsBreakpoints {
  readonly #cdp: () => CdpClient | undefined;
  readonly #table = new Map<number, Placed>();
  readonly #removed: number[] = [];
  readonly #policyNone: boolean;
  #mapping: LineMapping | undefined;

  constructor(cdp: () => CdpClient | undefined, policyNone: boolean) {
    this.#cdp = cdp;
    this.#policyNone = policyNone;
  }

  /** How lines map (set once the requests exist). */
  set mapping(mapping: LineMapping) {
    this.#mapping = mapping;
  }

  /**
   * A source map arrived for these files: their breakpoints, placed by the lines of the code
   * V8 runs so far, are placed again by their own.
   */
  async remap(paths: string[]): Promise<boolean> {
    let moved = false;
    for (const placed of this.#table.values()) {
      if (!paths.includes(placed.bp.file) || !placed.bp.enabled) continue;
      await this.#unplace(placed);
      await this.#place(placed);
      moved = true;
    }
    return moved;
  }

  /** Places a breakpoint (`set_breakpoint`); resolves with it as placed. */
  async set(bp: Breakpoint): Promise<Breakpoint> {
    if (bp.func) {
      throw new BreakpointRefused(
        "set_break",
        `Cannot set a breakpoint on function ${bp.func}: the JavaScript engine sets them on ` +
          "lines (FILE:LINE)",
      );
    }
    if (bp.cond && this.#policyNone) {
      throw new BreakpointRefused("policy", 'Eval policy "none" refuses to run code');
    }
    if (bp.snapshot) {
      throw new BreakpointRefused(
        "set_break",
        "Snapshots are taken by the Python engine only, so far: use a logpoint",
      );
    }
    const placed: Placed = { bp: { ...bp, hits: 0, verified: false }, v8: undefined };
    if (bp.enabled !== false) await this.#place(placed);
    this.#table.set(bp.id, placed);
    return placed.bp;
  }

  /** `update_breakpoint`: enabled, condition, ignore count, temporary. */
  async update(change: Partial<Breakpoint> & { id: number }): Promise<Breakpoint> {
    const placed = this.#table.get(change.id);
    if (!placed) throw new BreakpointRefused("update_break", `No breakpoint ${change.id}`);
    if (change.cond && this.#policyNone) {
      throw new BreakpointRefused("policy", 'Eval policy "none" refuses to run code');
    }
    const before = placed.bp;
    placed.bp = { ...before, ...change };
    const moved = placed.bp.cond !== before.cond || placed.bp.enabled !== before.enabled;
    if (moved) {
      await this.#unplace(placed);
      if (placed.bp.enabled) await this.#place(placed);
    }
    return placed.bp;
  }

  /** `remove_breakpoints`. */
  async remove(ids: number[]): Promise<void> {
    for (const id of ids) {
      const placed = this.#table.get(id);
      if (!placed) continue;
      this.#table.delete(id);
      await this.#unplace(placed);
    }
  }

  /** V8 resolved a breakpoint later (its script loaded): its line, verified. */
  resolved(v8: string, line: number): boolean {
    for (const placed of this.#table.values()) {
      if (placed.v8 === v8) {
        placed.bp = { ...placed.bp, line, verified: true };
        delete placed.bp.pending;
        return true;
      }
    }
    return false;
  }

  /**
   * V8 paused at these of its breakpoints: counts go up, ignore counts and hit conditions are
   * applied, a temporary breakpoint that stops goes, logpoints are listed.
   */
  hit(v8Ids: string[]): Hit {
    const out: Hit = { stop: undefined, logs: [] };
    for (const placed of this.#table.values()) {
      if (!placed.v8 || !v8Ids.includes(placed.v8) || !placed.bp.enabled) continue;
      const bp = placed.bp;
      if (bp.ignore > 0) {
        bp.ignore--;
        continue;
      }
      bp.hits++;
      if (bp.hit_condition && !hitConditionHolds(bp.hit_condition, bp.hits)) continue;
      if (bp.log) out.logs.push({ id: bp.id, message: bp.log });
      else if (out.stop === undefined) out.stop = bp.id;
    }
    if (out.stop !== undefined && this.#table.get(out.stop)?.bp.temp) {
      const placed = this.#table.get(out.stop)!;
      this.#table.delete(out.stop);
      this.#removed.push(out.stop);
      void this.#unplace(placed);
    }
    return out;
  }

  /** The core's `breakpoint_state`: every count and place, and those gone by themselves. */
  state(): { changed: Record<string, unknown>[]; removed: number[] } {
    const changed = [...this.#table.values()].map(({ bp }) => ({
      id: bp.id,
      hits: bp.hits,
      ignore: bp.ignore,
      ...(bp.verified ? { file: bp.file, line: bp.line, verified: true } : {}),
    }));
    return { changed, removed: this.#removed.splice(0) };
  }

  async #place(placed: Placed): Promise<void> {
    const cdp = this.#cdp();
    if (!cdp) return;
    const where = this.#mapping?.generated(placed.bp.file, placed.bp.line) ??
      { url: fileUrl(placed.bp.file), line: placed.bp.line };
    const result = await cdp.send("Debugger.setBreakpointByUrl", {
      url: where.url,
      lineNumber: where.line - 1,
      condition: placed.bp.cond ?? "",
    });
    const set = read(breakpointSet, result, "Debugger.setBreakpointByUrl");
    if (!set) throw new BreakpointRefused("internal", "The runtime's answer is not valid");
    placed.v8 = set.breakpointId;
    const locations = set.locations;
    if (locations.length > 0) {
      // Where V8 put it, in the file's own lines.
      const at = this.#mapping?.original(locations[0]!.scriptId, locations[0]!.lineNumber + 1);
      const line = at && at.path === placed.bp.file ? at.line : locations[0]!.lineNumber + 1;
      placed.bp = { ...placed.bp, line, verified: true };
      delete placed.bp.pending;
    } else {
      // Its script has not loaded yet: V8 binds it when it does (breakpointResolved).
      placed.bp = { ...placed.bp, verified: false, pending: true };
    }
  }

  async #unplace(placed: Placed): Promise<void> {
    const v8 = placed.v8;
    placed.v8 = undefined;
    if (v8 === undefined) return;
    await this.#cdp()?.send("Debugger.removeBreakpoint", { breakpointId: v8 }).catch(() => {});
  }
}
