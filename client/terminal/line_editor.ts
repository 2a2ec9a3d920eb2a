/**
 * Line editing for the terminal client: a buffer with a cursor, history, completion and
 * rendering of one (horizontally scrolled) line. The state is pure; {@linkcode LineEditor}
 * takes keys and returns what to do, and {@linkcode renderLine} turns the state into the
 * characters that redraw it.
 *
 * @module
 */

import type { Key } from "./keys.ts";

/** Completes the text before the cursor: the replacement candidates for its last part. */
export type Completer = (
  before: string,
) => Promise<{ matches: string[]; replace: number }> | { matches: string[]; replace: number };

/** What a key asks the terminal to do besides redrawing. */
export type EditorAction =
  | { kind: "none" }
  | { kind: "line"; line: string }
  | { kind: "interrupt" }
  | { kind: "eof" }
  | { kind: "clear-screen" }
  | { kind: "complete" };

/** The editing state: buffer, cursor, history. */
export class LineEditor {
  /** The text being edited. */
  buffer = "";
  /** Cursor position, in characters (code points) of `buffer`. */
  cursor = 0;
  readonly #history: string[];
  readonly #maxHistory: number;
  /** Position in history while browsing it; history.length means "the new line". */
  #browse: number;
  #draft = "";
  #killed = "";

  constructor(history: string[] = [], maxHistory = 1000) {
    this.#history = [...history];
    this.#maxHistory = maxHistory;
    this.#browse = this.#history.length;
  }

  /** The history, oldest first. */
  get history(): readonly string[] {
    return this.#history;
  }

  /** Applies one key. */
  handle(key: Key): EditorAction {
    const chars = [...this.buffer];
    switch (key.name) {
      case "text":
        this.insert(key.text);
        return { kind: "none" };
      case "enter": {
        const line = this.buffer;
        this.buffer = "";
        this.cursor = 0;
        this.addHistory(line);
        return { kind: "line", line };
      }
      case "tab":
        return { kind: "complete" };
      case "backspace":
        if (this.cursor > 0) {
          chars.splice(this.cursor - 1, 1);
          this.#set(chars, this.cursor - 1);
        }
        return { kind: "none" };
      case "delete":
        if (this.cursor < chars.length) {
          chars.splice(this.cursor, 1);
          this.#set(chars, this.cursor);
        }
        return { kind: "none" };
      case "left":
        this.cursor = Math.max(0, this.cursor - 1);
        return { kind: "none" };
      case "right":
        this.cursor = Math.min(chars.length, this.cursor + 1);
        return { kind: "none" };
      case "home":
        this.cursor = 0;
        return { kind: "none" };
      case "end":
        this.cursor = chars.length;
        return { kind: "none" };
      case "word-left":
        this.cursor = wordStart(chars, this.cursor);
        return { kind: "none" };
      case "word-right": {
        let i = this.cursor;
        while (i < chars.length && !isWord(chars[i]!)) i++;
        while (i < chars.length && isWord(chars[i]!)) i++;
        this.cursor = i;
        return { kind: "none" };
      }
      case "kill-line":
        this.#killed = chars.slice(this.cursor).join("");
        this.#set(chars.slice(0, this.cursor), this.cursor);
        return { kind: "none" };
      case "kill-start":
        this.#killed = chars.slice(0, this.cursor).join("");
        this.#set(chars.slice(this.cursor), 0);
        return { kind: "none" };
      case "kill-word": {
        const start = wordStart(chars, this.cursor);
        this.#killed = chars.slice(start, this.cursor).join("");
        chars.splice(start, this.cursor - start);
        this.#set(chars, start);
        return { kind: "none" };
      }
      case "up":
        this.#browseTo(this.#browse - 1);
        return { kind: "none" };
      case "down":
        this.#browseTo(this.#browse + 1);
        return { kind: "none" };
      case "interrupt":
        this.buffer = "";
        this.cursor = 0;
        this.#browse = this.#history.length;
        return { kind: "interrupt" };
      case "eof":
        if (this.buffer === "") return { kind: "eof" };
        return this.handle({ name: "delete" });
      case "clear-screen":
        return { kind: "clear-screen" };
      case "escape":
        return { kind: "none" };
    }
  }

  /** Inserts text at the cursor. */
  insert(text: string): void {
    const chars = [...this.buffer];
    const added = [...text.replace(/[\r\n]+/g, " ")];
    chars.splice(this.cursor, 0, ...added);
    this.#set(chars, this.cursor + added.length);
  }

  /** The text before the cursor. */
  get beforeCursor(): string {
    return [...this.buffer].slice(0, this.cursor).join("");
  }

  /** Replaces the `replace` characters before the cursor with `text`. */
  replaceBefore(replace: number, text: string): void {
    const chars = [...this.buffer];
    const start = Math.max(0, this.cursor - replace);
    const added = [...text];
    chars.splice(start, this.cursor - start, ...added);
    this.#set(chars, start + added.length);
  }

  /** Adds a line to the history (not blanks, not a repeat of the last one). */
  addHistory(line: string): void {
    this.#browse = this.#history.length;
    if (line.trim() === "" || this.#history.at(-1) === line) {
      this.#browse = this.#history.length;
      return;
    }
    this.#history.push(line);
    if (this.#history.length > this.#maxHistory) this.#history.shift();
    this.#browse = this.#history.length;
  }

  /** The text last removed by a kill key. */
  get killed(): string {
    return this.#killed;
  }

  #browseTo(index: number): void {
    if (index < 0 || index > this.#history.length) return;
    if (this.#browse === this.#history.length) this.#draft = this.buffer;
    this.#browse = index;
    this.buffer = index === this.#history.length ? this.#draft : this.#history[index]!;
    this.cursor = [...this.buffer].length;
  }

  #set(chars: string[], cursor: number): void {
    this.buffer = chars.join("");
    this.cursor = cursor;
  }
}

function isWord(ch: string): boolean {
  return /[\p{L}\p{N}_]/u.test(ch);
}

function wordStart(chars: string[], from: number): number {
  let i = from;
  while (i > 0 && !isWord(chars[i - 1]!)) i--;
  while (i > 0 && isWord(chars[i - 1]!)) i--;
  return i;
}

/** The longest common prefix of completion candidates. */
export function commonPrefix(words: string[]): string {
  if (words.length === 0) return "";
  let prefix = words[0]!;
  for (const w of words) {
    while (!w.startsWith(prefix)) prefix = prefix.slice(0, -1);
  }
  return prefix;
}

/** The visible width of text, ignoring ANSI escape sequences. */
export function visibleLength(text: string): number {
  // deno-lint-ignore no-control-regex -- an ANSI colour sequence starts with ESC.
  return [...text.replace(/\x1b\[[0-9;]*m/g, "")].length;
}

/**
 * The characters that redraw the line: go to column 0, draw `prompt` and the part of the
 * buffer that fits in `columns` around the cursor, clear the rest, and place the cursor.
 */
export function renderLine(prompt: string, editor: LineEditor, columns: number): string {
  const chars = [...editor.buffer];
  const room = Math.max(10, columns - visibleLength(prompt) - 1);
  let start = 0;
  if (editor.cursor > room - 1) start = editor.cursor - room + 1;
  const shown = chars.slice(start, start + room).join("");
  const back = Math.min(chars.length, start + room) - editor.cursor;
  return `\r${prompt}${shown}\x1b[K${back > 0 ? `\x1b[${back}D` : ""}`;
}
