import { assertEquals } from "../../tests/support/assert.ts";
import { KeyDecoder } from "./keys.ts";
import { commonPrefix, LineEditor, renderLine } from "./line_editor.ts";

Deno.test("keys: text, controls and escape sequences, including ones split across reads", () => {
  const d = new KeyDecoder();
  assertEquals(d.push("ab\x1b[D\x7f\r"), [
    { name: "text", text: "ab" },
    { name: "left" },
    { name: "backspace" },
    { name: "enter" },
  ]);
  assertEquals(d.push("\x1b["), []);
  assertEquals(d.push("A\x03\x04\t"), [
    { name: "up" },
    { name: "interrupt" },
    { name: "eof" },
    { name: "tab" },
  ]);
  assertEquals(d.push("\x1b[200~pasted\x1b[201~"), [{ name: "text", text: "pasted" }]);
  assertEquals(d.push("é✓"), [{ name: "text", text: "é✓" }]);
});

Deno.test("line editor: editing, history browsing keeps the draft, kills", () => {
  const e = new LineEditor(["first", "second"]);
  for (const k of new KeyDecoder().push("helo\x1b[D")) e.handle(k);
  e.handle({ name: "text", text: "l" });
  assertEquals([e.buffer, e.cursor], ["hello", 4]);
  e.handle({ name: "up" });
  assertEquals(e.buffer, "second");
  e.handle({ name: "up" });
  e.handle({ name: "up" });
  assertEquals(e.buffer, "first");
  e.handle({ name: "down" });
  e.handle({ name: "down" });
  assertEquals(e.buffer, "hello");
  e.handle({ name: "home" });
  e.handle({ name: "kill-line" });
  assertEquals([e.buffer, e.killed], ["", "hello"]);
  e.insert("p total + 1");
  e.handle({ name: "kill-word" });
  assertEquals(e.buffer, "p total + ");
  const action = e.handle({ name: "enter" });
  assertEquals(action, { kind: "line", line: "p total + " });
  assertEquals(e.history, ["first", "second", "p total + "]);
  assertEquals(e.handle({ name: "eof" }), { kind: "eof" });
});

Deno.test("line rendering scrolls long lines to keep the cursor visible", () => {
  const e = new LineEditor();
  e.insert("x".repeat(50));
  const drawn = renderLine("(qdb) ", e, 30);
  assertEquals(drawn.startsWith("\r(qdb) "), true);
  // 30 columns: the prompt, 22 characters, and the cell the cursor sits in.
  assertEquals(drawn.includes("x".repeat(22)), true);
  assertEquals(drawn.includes("x".repeat(23)), false);
  assertEquals(commonPrefix(["math.isqrt(", "math.isclose("]), "math.is");
});
