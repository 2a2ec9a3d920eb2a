/**
 * Parsing of the terminal client's command arguments, pdb style. Pure functions.
 *
 * @example
 * ```ts
 * import { parseBreak } from "./parse.ts";
 * parseBreak("app.py:12, n > 3"); // { file: "app.py", line: 12, cond: "n > 3" }
 * parseBreak("is_prime"); // { func: "is_prime" }
 * ```
 * @module
 */

/** A breakpoint location as typed: `[file:]line` or `function`, with an optional condition. */
export interface BreakArgs {
  file?: string;
  line?: number;
  func?: string;
  cond?: string;
}

/** A mistake in a command's arguments; printed as `*** message`. */
export class ArgumentError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ArgumentError";
  }
}

/**
 * Parses `[file:]line [, condition]` or `function [, condition]` (`Class.method` and
 * `module.function` too).
 *
 * @throws {ArgumentError} when the location is neither.
 */
export function parseBreak(arg: string): BreakArgs {
  const comma = arg.indexOf(",");
  const where = (comma >= 0 ? arg.slice(0, comma) : arg).trim();
  const cond = comma >= 0 ? arg.slice(comma + 1).trim() : "";
  const out: BreakArgs = {};
  if (cond) out.cond = cond;
  const fileLine = /^(.+):(\d+)$/.exec(where);
  if (fileLine) {
    out.file = fileLine[1]!;
    out.line = Number(fileLine[2]);
  } else if (/^\d+$/.test(where)) {
    out.line = Number(where);
  } else if (/^[A-Za-z_][\w.]*$/.test(where)) {
    out.func = where;
  } else {
    throw new ArgumentError(
      `Cannot set a breakpoint at "${where}": give [file:]line or a function name`,
    );
  }
  if (out.line !== undefined && out.line < 1) {
    throw new ArgumentError(`Cannot set a breakpoint at "${where}": line must be >= 1`);
  }
  return out;
}

/** Parses breakpoint numbers: `1 3 4`. @throws {ArgumentError} on anything else. */
export function parseNumbers(arg: string, what = "breakpoint number"): number[] {
  const words = arg.trim().split(/[\s,]+/).filter(Boolean);
  return words.map((w) => {
    if (!/^\d+$/.test(w) || Number(w) < 1) throw new ArgumentError(`Invalid ${what} "${w}"`);
    return Number(w);
  });
}

/** Parses an optional positive count (for `up 3`). @throws {ArgumentError}. */
export function parseCount(arg: string): number | undefined {
  const t = arg.trim();
  if (t === "") return undefined;
  if (!/^\d+$/.test(t) || Number(t) < 1) throw new ArgumentError(`Invalid count "${t}"`);
  return Number(t);
}

/** `list` arguments: nothing, `.`, `first`, or `first, last` (last < first means a count). */
export type ListArgs =
  | { kind: "continue" }
  | { kind: "current" }
  | { kind: "range"; first: number; last: number };

/** Parses `list` arguments the way pdb does. @throws {ArgumentError}. */
export function parseList(arg: string): ListArgs {
  const t = arg.trim();
  if (t === "") return { kind: "continue" };
  if (t === ".") return { kind: "current" };
  const m = /^(\d+)\s*(?:,\s*(\d+))?$/.exec(t);
  if (!m) throw new ArgumentError(`Invalid list arguments "${t}": use [first[, last]] or .`);
  const first = Number(m[1]);
  if (m[2] === undefined) return { kind: "range", first: Math.max(1, first - 5), last: first + 5 };
  let last = Number(m[2]);
  if (last < first) last = first + last;
  return { kind: "range", first, last };
}

/** Splits a command line into its first word and the rest, pdb style (`!` is a word). */
export function splitCommand(line: string): { word: string; rest: string } {
  const t = line.trimStart();
  if (t.startsWith("!")) return { word: "!", rest: t.slice(1) };
  const m = /^([A-Za-z_]\w*)(.*)$/s.exec(t);
  if (!m) return { word: "", rest: t };
  return { word: m[1]!, rest: m[2]!.trim() };
}

/**
 * True when a line that starts with a command name is really Python: `n = 5`, `c.x`, `l[0]`
 * (pdb 3.13 treats such lines as statements too).
 */
export function looksLikePython(rest: string): boolean {
  // `l .` (a lone dot) is pdb's "around the current line", not an attribute access.
  return /^(=[^=]|[-+*/%&|^@]=|\.(?!\s*$)|\[|==)/.test(rest.trimStart());
}

/**
 * Splits a command line into words as a POSIX shell (and Python's `shlex.split`, which pdb's
 * `restart` uses) would: quotes group, `\` escapes outside single quotes.
 *
 * @throws {ArgumentError} on an unclosed quote or a trailing backslash.
 */
export function shellWords(text: string): string[] {
  const words: string[] = [];
  let word: string | undefined;
  let quote: "'" | '"' | undefined;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quote === "'") {
      if (ch === "'") quote = undefined;
      else word += ch;
    } else if (ch === "\\" && (quote === undefined || /["\\$`]/.test(text[i + 1] ?? ""))) {
      if (i + 1 >= text.length) throw new ArgumentError("A backslash ends the line");
      word = (word ?? "") + text[++i];
    } else if (quote === '"') {
      if (ch === '"') quote = undefined;
      else word += ch;
    } else if (ch === "'" || ch === '"') {
      quote = ch;
      word ??= "";
    } else if (/\s/.test(ch)) {
      if (word !== undefined) words.push(word);
      word = undefined;
    } else word = (word ?? "") + ch;
  }
  if (quote) throw new ArgumentError(`No closing quotation (${quote})`);
  if (word !== undefined) words.push(word);
  return words;
}
