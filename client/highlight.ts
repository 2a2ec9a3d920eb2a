/**
 * Python source split into the kinds of text a client colours: keywords, strings, comments,
 * numbers, and the rest. Line by line, without state across lines (a string or a comment that
 * spans lines is coloured on its first line only): good enough to read code by. Shared by the
 * terminal (ANSI colours) and the web client (spans).
 *
 * @example
 * ```ts
 * import { pythonTokens } from "./highlight.ts";
 * pythonTokens("x = 1  # one").map((t) => t.kind); // ["text", "number", "text", "comment"]
 * ```
 * @module
 */

/** A kind of text. */
export type TokenKind = "keyword" | "string" | "comment" | "number" | "text";

/** A piece of a line, and its kind. */
export interface Token {
  /** What it is. */
  kind: TokenKind;
  /** Its text. */
  text: string;
}

const PY_KEYWORDS = new Set(
  ("False None True and as assert async await break class continue def del elif else except " +
    "finally for from global if import in is lambda nonlocal not or pass raise return try " +
    "while with yield match case").split(" "),
);

const TOKEN =
  /(#.*$)|([rbfuRBFU]{0,2}(?:"""(?:.*?"""|.*$)|'''(?:.*?'''|.*$)|"(?:[^"\\]|\\.)*"?|'(?:[^'\\]|\\.)*'?))|(\b\d[\d_]*(?:\.\d+)?(?:[eE][-+]?\d+)?j?\b)|([A-Za-z_]\w*)/g;

/** One line of Python as tokens; their texts joined are the line. */
export function pythonTokens(line: string): Token[] {
  const out: Token[] = [];
  let at = 0;
  const text = (end: number) => {
    if (end > at) {
      const last = out.at(-1);
      if (last?.kind === "text") last.text += line.slice(at, end);
      else out.push({ kind: "text", text: line.slice(at, end) });
    }
  };
  for (const m of line.matchAll(TOKEN)) {
    const [match, comment, str, num, word] = m;
    const kind: TokenKind = comment
      ? "comment"
      : str
      ? "string"
      : num
      ? "number"
      : word && PY_KEYWORDS.has(word)
      ? "keyword"
      : "text";
    if (kind === "text") continue;
    text(m.index);
    out.push({ kind, text: match });
    at = m.index + match.length;
  }
  text(line.length);
  return out;
}
