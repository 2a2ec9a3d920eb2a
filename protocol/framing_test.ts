import { assert, assertEquals, assertThrows } from "../tests/support/assert.ts";
import { type DecodedFrame, encodeFrame, FrameDecoder } from "./framing.ts";

function messages(frames: DecodedFrame[]): unknown[] {
  return frames.map((f) => ("message" in f ? f.message : { error: f.error.message }));
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

Deno.test("a frame is a big-endian length and UTF-8 JSON", () => {
  const frame = encodeFrame({ e: "eval", p: "é" });
  const body = new TextEncoder().encode('{"e":"eval","p":"é"}');
  assertEquals(Array.from(frame.subarray(0, 4)), [0, 0, 0, body.length]);
  assertEquals(frame.subarray(4), body);
});

Deno.test("frames split byte by byte are reassembled", () => {
  const decoder = new FrameDecoder();
  const frame = encodeFrame({ e: "print", p: { input: "<stdout>", exc: false, output: "héllo" } });
  const out: DecodedFrame[] = [];
  for (const byte of frame) out.push(...decoder.push(new Uint8Array([byte])));
  assertEquals(messages(out), [{
    e: "print",
    p: { input: "<stdout>", exc: false, output: "héllo" },
  }]);
  assertEquals(decoder.buffered, 0);
});

Deno.test("coalesced frames in one read all come out, in order", () => {
  const decoder = new FrameDecoder();
  const all = concat(...[1, 2, 3].map((n) => encodeFrame({ e: "up", p: n })));
  assertEquals(messages(decoder.push(all)), [{ e: "up", p: 1 }, { e: "up", p: 2 }, {
    e: "up",
    p: 3,
  }]);
});

Deno.test("a frame split across a coalesced read completes later", () => {
  const decoder = new FrameDecoder();
  const a = encodeFrame({ e: "a" });
  const b = encodeFrame({ e: "b", p: "x".repeat(1000) });
  const both = concat(a, b);
  assertEquals(messages(decoder.push(both.subarray(0, a.length + 10))), [{ e: "a" }]);
  assertEquals(decoder.push(both.subarray(a.length + 10, both.length - 1)), []);
  assertEquals(messages(decoder.push(both.subarray(both.length - 1))), [{
    e: "b",
    p: "x".repeat(1000),
  }]);
});

Deno.test("an oversized frame is reported, skipped, and the next frame still decodes", () => {
  const decoder = new FrameDecoder({ maxFrameSize: 100 });
  const big = encodeFrame({ e: "big", p: "x".repeat(500) });
  const next = encodeFrame({ e: "after" });
  // Deliver the big frame in pieces so the skip has to span reads.
  const first = decoder.push(big.subarray(0, 50));
  assertEquals(first.length, 1);
  assert("error" in first[0]!);
  assertEquals(first[0].error.type, "message");
  assert(first[0].error.message.includes("exceeds the limit of 100"));
  assertEquals(decoder.push(big.subarray(50, 300)), []);
  assertEquals(messages(decoder.push(concat(big.subarray(300), next))), [{ e: "after" }]);
});

Deno.test("bad UTF-8, bad JSON and bad envelopes are errors, not crashes", () => {
  const decoder = new FrameDecoder();
  const frame = (body: Uint8Array) => {
    const f = new Uint8Array(4 + body.length);
    new DataView(f.buffer).setUint32(0, body.length);
    f.set(body, 4);
    return f;
  };
  const enc = new TextEncoder();
  const out = messages(decoder.push(concat(
    frame(new Uint8Array([0xff, 0xfe])),
    frame(enc.encode("{not json")),
    frame(enc.encode('{"p": 1}')),
    encodeFrame({ e: "ok" }),
  )));
  assertEquals(out.length, 4);
  assert(String((out[0] as { error: string }).error).includes("UTF-8"));
  assert(String((out[1] as { error: string }).error).includes("not valid JSON"));
  assert(String((out[2] as { error: string }).error).includes('no "e" field'));
  assertEquals(out[3], { e: "ok" });
});

Deno.test("encoding past the limit throws a RangeError", () => {
  assertThrows(() => encodeFrame({ e: "x", p: "y".repeat(200) }, 100), RangeError, "limit is 100");
});

Deno.test("a large frame arriving in small pieces is put together whole, then the next one", () => {
  const big = { e: "print", p: { output: "x".repeat(600 * 1024) } };
  const bytes = new Uint8Array([...encodeFrame(big), ...encodeFrame({ e: "step" })]);
  const decoder = new FrameDecoder();
  const out = [];
  for (let at = 0; at < bytes.length; at += 7000) {
    out.push(...decoder.push(bytes.slice(at, at + 7000)));
  }
  assertEquals(out.length, 2);
  assertEquals(
    (out[0] as { message: { p: { output: string } } }).message.p.output.length,
    600 * 1024,
  );
  assertEquals((out[1] as { message: { e: string } }).message.e, "step");
  assertEquals(decoder.buffered, 0);
});
