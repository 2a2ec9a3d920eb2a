import { assert, assertEquals, assertMatch, assertThrows } from "../tests/support/assert.ts";
import { parseEnvelope } from "./envelope.ts";
import { ProtocolError } from "./errors.ts";
import { encodeFrame, FrameDecoder } from "./framing.ts";
import { MAX_JSON_DEPTH, nestingDepth, parseJson } from "./json.ts";
import { showValue } from "./schema.ts";

Deno.test("nestingDepth counts brackets outside strings only, and stops past the limit", () => {
  assertEquals(nestingDepth('{"a": [1, {"b": "[[[\\"{{"}]}'), 3);
  assertEquals(nestingDepth("[]"), 1);
  assertEquals(nestingDepth('"[["'), 0);
  assertEquals(nestingDepth("[".repeat(1000), 10), 11);
});

Deno.test("finding 3: a message nested deeper than the limit is refused before it is parsed", () => {
  const deep = "[".repeat(MAX_JSON_DEPTH + 1) + "]".repeat(MAX_JSON_DEPTH + 1);
  const error = assertThrows(() => parseEnvelope(deep), ProtocolError);
  assertEquals(error.type, "message");
  assertMatch(error.message, /more than 64 levels deep/);
  // Four MiB of it, on both links.
  const huge = "[".repeat(2 * 1024 * 1024) + "]".repeat(2 * 1024 * 1024);
  assertMatch(assertThrows(() => parseEnvelope(huge), ProtocolError).message, /levels deep/);
  const [item] = new FrameDecoder().push(encodeFrame(huge));
  assert(item && "error" in item);
  assertMatch(item.error.message, /Frame nests/);
  // Just inside the limit is fine.
  const ok = `{"e":"x","p":${"[".repeat(MAX_JSON_DEPTH - 1)}${"]".repeat(MAX_JSON_DEPTH - 1)}}`;
  assertEquals(parseEnvelope(ok).e, "x");
  assertEquals(parseJson("[1]"), [1]);
});

Deno.test("finding 3: showValue of any value is short and never walks all of it", () => {
  let deep: unknown = 0;
  for (let i = 0; i < 200_000; i++) deep = [deep];
  const shown = showValue(deep);
  assert(shown.length <= 63, shown);
  assertEquals(showValue("x".repeat(4_000_000)).length, 63);
  assertEquals(showValue({ a: 1, b: [true, null] }), '{"a":1,"b":[true,null]}');
  assertEquals(showValue(undefined), "nothing");
});

Deno.test("finding 13: payload fields named like Object.prototype members are unknown fields", async () => {
  const { parseClientMessage } = await import("./validate.ts");
  for (const field of ["toString", "constructor", "hasOwnProperty", "__proto__"]) {
    const error = assertThrows(
      () => parseClientMessage(`{"e":"set_break","p":{"line":3,"${field}":1}}`),
      ProtocolError,
    );
    assertEquals(error.type, "payload");
    assertMatch(error.message, /unknown field/);
  }
});
