import { assertEquals, assertThrows } from "../../tests/support/assert.ts";
import {
  ArgumentError,
  looksLikePython,
  parseBreak,
  parseCount,
  parseList,
  parseNumbers,
  shellWords,
  splitCommand,
} from "./parse.ts";

Deno.test("break locations: line, file:line, function, with conditions containing commas", () => {
  assertEquals(parseBreak("12"), { line: 12 });
  assertEquals(parseBreak("lib/util.py:7"), { file: "lib/util.py", line: 7 });
  assertEquals(parseBreak("is_prime, n == 97"), { func: "is_prime", cond: "n == 97" });
  assertEquals(parseBreak("Shop.buy"), { func: "Shop.buy" });
  assertEquals(parseBreak("a.py:3, f(1, 2) > 0"), { file: "a.py", line: 3, cond: "f(1, 2) > 0" });
  assertThrows(() => parseBreak("a.py:0"), ArgumentError, "line must be >= 1");
  assertThrows(() => parseBreak("3x"), ArgumentError, 'Cannot set a breakpoint at "3x"');
});

Deno.test("numbers, counts and list ranges", () => {
  assertEquals(parseNumbers("1 2,3"), [1, 2, 3]);
  assertThrows(() => parseNumbers("1 x"), ArgumentError, 'Invalid breakpoint number "x"');
  assertEquals(parseCount(""), undefined);
  assertEquals(parseCount(" 3 "), 3);
  assertThrows(() => parseCount("0"), ArgumentError);
  assertEquals(parseList(""), { kind: "continue" });
  assertEquals(parseList("."), { kind: "current" });
  assertEquals(parseList("20"), { kind: "range", first: 15, last: 25 });
  assertEquals(parseList("3, 8"), { kind: "range", first: 3, last: 8 });
  // As in pdb, a second number smaller than the first is a count.
  assertEquals(parseList("10, 4"), { kind: "range", first: 10, last: 14 });
});

Deno.test("command words, and lines that are Python despite starting with one", () => {
  assertEquals(splitCommand("b 12"), { word: "b", rest: "12" });
  assertEquals(splitCommand("!x = 1"), { word: "!", rest: "x = 1" });
  assertEquals(splitCommand("  p  x "), { word: "p", rest: "x" });
  assertEquals(looksLikePython("= 5"), true);
  assertEquals(looksLikePython(".append(1)"), true);
  assertEquals(looksLikePython("[0]"), true);
  assertEquals(looksLikePython("+= 1"), true);
  assertEquals(looksLikePython("12"), false);
  assertEquals(looksLikePython("x"), false);
  assertEquals(looksLikePython("== 3"), true);
  // Issue 9 item 8: `l .` is pdb's listing around the current line.
  assertEquals(looksLikePython("."), false);
  assertEquals(looksLikePython(" . "), false);
  assertEquals(looksLikePython(".x"), true);
});

Deno.test("shellWords splits as shlex.split does (pdb's restart arguments)", () => {
  assertEquals(shellWords(`a  "b c" 'd "e"' f\\ g "h\\"i" ''`), [
    "a",
    "b c",
    'd "e"',
    "f g",
    'h"i',
    "",
  ]);
  assertEquals(shellWords("   "), []);
  assertThrows(() => shellWords(`"open`), ArgumentError, "No closing quotation");
});
