import { assertEquals } from "../tests/support/assert.ts";
import { pythonTokens } from "./highlight.ts";

Deno.test("Python lines split into keywords, strings, comments, numbers and the rest", () => {
  const line = 'def f(x=1.5e3, s="a#b"):  # not "a string"';
  const tokens = pythonTokens(line);
  assertEquals(tokens.map((t) => t.text).join(""), line);
  assertEquals(tokens.filter((t) => t.kind !== "text").map((t) => [t.kind, t.text]), [
    ["keyword", "def"],
    ["number", "1.5e3"],
    ["string", '"a#b"'],
    ["comment", '# not "a string"'],
  ]);
  // Names that contain keywords are names.
  assertEquals(pythonTokens("format = iffy"), [{ kind: "text", text: "format = iffy" }]);
  assertEquals(pythonTokens(""), []);
  // A docstring on one line is one string, quotes inside it included.
  assertEquals(pythonTokens('"""It\'s "here"."""  # done').map((t) => t.kind), [
    "string",
    "text",
    "comment",
  ]);
  assertEquals(pythonTokens("'''opens here").map((t) => t.kind), ["string"]);
});
