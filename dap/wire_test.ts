import { assertEquals, assertRejects } from "../tests/support/assert.ts";
import { type DapMessage, DapWireError, encodeDap, readDap } from "./wire.ts";

function streamOf(...chunks: (string | Uint8Array)[]): ReadableStream<Uint8Array> {
  return ReadableStream.from(
    chunks.map((c) => typeof c === "string" ? new TextEncoder().encode(c) : c),
  );
}

async function readAll(stream: ReadableStream<Uint8Array>): Promise<DapMessage[]> {
  const out: DapMessage[] = [];
  for await (const message of readDap(stream)) out.push(message);
  return out;
}

Deno.test("readDap reads messages split anywhere, with DAP's optional Content-Type", async () => {
  const one = encodeDap({ seq: 1, type: "request", command: "initialize" });
  const body = JSON.stringify({ seq: 2, type: "request", command: "threads" });
  const two = `Content-Length: ${body.length}\r\nContent-Type: application/vscode-jsonrpc; ` +
    `charset=utf-8\r\n\r\n${body}`;
  const messages = await readAll(streamOf(one.subarray(0, 3), one.subarray(3), two));
  assertEquals(messages.map((m) => m.command), ["initialize", "threads"]);
});

Deno.test("readDap refuses HTTP by its first bytes, before the header block ends", async () => {
  // Only "POST " has arrived: no Content-Length yet, and nothing more is waited for.
  const error = await assertRejects(() => readAll(streamOf("POST ")), DapWireError);
  assertEquals(/looks like HTTP/.test(error.message), true);
});

Deno.test("readDap refuses a header block with a field that is not DAP's", async () => {
  for (
    const header of [
      "Content-Length: 2\r\nHost: x\r\n\r\n{}",
      "Content-Type: text/plain\r\nContent-Length: 2\r\n\r\n{}",
      "Content-Length: 2 3\r\n\r\n{}",
      "Content-Length: \r\n\r\n{}",
    ]
  ) {
    await assertRejects(() => readAll(streamOf(header)), DapWireError);
  }
});
