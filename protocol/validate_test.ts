import {
  assert,
  assertEquals,
  assertStringIncludes,
  assertThrows,
} from "../tests/support/assert.ts";
import { COMMANDS } from "./commands.ts";
import { ProtocolError } from "./errors.ts";
import { checkClientEvent, parseClientMessage } from "./validate.ts";

function refused(text: string): ProtocolError {
  return assertThrows(() => parseClientMessage(text), ProtocolError);
}

Deno.test("every command's catalogue example is accepted", () => {
  for (const [name, command] of Object.entries(COMMANDS)) {
    const msg = parseClientMessage(JSON.stringify(command.example));
    assertEquals(msg.e, name);
  }
});

// One wrong payload per command, with the words the error must contain.
const BAD_PAYLOADS: Record<keyof typeof COMMANDS, [unknown, string]> = {
  start: [42, "payload must be a string of at most 4096 characters or an object"],
  step: ["now", "payload must be an object {thread?}, or absent"],
  next: [1, "payload must be an object {thread?}, or absent"],
  return: [{ thread: "main" }, "payload.thread must be an integer"],
  until: [0, "payload must be an integer >= 1 or an object {thread?, line?}, or absent, got 0"],
  continue: [[1], "payload must be an object {thread?}, or absent"],
  eval: ["", "payload must be a non-empty string"],
  pprint: [{ code: "x" }, "payload must be a non-empty string"],
  set_watch: ["x", "payload must be an array"],
  clear_watch: [[1], "payload[0] must be a non-empty string"],
  set_break: [{ line: "7" }, 'payload.line must be an integer >= 1, got "7"'],
  clear_break: [{ file: "a.py" }, 'payload needs an "id", a "line" or a "rule"'],
  snapshots: [[], "payload must be an object"],
  snapshot: [{ id: 0 }, "payload.id must be an integer >= 1"],
  update_break: [{ enabled: true }, "payload.id is required"],
  list: [{ start: 5, end: 2 }, "payload.end must be >= payload.start (5), got 2"],
  up: [-1, "payload must be an integer >= 1, or absent"],
  down: ["x", "payload must be an integer >= 1, or absent"],
  frame: [undefined, "payload must be an integer >= 0 or an object {thread, index?}, got nothing"],
  locals: ["x", "payload must be absent"],
  globals: [1, "payload must be absent"],
  args: [true, "payload must be absent"],
  stack: [0, "payload must be absent"],
  breakpoints: ["all", "payload must be absent"],
  pause: [1, "payload must be absent"],
  disable: ["later", 'payload must be one of "soft", "hard", or absent, got "later"'],
  complete: [3, "payload must be a string"],
  input: [null, "payload must be a string"],
  set_exception_break: ["sometimes", 'must be one of "raised", "uncaught", "never"'],
  threads: [{}, "payload must be absent"],
  stack_trace: [{ thread: 1, levels: 0 }, "payload.levels must be an integer from 1 to 1000"],
  scopes: [{ frame: 0 }, "payload.frame must be an integer >= 1, got 0"],
  variables: [{ ref: 4, count: 5000 }, "payload.count must be an integer from 1 to 1000"],
  evaluate: [{ expr: "" }, "payload.expr must be a non-empty string"],
  source: [{ path: "" }, "payload.path must be a non-empty string"],
  find_source: [{ tail: 3 }, "payload.tail must be a non-empty string"],
  exception_info: [{}, "payload.thread is required"],
  set_variable: [{ ref: 1, name: "n" }, "payload.value is required"],
  debug: ["", "payload must be a non-empty string"],
  jump: [{ line: 0 }, "payload.line must be an integer >= 1, got 0"],
  completions: [{ text: 5 }, "payload.text must be a string"],
  set_breakpoints: [
    { file: "a.py", breakpoints: [{ line: 3, hit_condition: "lots" }] },
    'payload.breakpoints[0].hit_condition must be an operator (>=, >, ==, <, <=, %) and a count, such as ">= 5", got "lots"',
  ],
};

Deno.test("every command refuses a wrong payload, naming the problem", () => {
  for (const [name, [payload, words]] of Object.entries(BAD_PAYLOADS)) {
    const text = JSON.stringify({ e: name, p: payload, id: "x1" });
    const error = refused(text);
    assertEquals(error.type, "payload", `${name}: ${error.message}`);
    assertEquals(error.command, name);
    assertEquals(error.id, "x1", `${name}: the id is kept so the error reaches its sender`);
    assertStringIncludes(error.message, words, `${name}`);
    assert(error.message.startsWith(`${name}: `), error.message);
  }
});

Deno.test("a misspelt field is refused rather than ignored", () => {
  const error = refused('{"e": "set_break", "p": {"lnie": 4}}');
  assertStringIncludes(error.message, 'unknown field "lnie"');
});

Deno.test("set_break accepts a function and optional fields set to null", () => {
  const msg = parseClientMessage('{"e":"set_break","p":{"func":"is_prime","file":null}}');
  assertEquals(msg, { e: "set_break", p: { func: "is_prime" } });
  const cond = parseClientMessage('{"e":"update_break","p":{"id":1,"cond":null}}');
  assertEquals(cond.p, { id: 1, cond: null });
});

Deno.test("the original qdb's payloads still validate", () => {
  // What the original clients sent (qdb 2014-2019): start with an auth string, breakpoints
  // with every field, disable with a mode.
  parseClientMessage('{"e": "start", "p": ""}');
  parseClientMessage(
    '{"e":"set_break","p":{"file":"a.py","line":3,"temp":false,"cond":null,"func":null}}',
  );
  parseClientMessage(
    '{"e":"clear_break","p":{"file":"a.py","line":3,"temp":false,"cond":null,"func":null}}',
  );
  parseClientMessage('{"e": "disable", "p": "hard"}');
  parseClientMessage('{"e": "step", "p": null}');
  parseClientMessage('{"e": "list", "p": {"file": "a.py"}}');
});

Deno.test("malformed messages get type message, unknown events type event", () => {
  assertEquals(refused("{nope").type, "message");
  assertStringIncludes(refused("{nope").message, "not valid JSON");
  assertEquals(refused("[1, 2]").type, "message");
  assertStringIncludes(refused('{"p": 1}').message, 'no "e" field');
  assertStringIncludes(refused('{"e": 5}').message, '"e" must be a non-empty string');
  assertStringIncludes(refused('{"e": "step", "x": 1}').message, 'unknown top-level field "x"');
  assertStringIncludes(refused('{"e": "step", "id": {}}').message, '"id" must be an integer');
  const unknown = refused('{"e": "leap", "id": 9}');
  assertEquals(unknown.type, "event");
  assertEquals(unknown.id, 9);
  assertStringIncludes(unknown.message, 'Unknown command "leap"');
});

Deno.test("a message over the size limit is refused before parsing", () => {
  const text = JSON.stringify({ e: "eval", p: "x".repeat(100) });
  const error = assertThrows(
    () => parseClientMessage(text, { maxLength: 50 }),
    ProtocolError,
    "exceeds the limit of 50",
  );
  assertEquals(error.type, "message");
});

Deno.test("a client checks what it receives: known events typed, unknown ones skipped", () => {
  const exited = checkClientEvent({ e: "exited", p: { code: 0 } });
  assertEquals(exited, { e: "exited", p: { code: 0 } });
  assertEquals(checkClientEvent({ e: "from_a_newer_server", p: 1 }), undefined);
  try {
    checkClientEvent({ e: "attached", p: { session: 5 } });
    throw new Error("accepted a malformed attached");
  } catch (error) {
    assertEquals((error as ProtocolError).type, "payload");
  }
});
