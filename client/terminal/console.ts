/**
 * The terminal the client talks to: debugger lines, program output and the prompt share one
 * screen. On a TTY the input line is edited in raw mode (history, completion, Ctrl-C) and
 * redrawn under output that arrives while the user types; program output without a newline
 * (an `input("Name: ")` prompt) stays on its line with the typed text after it. Elsewhere
 * (pipes, scripts) it reads plain lines.
 *
 * @module
 */

import { KeyDecoder } from "./keys.ts";
import { commonPrefix, type Completer, LineEditor, renderLine } from "./line_editor.ts";

/** What the console reports to its owner. */
export interface ConsoleHandlers {
  /** A line was entered. */
  line(line: string): void;
  /** Ctrl-C. */
  interrupt(): void;
  /** Ctrl-D on an empty line, or the end of input. */
  eof(): void;
  /** Completes the text before the cursor (Tab). */
  complete?: Completer;
}

/** A place to write text. */
export interface TextSink {
  write(text: string): void;
}

/** Where the console's text goes and how wide the screen is. */
export interface ConsoleOptions {
  /** Writer of the terminal (stdout). */
  out: TextSink;
  /** Screen width, asked at each redraw. */
  columns?: () => number;
  /** Earlier history, oldest first. */
  history?: string[];
  /** Called with each line added to history (to save it). */
  onHistory?: (line: string) => void;
}

/** The shared screen of debugger lines, program output and the input line. */
export class TerminalConsole {
  /** A person types here: Ctrl-D ends one thing, not all input. */
  readonly interactive = true;
  readonly #out: TextSink;
  readonly #columns: () => number;
  readonly #editor: LineEditor;
  readonly #onHistory: ((line: string) => void) | undefined;
  readonly #decoder = new KeyDecoder();
  #handlers: ConsoleHandlers | undefined;
  #prompt: string | null = null;
  /** Program output after its last newline, still on the screen's last line. */
  #tail = "";
  /** Whether the last line currently shows the input line (prompt, tail or typed text). */
  #drawn = false;
  #completing = false;

  constructor(options: ConsoleOptions) {
    this.#out = options.out;
    this.#columns = options.columns ?? (() => 80);
    this.#editor = new LineEditor(options.history ?? []);
    this.#onHistory = options.onHistory;
  }

  /** Sets who receives lines and keys. */
  attach(handlers: ConsoleHandlers): void {
    this.#handlers = handlers;
  }

  /** The history, oldest first. */
  get history(): readonly string[] {
    return this.#editor.history;
  }

  /** Shows `prompt` (null hides it: the program runs). */
  setPrompt(prompt: string | null): void {
    this.#prompt = prompt;
    this.#redraw();
  }

  /** Prints debugger lines; they always start at column 0. */
  say(text: string): void {
    this.#erase();
    let chunk = "";
    if (this.#tail) {
      // Keep the program's unfinished line visible above ours.
      chunk += `${this.#tail}\n`;
      this.#tail = "";
    }
    this.#out.write(chunk + text.replace(/\n?$/, "\n"));
    this.#redraw();
  }

  /** Prints program output exactly as it came. */
  output(text: string): void {
    if (text === "") return;
    this.#erase();
    const all = this.#tail + text;
    this.#out.write(all);
    const nl = all.lastIndexOf("\n");
    this.#tail = nl >= 0 ? all.slice(nl + 1) : all;
    // The tail is on screen now; the redraw rewrites it with the input line after it.
    this.#drawn = this.#tail !== "";
    this.#redraw();
  }

  /** Feeds raw terminal input (a TTY in raw mode). */
  async input(text: string): Promise<void> {
    for (const key of this.#decoder.push(text)) {
      const action = this.#editor.handle(key);
      switch (action.kind) {
        case "line":
          this.#onHistory?.(action.line);
          this.#commitLine(action.line);
          this.#handlers?.line(action.line);
          break;
        case "interrupt":
          this.#commitLine("^C");
          this.#handlers?.interrupt();
          break;
        case "eof":
          this.#commitLine("");
          this.#handlers?.eof();
          break;
        case "clear-screen":
          this.#out.write("\x1b[H\x1b[2J");
          this.#drawn = false;
          this.#redraw();
          break;
        case "complete":
          await this.#complete();
          break;
        case "none":
          this.#redraw();
      }
    }
  }

  /** Puts the typed line on the screen for good (as a terminal would) before handling it. */
  #commitLine(line: string): void {
    const prefix = this.#tail + (this.#prompt ?? "");
    this.#out.write(`\r${prefix}${line}\x1b[K\n`);
    this.#tail = "";
    this.#drawn = false;
  }

  async #complete(): Promise<void> {
    const complete = this.#handlers?.complete;
    if (!complete || this.#completing) return;
    this.#completing = true;
    try {
      const before = this.#editor.beforeCursor;
      const { matches, replace } = await complete(before);
      if (matches.length === 0) return;
      const prefix = commonPrefix(matches);
      const current = before.slice(before.length - replace);
      if (matches.length === 1 || prefix.length > current.length) {
        this.#editor.replaceBefore(replace, matches.length === 1 ? matches[0]! : prefix);
        this.#redraw();
        return;
      }
      this.#erase();
      this.#out.write(`${columnize(matches, this.#columns())}\n`);
      this.#redraw();
    } catch {
      // Completion is a convenience: a failed one changes nothing.
    } finally {
      this.#completing = false;
    }
  }

  /** Erases the input line from the screen (when drawn). */
  #erase(): void {
    if (this.#drawn) this.#out.write("\r\x1b[K");
    this.#drawn = false;
  }

  /** Draws the input line: the program's unfinished line or the prompt, then the typed text. */
  #redraw(): void {
    const prompt = this.#tail + (this.#prompt ?? "");
    if (prompt === "" && this.#editor.buffer === "") {
      this.#erase();
      return;
    }
    this.#out.write(renderLine(prompt, this.#editor, this.#columns()));
    this.#drawn = true;
  }
}

/** Candidates laid out in columns, like a shell lists completions. */
export function columnize(words: string[], columns: number): string {
  const width = Math.max(...words.map((w) => w.length)) + 2;
  const perRow = Math.max(1, Math.floor(columns / width));
  const rows: string[] = [];
  for (let i = 0; i < words.length; i += perRow) {
    rows.push(words.slice(i, i + perRow).map((w) => w.padEnd(width)).join("").trimEnd());
  }
  return rows.join("\n");
}

/** A console for non-TTY input: plain lines, prompts written as text. */
export class PlainConsole {
  /** Lines come from a pipe or a file: its end is the end of all input. */
  readonly interactive = false;
  readonly #out: TextSink;
  #handlers: ConsoleHandlers | undefined;
  #prompt: string | null = null;
  #tail = "";

  constructor(out: TextSink) {
    this.#out = out;
  }

  /** Sets who receives lines. */
  attach(handlers: ConsoleHandlers): void {
    this.#handlers = handlers;
  }

  /** Writes the prompt when one is shown (scripts wait for it). */
  setPrompt(prompt: string | null): void {
    if (prompt !== null && this.#prompt === null) this.#out.write(prompt);
    this.#prompt = prompt;
  }

  /** Prints debugger lines. */
  say(text: string): void {
    const lead = this.#tail ? "\n" : this.#prompt ? "\n" : "";
    this.#tail = "";
    this.#out.write(lead + text.replace(/\n?$/, "\n"));
    if (this.#prompt !== null) this.#out.write(this.#prompt);
  }

  /** Prints program output as it came. */
  output(text: string): void {
    this.#out.write(text);
    const nl = text.lastIndexOf("\n");
    this.#tail = nl >= 0 ? text.slice(nl + 1) : this.#tail + text;
  }

  /** Feeds complete input lines. */
  inputLine(line: string): void {
    this.#prompt = null;
    this.#handlers?.line(line);
  }

  /** The input ended. */
  inputEnd(): void {
    this.#handlers?.eof();
  }
}
