import { assertEquals, assertThrows } from "../tests/support/assert.ts";
import {
  array,
  boolean,
  integer,
  literal,
  loose,
  nullable,
  object,
  record,
  SchemaError,
  string,
  union,
} from "./schema.ts";

Deno.test("object drops null optional fields but keeps null where it means something", () => {
  const s = object({ id: integer() }, { name: string(), cond: nullable(string()) });
  assertEquals(s.check({ id: 1, name: null, cond: null }, "p"), { id: 1, cond: null });
});

Deno.test("errors name the exact path", () => {
  const s = object({ items: array(object({ n: integer({ min: 0 }) })) });
  const error = assertThrows(
    () => s.check({ items: [{ n: 1 }, { n: -2 }] }, "payload"),
    SchemaError,
    "payload.items[1].n must be an integer >= 0, got -2",
  );
  assertEquals(error.path, "payload.items[1].n");
});

Deno.test("union reports the deepest mismatch", () => {
  const s = union(string(), object({ auth: string() }));
  assertThrows(() => s.check({ auth: 5 }, "p"), SchemaError, "p.auth must be a string, got 5");
  assertThrows(() => s.check(5, "p"), SchemaError, "p must be a string or an object {auth}");
});

Deno.test("scalars refuse near misses", () => {
  assertThrows(() => integer().check(1.5, "x"), SchemaError, "x must be an integer, got 1.5");
  assertThrows(() => boolean().check("true", "x"), SchemaError, 'got "true"');
  assertThrows(() => literal("a", "b").check("c", "x"), SchemaError, 'one of "a", "b"');
  assertThrows(
    () => string({ maxLength: 3 }).check("abcd", "x"),
    SchemaError,
    "got one of 4 characters",
  );
  assertThrows(() => record(string()).check({ a: 1 }, "x"), SchemaError, "x.a must be a string");
});

Deno.test("long bad values are shortened in messages", () => {
  const error = assertThrows(() => integer().check("y".repeat(500), "x"), SchemaError);
  assertEquals(error.message.length < 120, true);
});

Deno.test("loose keeps the fields it names and ignores the others; what it names is checked", () => {
  const point = loose({ x: integer() }, { label: string() });
  assertEquals(point.check({ x: 1, y: 2, label: "a", z: {} }, "p"), { x: 1, label: "a" });
  assertThrows(() => point.check({ x: "1" }, "p"), SchemaError, "p.x must be an integer");
  assertThrows(() => point.check([], "p"), SchemaError);
});
