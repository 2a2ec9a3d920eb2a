/**
 * What the terminal client prints, as pure functions of protocol data: the stop header, source
 * windows with breakpoint and current-line markers, the stack, watches, breakpoints and
 * exceptions. Colour comes from a {@linkcode Palette}; {@linkcode PLAIN} gives text for non-TTY
 * output, NO_COLOR and golden tests.
 *
 * @module
 */

import { pythonTokens } from "../highlight.ts";
import type {
  Breakpoint,
  ChildInfo,
  ExceptionPayload,
  Frame,
  Snapshot,
  SnapshotSummary,
  StackPayload,
  Watch,
} from "../../protocol/mod.ts";

/** Styles for each kind of text. Each is identity in {@linkcode PLAIN}. */
export interface Palette {
  header(s: string): string;
  current(s: string): string;
  breakpoint(s: string): string;
  lineNumber(s: string): string;
  error(s: string): string;
  stderr(s: string): string;
  info(s: string): string;
  peer(s: string): string;
  name(s: string): string;
  keyword(s: string): string;
  string(s: string): string;
  comment(s: string): string;
  number(s: string): string;
  prompt(s: string): string;
}

const id = (s: string) => s;

/** No styling. */
export const PLAIN: Palette = {
  header: id,
  current: id,
  breakpoint: id,
  lineNumber: id,
  error: id,
  stderr: id,
  info: id,
  peer: id,
  name: id,
  keyword: id,
  string: id,
  comment: id,
  number: id,
  prompt: id,
};

const sgr = (code: string) => (s: string) => s === "" ? s : `\x1b[${code}m${s}\x1b[0m`;

/** ANSI colours for terminals that support them. */
export const ANSI: Palette = {
  header: sgr("1"),
  current: sgr("1;32"),
  breakpoint: sgr("1;31"),
  lineNumber: sgr("2"),
  error: sgr("31"),
  stderr: sgr("31"),
  info: sgr("36"),
  peer: sgr("35"),
  name: sgr("36"),
  keyword: sgr("34"),
  string: sgr("33"),
  comment: sgr("2;3"),
  number: sgr("35"),
  prompt: sgr("1"),
};

/** Whether to colour: only on a TTY, and never when NO_COLOR is set (https://no-color.org). */
export function wantColor(isTerminal: boolean, env: { get(name: string): string | undefined }) {
  const noColor = env.get("NO_COLOR");
  if (noColor !== undefined && noColor !== "") return false;
  if (env.get("TERM") === "dumb") return false;
  return isTerminal;
}

/** `file` relative to `cwd` when it is inside it, else as is. */
export function displayPath(file: string, cwd: string | undefined): string {
  if (!cwd) return file;
  const base = cwd.endsWith("/") ? cwd : `${cwd}/`;
  return file.startsWith(base) ? file.slice(base.length) : file;
}

/** The pdb-style stop line: `> examples/primes.py(4)is_prime()`. */
export function stopHeader(frame: Frame, cwd: string | undefined, palette = PLAIN): string {
  return palette.header(`> ${displayPath(frame.file, cwd)}(${frame.line})${frame.func}()`);
}

/** Colours Python source: keywords, strings, comments and numbers. Good enough for one line. */
export function highlightPython(line: string, palette: Palette): string {
  if (palette === PLAIN) return line;
  return pythonTokens(line).map((t) => t.kind === "text" ? t.text : palette[t.kind](t.text))
    .join("");
}

/** Options of {@linkcode sourceLines}. */
export interface SourceOptions {
  /** Line to mark as current (`->`). */
  current?: number | undefined;
  /** Line to mark as where the selected older frame is (`>>`). */
  selected?: number | undefined;
  /** Breakpoints of this file, to mark `B` (or `b` when disabled). */
  breakpoints?: Breakpoint[];
  /** Palette. */
  palette?: Palette;
}

/**
 * Source lines `first`..`last` (1-based, inclusive) of `source`, each as
 * `B-> 12 code`: breakpoint marker, current-line marker, number, text.
 */
export function sourceLines(
  source: string[],
  first: number,
  last: number,
  options: SourceOptions = {},
): string[] {
  const palette = options.palette ?? PLAIN;
  const from = Math.max(1, first);
  const to = Math.min(source.length, last);
  const width = Math.max(3, String(to).length);
  const bps = new Map<number, boolean>();
  for (const bp of options.breakpoints ?? []) {
    bps.set(bp.line, (bps.get(bp.line) ?? false) || bp.enabled);
  }
  const out: string[] = [];
  for (let n = from; n <= to; n++) {
    const bp = bps.has(n) ? (bps.get(n) ? "B" : "b") : " ";
    const cur = n === options.current ? "->" : n === options.selected ? ">>" : "  ";
    const marker = palette.breakpoint(bp.trim()) + (bp === " " ? " " : "") +
      (cur === "  " ? cur : palette.current(cur));
    const code = highlightPython(source[n - 1]!.replace(/\t/g, "    "), palette);
    out.push(`${marker} ${palette.lineNumber(String(n).padStart(width))} ${code}`.trimEnd());
  }
  return out;
}

/** The stack like pdb's `where`: each frame's header and line, the selected one marked. */
export function formatStack(payload: StackPayload, cwd: string | undefined, palette = PLAIN) {
  const out: string[] = [];
  payload.stack.forEach((frame, i) => {
    const mark = i === payload.index ? palette.current(">") : " ";
    out.push(`${mark} ${displayPath(frame.file, cwd)}(${frame.line})${frame.func}()`);
    out.push(`  -> ${highlightPython(frame.code.trim(), palette)}`);
  });
  if (payload.thread && payload.thread.name !== "MainThread") {
    out.push(palette.info(`  (thread ${payload.thread.name})`));
  }
  return out;
}

/** Watches like pdb's `display`: `display total: 42`. */
export function formatWatches(watches: readonly Watch[], palette = PLAIN): string[] {
  return watches.map((w) =>
    `${palette.info("display")} ${palette.name(w.expr)}: ${
      w.exc ? palette.error(`** raised ${w.value} **`) : w.value
    }`
  );
}

/** One breakpoint as set: `Breakpoint 1 at examples/primes.py:4  (condition: n == 97)`. */
export function formatBreakpoint(bp: Breakpoint, cwd: string | undefined): string {
  const kind = bp.snapshot
    ? "Snapshot breakpoint"
    : typeof bp.log === "string"
    ? "Logpoint"
    : bp.temp
    ? "Temporary breakpoint"
    : "Breakpoint";
  if (bp.pending && bp.func) {
    return `${kind} ${bp.id} pending on ${bp.func} (it binds when its module is imported)`;
  }
  if (bp.pending) {
    // A line of a file whose code has not loaded yet (a JavaScript module not yet required).
    const where = `${displayPath(bp.file, cwd)}:${bp.line}`;
    return `${kind} ${bp.id} pending at ${where} (it binds when its code loads)`;
  }
  const extras: string[] = [];
  if (bp.func) extras.push(`in ${bp.func}`);
  if (bp.cond) extras.push(`condition: ${bp.cond}`);
  if (!bp.enabled) extras.push("disabled");
  if (bp.ignore > 0) extras.push(`ignore next ${bp.ignore} hit${bp.ignore === 1 ? "" : "s"}`);
  if (bp.snapshot) extras.push(`at most ${bp.max ?? 1} snapshot${bp.max === 1 ? "" : "s"}`);
  if (bp.rule) extras.push(`group rule ${bp.rule}`);
  if (bp.traced) extras.push(`traced, not compiled: ${bp.traced}`);
  const tail = extras.length ? `  (${extras.join(", ")})` : "";
  return `${kind} ${bp.id} at ${displayPath(bp.file, cwd)}:${bp.line}${tail}`;
}

/** The breakpoint table, like pdb's `break` without arguments. */
export function formatBreakpointTable(
  bps: readonly Breakpoint[],
  cwd: string | undefined,
): string[] {
  if (bps.length === 0) return ["No breakpoints"];
  const out = ["Num Type         Disp Enb   Where"];
  for (const bp of bps) {
    const disp = bp.temp ? "del " : "keep";
    const enb = bp.enabled ? "yes" : "no ";
    const type = bp.snapshot
      ? "snapshot  "
      : typeof bp.log === "string"
      ? "logpoint  "
      : "breakpoint";
    out.push(
      `${String(bp.id).padEnd(3)} ${type}   ${disp} ${enb}   at ${
        displayPath(bp.file, cwd)
      }:${bp.line}`,
    );
    if (bp.func) out.push(`\tin function ${bp.func}`);
    if (bp.rule) out.push(`\tset on group ${bp.rule.replace(/#\d+$/, "")} (rule ${bp.rule})`);
    if (bp.cond) out.push(`\tstop only if ${bp.cond}`);
    if (bp.ignore > 0) out.push(`\twill ignore next ${bp.ignore} hits`);
    if (bp.hits > 0) {
      out.push(`\tbreakpoint already hit ${bp.hits} time${bp.hits === 1 ? "" : "s"}`);
    }
  }
  return out;
}

/** What changed between two breakpoint lists, as pdb would announce it. */
export function breakpointChanges(
  before: readonly Breakpoint[],
  after: readonly Breakpoint[],
  cwd: string | undefined,
): string[] {
  const old = new Map(before.map((b) => [b.id, b]));
  const now = new Map(after.map((b) => [b.id, b]));
  const out: string[] = [];
  for (const bp of after) {
    const was = old.get(bp.id);
    if (!was) out.push(formatBreakpoint(bp, cwd));
    else if (was.pending && !bp.pending) out.push(`${formatBreakpoint(bp, cwd)}  (bound)`);
    else if (was.enabled !== bp.enabled) {
      out.push(
        `${bp.enabled ? "Enabled" : "Disabled"} breakpoint ${bp.id} at ${
          displayPath(bp.file, cwd)
        }:${bp.line}`,
      );
    } else if (was.cond !== bp.cond) {
      out.push(
        bp.cond
          ? `New condition set for breakpoint ${bp.id}: ${bp.cond}`
          : `Breakpoint ${bp.id} is now unconditional`,
      );
    } else if (was.ignore !== bp.ignore && bp.ignore > was.ignore - 1 && bp.hits === was.hits) {
      out.push(`Will ignore next ${bp.ignore} crossings of breakpoint ${bp.id}`);
    }
  }
  for (const bp of before) {
    if (!now.has(bp.id)) {
      out.push(`Deleted breakpoint ${bp.id} at ${displayPath(bp.file, cwd)}:${bp.line}`);
    }
  }
  return out;
}

/** An exception stop: the traceback, and for post-mortem pdb's notice. */
export function formatException(p: ExceptionPayload, palette = PLAIN): string[] {
  const out = p.traceback.replace(/\n$/, "").split("\n").map((l) => palette.error(l));
  if (p.uncaught) {
    out.push(palette.info("Uncaught exception. Entering post mortem debugging"));
    out.push(palette.info("Running 'cont' or 'step' will let the program end as it would have"));
  }
  return out;
}

/** A dict of reprs (locals, globals, args) as `name = value` lines. */
export function formatNames(names: Record<string, string>): string[] {
  const keys = Object.keys(names);
  if (keys.length === 0) return ["(none)"];
  return keys.map((k) => `${k} = ${names[k]}`);
}

/**
 * Where the current function starts and ends in `source`, for `ll`: from the nearest `def`
 * (or `class`) line above `line` with less indentation, to the last line indented deeper than
 * it. At module level, the whole file.
 */
export function functionRange(source: string[], line: number, func: string): [number, number] {
  if (func === "<module>") return [1, source.length];
  const indent = (s: string) => s.length - s.trimStart().length;
  let start = line;
  const here = indent(source[line - 1] ?? "");
  while (start > 1) {
    const text = source[start - 1]!;
    if (/^\s*(async\s+def|def|class)\s/.test(text) && (indent(text) < here || start === line)) {
      break;
    }
    start--;
  }
  // Decorators belong to the function.
  while (start > 1 && /^\s*@/.test(source[start - 2]!)) start--;
  const defIndent = indent(source[start - 1] ?? "");
  let end = line;
  for (let n = Math.max(line, start) + 1; n <= source.length; n++) {
    const text = source[n - 1]!;
    if (text.trim() === "") continue;
    if (indent(text) <= defIndent) break;
    end = n;
  }
  return [start, Math.max(end, line)];
}

/** What became of a child session, for {@linkcode formatChildNotices}. */
export interface ChildNotice {
  /** The child, as the server described it. */
  child: ChildInfo;
  /** Whether this is the first the terminal hears of it. */
  started: boolean;
}

/** Most children named in one notice line; the rest are counted. */
const MAX_NAMED_CHILDREN = 8;

function childWhere(child: ChildInfo, cwd: string | undefined): string {
  const where = child.where;
  if (!where) return "";
  return ` at ${displayPath(where.file, cwd)}:${where.line}${
    where.func ? ` in ${where.func}` : ""
  }`;
}

function namedChildren(items: string[]): string {
  const more = items.length - MAX_NAMED_CHILDREN;
  return items.slice(0, MAX_NAMED_CHILDREN).join(", ") +
    (more > 0 ? `, and ${more} more ("children" lists them)` : "");
}

/**
 * Notices of child sessions, summarised: a line for those that stopped (grouped when they
 * stopped at the same place) and one for those that ended, naming at most eight children, so
 * that a pool of 32 workers hitting a breakpoint costs the person a line or two, not 32. That a
 * child started is no news (`children` lists them): that it stopped is.
 */
export function formatChildNotices(notices: ChildNotice[], cwd: string | undefined): string[] {
  // The latest news of each child, in the order they first came.
  const latest = new Map<string, ChildNotice>();
  for (const notice of notices) {
    const known = latest.get(notice.child.session);
    latest.set(notice.child.session, {
      child: notice.child,
      started: notice.started || (known?.started ?? false),
    });
  }
  const stopped: ChildInfo[] = [];
  const ended: ChildInfo[] = [];
  for (const { child, started } of latest.values()) {
    if (child.state === "stopped") stopped.push(child);
    // One that came and went at once was never news.
    else if (child.state === "ended" && !started) ended.push(child);
  }
  const out: string[] = [];
  const places = new Set(stopped.map((c) => childWhere(c, cwd)));
  if (stopped.length === 1) {
    const child = stopped[0]!;
    out.push(
      `[child ${child.pid} stopped${childWhere(child, cwd)}; "attach ${child.pid}" to debug it]`,
    );
  } else if (stopped.length > 1 && places.size === 1) {
    const named = namedChildren(stopped.map((c) => `${c.pid}`));
    out.push(
      `[${stopped.length} children stopped${[...places][0]}: ${named}; "attach PID" to debug one]`,
    );
  } else if (stopped.length > 1) {
    const named = namedChildren(stopped.map((c) => `${c.pid}${childWhere(c, cwd)}`));
    out.push(`[${stopped.length} children stopped: ${named}; "attach PID" to debug one]`);
  }
  if (ended.length === 1) {
    const child = ended[0]!;
    out.push(`[child ${child.pid} ended${child.reason ? `: ${child.reason}` : ""}]`);
  } else if (ended.length > 1) {
    out.push(`[${ended.length} children ended: ${namedChildren(ended.map((c) => `${c.pid}`))}]`);
  }
  return out;
}

/** The `children` table: each live child session, its state, and where it stopped. */
export function formatChildren(
  children: Iterable<ChildInfo>,
  cwd: string | undefined,
): string[] {
  const rows = [...children].map((child) =>
    `  ${String(child.pid).padEnd(8)} ${child.state.padEnd(8)}${childWhere(child, cwd)}` +
    `${child.where && child.state === "stopped" ? "  " : " "}(session ${child.session})`
  );
  return rows.length > 0 ? rows : ["No child sessions."];
}

/** A snapshot as `where` and `locals` would have shown it when it was taken (newest frame last). */
export function formatSnapshot(
  snapshot: Snapshot,
  label: string,
  cwd: string | undefined,
): string[] {
  const at = (f: { file: string; line: number; func: string }) =>
    `${displayPath(f.file, cwd)}:${f.line} in ${f.func}`;
  const lines = [
    `${label}, taken ${snapshot.time}` +
    (snapshot.thread ? ` in thread ${snapshot.thread.name}` : "") +
    (snapshot.rule ? ` (rule ${snapshot.rule})` : ` (breakpoint ${snapshot.breakpoint})`) +
    (snapshot.truncated ? "; some values were left out (bounds)" : ""),
  ];
  snapshot.stack.forEach((frame, i) => {
    lines.push(`${i === snapshot.stack.length - 1 ? ">" : " "} ${at(frame)}`);
  });
  for (const frame of [...snapshot.stack].reverse()) {
    if (!frame.locals) continue;
    lines.push(`Locals of ${frame.func}:`);
    const names = Object.entries(frame.locals);
    if (names.length === 0) lines.push("  (none)");
    for (const [name, value] of names) lines.push(`  ${name} = ${value}`);
  }
  return lines;
}

/** Snapshots as `snapshots` lists them: number, time, where. */
export function formatSnapshotList(list: SnapshotSummary[], cwd: string | undefined): string[] {
  if (list.length === 0) {
    return ['No snapshots kept ("snap [file:]line" sets a snapshot breakpoint)'];
  }
  return list.map((s) =>
    `${String(s.id).padStart(3)}  ${s.time.slice(11, 23)}  ${
      displayPath(s.where.file, cwd)
    }:${s.where.line} in ${s.where.func}` + (s.rule ? `  (rule ${s.rule})` : "")
  );
}

/**
 * Parses `snap [-n N] LOCATION [, CONDITION]`: a snapshot breakpoint taking at most N
 * (default 1).
 */
export function parseSnap(arg: string): { text: string; max: number } {
  let text = arg.trim();
  let max = 1;
  const count = /^-n\s+(\d+)\s+/.exec(text);
  if (count) {
    max = Number(count[1]);
    text = text.slice(count[0].length);
  }
  return { text, max };
}
