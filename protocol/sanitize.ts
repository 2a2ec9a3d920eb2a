/**
 * Text a peer chose (a client's name, a command, a tracer's argv, an error, a source file)
 * must not drive the viewer's terminal: escape sequences could set the clipboard (OSC 52),
 * change the title, clear the screen or hide text. {@linkcode sanitize} shows every control
 * character, and the bidirectional overrides of "Trojan source", as a visible escape.
 * {@linkcode sanitizeLine} does the same for one line of a log, newlines and tabs included, so a
 * peer cannot forge a line of its own. Pure, for the server and every client alike.
 *
 * @example
 * ```ts
 * import { sanitize } from "./sanitize.ts";
 * sanitize("ana\x1b]52;c;ZXZpbA==\x07"); // "ana\\x1b]52;c;ZXZpbA==\\x07"
 * ```
 * @module
 */

const UNSAFE =
  // Control characters are what this pattern finds: they are meant.
  // deno-lint-ignore no-control-regex
  /[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]|\r(?!\n)/g;

function escape(ch: string): string {
  const code = ch.charCodeAt(0);
  return code <= 0xff
    ? `\\x${code.toString(16).padStart(2, "0")}`
    : `\\u${code.toString(16).padStart(4, "0")}`;
}

/** Control characters, newlines and tabs included: a log line is one line. */
const UNSAFE_IN_LINE =
  // deno-lint-ignore no-control-regex
  /[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2028\u2029\u2066-\u2069]/g;

/**
 * Returns one line with every control character (newlines and tabs too) shown as an escape.
 *
 * @example
 * ```ts
 * import { sanitizeLine } from "./sanitize.ts";
 * sanitizeLine("job.py\nqdb serve: fake"); // "job.py\\x0aqdb serve: fake"
 * ```
 */
export function sanitizeLine(line: string): string {
  return line.replace(UNSAFE_IN_LINE, escape);
}

/** Returns `value` with every string in it made safe to print (newlines and tabs kept). */
export function sanitize<T>(value: T): T {
  if (typeof value === "string") return value.replace(UNSAFE, escape) as T;
  if (Array.isArray(value)) return value.map(sanitize) as T;
  if (typeof value === "object" && value !== null) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[sanitize(k)] = sanitize(v);
    return out as T;
  }
  return value;
}
