import { assertEquals, assertThrows } from "../tests/support/assert.ts";
import { engineFor, ENGINES, isRuntime, UnknownEngineError } from "./registry.ts";

Deno.test("the engine of a command line: named, by its runtime, by its files, or the default", () => {
  assertEquals(engineFor({ engine: "python", program: "app.js" }).name, "python");
  assertEquals(engineFor({ runtime: "/usr/bin/python3.12", program: "tool" }).name, "python");
  assertEquals(engineFor({ program: "app.py" }).name, "python");
  assertEquals(engineFor({}).name, "python");
  assertThrows(() => engineFor({ engine: "cobol" }), UnknownEngineError, 'No engine "cobol"');
  assertEquals([isRuntime("python3"), isRuntime("python"), isRuntime("ls")], [true, true, false]);
  // Every engine says what the roles ask of it.
  for (const engine of ENGINES.values()) {
    assertEquals(typeof engine.traits.sourceMimeType("x"), "string");
    assertEquals(engine.traits.isRuntime(engine.traits.defaultRuntime), true);
  }
});
