/**
 * JSON parsing with bounded work: the nesting depth is measured in one linear pass over the
 * text before `JSON.parse` builds anything, so that a hostile `[[[[...]]]]` is refused in
 * microseconds instead of costing seconds to parse and overflowing the stack of every later
 * recursive walk (validation, rendering, `JSON.stringify`).
 *
 * @example
 * ```ts
 * import { nestingDepth, parseJson } from "./json.ts";
 * nestingDepth('{"a": [1, {"b": "[[["}]}'); // 3
 * parseJson('{"e": "step"}'); // { e: "step" }
 * ```
 * @module
 */

import { ProtocolError } from "./errors.ts";

/** Deepest nesting of arrays and objects accepted in one message. */
export const MAX_JSON_DEPTH = 64;

const OPEN_OBJECT = 0x7b; // {
const OPEN_ARRAY = 0x5b; // [
const CLOSE_OBJECT = 0x7d; // }
const CLOSE_ARRAY = 0x5d; // ]
const QUOTE = 0x22; // "
const BACKSLASH = 0x5c; // \

/**
 * The deepest nesting of `[` and `{` in JSON text, not counting brackets inside strings.
 * Stops counting once `limit` is exceeded (the answer is then `limit + 1`).
 */
export function nestingDepth(text: string, limit = Infinity): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === BACKSLASH) i++;
      else if (c === QUOTE) inString = false;
    } else if (c === QUOTE) inString = true;
    else if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
      if (++depth > deepest) {
        deepest = depth;
        if (deepest > limit) return deepest;
      }
    } else if (c === CLOSE_OBJECT || c === CLOSE_ARRAY) depth--;
  }
  return deepest;
}

/** Options of {@linkcode parseJson}. */
export interface ParseJsonOptions {
  /** Deepest nesting accepted. Default {@linkcode MAX_JSON_DEPTH}. */
  maxDepth?: number;
  /** What the text is, for the error message. Default `Message`. */
  what?: string;
}

/**
 * Parses JSON text whose nesting is at most `maxDepth`.
 *
 * @throws {ProtocolError} of type `message` when the text is nested too deeply or is not JSON.
 */
export function parseJson(text: string, options: ParseJsonOptions = {}): unknown {
  const max = options.maxDepth ?? MAX_JSON_DEPTH;
  const what = options.what ?? "Message";
  if (nestingDepth(text, max) > max) {
    throw new ProtocolError(
      "message",
      `${what} nests arrays or objects more than ${max} levels deep`,
    );
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new ProtocolError("message", `${what} is not valid JSON: ${truncate(reason, 120)}`);
  }
}

function truncate(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max)}...` : text;
}
