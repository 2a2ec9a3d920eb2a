// Escape sequences are what this file decodes: control characters in its patterns are meant.
// deno-lint-ignore-file no-control-regex
/**
 * Decoding of terminal input (raw mode) into keys: printable text, control keys and the
 * common VT100/xterm escape sequences. Pure, so it is tested without a terminal.
 *
 * @example
 * ```ts
 * import { KeyDecoder } from "./keys.ts";
 * new KeyDecoder().push("a\x1b[D\r"); // [{ name: "text", text: "a" }, { name: "left" }, { name: "enter" }]
 * ```
 * @module
 */

/** A decoded key. `text` carries typed or pasted characters. */
export type Key =
  | { name: "text"; text: string }
  | {
    name:
      | "enter"
      | "tab"
      | "backspace"
      | "delete"
      | "left"
      | "right"
      | "up"
      | "down"
      | "home"
      | "end"
      | "word-left"
      | "word-right"
      | "kill-line"
      | "kill-start"
      | "kill-word"
      | "interrupt"
      | "eof"
      | "clear-screen"
      | "escape";
  };

const CONTROL: Record<string, Key["name"]> = {
  "\r": "enter",
  "\n": "enter",
  "\t": "tab",
  "\x7f": "backspace",
  "\x08": "backspace",
  "\x01": "home",
  "\x05": "end",
  "\x02": "left",
  "\x06": "right",
  "\x10": "up",
  "\x0e": "down",
  "\x0b": "kill-line",
  "\x15": "kill-start",
  "\x17": "kill-word",
  "\x03": "interrupt",
  "\x04": "eof",
  "\x0c": "clear-screen",
};

const ESCAPES: Record<string, Key["name"]> = {
  "[A": "up",
  "[B": "down",
  "[C": "right",
  "[D": "left",
  "[H": "home",
  "[F": "end",
  "OA": "up",
  "OB": "down",
  "OC": "right",
  "OD": "left",
  "OH": "home",
  "OF": "end",
  "[1~": "home",
  "[4~": "end",
  "[7~": "home",
  "[8~": "end",
  "[3~": "delete",
  "[1;5C": "word-right",
  "[1;5D": "word-left",
  "[1;3C": "word-right",
  "[1;3D": "word-left",
  "b": "word-left",
  "f": "word-right",
  "\x7f": "kill-word",
};

/** Decodes a stream of terminal input, keeping an incomplete escape sequence for later. */
export class KeyDecoder {
  #pending = "";

  /** Decodes `input` (and anything pending) into keys. */
  push(input: string): Key[] {
    const s = this.#pending + input;
    this.#pending = "";
    const keys: Key[] = [];
    let text = "";
    const flush = () => {
      if (text) keys.push({ name: "text", text });
      text = "";
    };
    let i = 0;
    while (i < s.length) {
      const ch = s[i]!;
      if (ch === "\x1b") {
        const seq = /^\x1b(\[[0-9;]*[A-Za-z~]|O[A-Za-z]|[bf\x7f])/.exec(s.slice(i));
        if (seq) {
          flush();
          const name = ESCAPES[seq[1]!];
          // Bracketed paste markers and unknown sequences are dropped, not typed.
          if (name) keys.push({ name } as Key);
          i += seq[0].length;
          continue;
        }
        if (/^\x1b(\[[0-9;]*|O)?$/.test(s.slice(i))) {
          // An escape sequence cut between reads: wait for the rest.
          flush();
          this.#pending = s.slice(i);
          return keys;
        }
        flush();
        keys.push({ name: "escape" });
        i++;
        continue;
      }
      const control = CONTROL[ch];
      if (control) {
        flush();
        keys.push({ name: control } as Key);
        // A CR LF pair is one Enter.
        if (ch === "\r" && s[i + 1] === "\n") i++;
        i++;
        continue;
      }
      if (ch < " ") {
        i++; // Other control characters are ignored.
        continue;
      }
      text += ch;
      i++;
    }
    flush();
    return keys;
  }
}
