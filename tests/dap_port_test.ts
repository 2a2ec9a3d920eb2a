// `qdb dap --port` (security finding 1): the port speaks only DAP, `initialize` comes first, and
// nothing runs before a `launch` or `attach` shows the adapter's token. Each attack is sent as
// its bytes, through the real CLI.

import { DebugClient } from "npm:@vscode/debugadapter-testsupport@1.68.0";
import { assert, assertEquals, assertMatch } from "./support/assert.ts";
import { QdbProcess } from "./support/processes.ts";
import { findPythons } from "./support/pythons.ts";
import { encodeDap } from "../dap/wire.ts";

const pythons = await findPythons();
const PROGRAM = new URL("../testdata/contract.py", import.meta.url).pathname;
const TOKEN = "adapter-s3cret";

/** A running `qdb dap --port 0` and its port. */
async function startAdapter(args: string[] = []): Promise<{ dap: QdbProcess; port: number }> {
  const dap = new QdbProcess(["dap", "--port", "0", ...args]);
  const [, port] = await dap.line(/^qdb dap: listening on 127\.0\.0\.1:(\d+)$/, "stderr");
  return { dap, port: Number(port) };
}

/** Sends `bytes` on a new connection and reads until the adapter closes it. */
async function exchange(port: number, bytes: Uint8Array): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(bytes);
    let text = "";
    const buf = new Uint8Array(64 * 1024);
    const decoder = new TextDecoder();
    while (true) {
      const n = await conn.read(buf).catch(() => null);
      if (n === null) return text;
      text += decoder.decode(buf.subarray(0, n), { stream: true });
    }
  } finally {
    try {
      conn.close();
    } catch { /* closed by the adapter */ }
  }
}

/** The launch of finding 1: any interpreter, any environment, here making `marker`. */
function hostileLaunch(marker: string, seq = 1): Record<string, unknown> {
  return {
    seq,
    type: "request",
    command: "launch",
    arguments: {
      program: "x",
      python: "/bin/bash",
      env: { BASH_ENV: `$(id > ${marker})` },
    },
  };
}

async function exists(path: string): Promise<boolean> {
  return await Deno.stat(path).then(() => true, () => false);
}

Deno.test("qdb dap --port: a web page's POST is closed at its first bytes and runs nothing", async () => {
  const dir = await Deno.makeTempDir();
  const { dap, port } = await startAdapter(["--token", TOKEN]);
  await using _ = dap;
  try {
    const marker = `${dir}/pwned.txt`;
    const body = JSON.stringify(hostileLaunch(marker));
    // What Chromium sends for fetch(url, {mode: "no-cors", method: "POST", body}).
    const request = `POST / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: keep-alive\r\n` +
      `Content-Length: ${new TextEncoder().encode(body).length}\r\n` +
      `Content-Type: text/plain;charset=UTF-8\r\nOrigin: http://evil.example\r\n\r\n${body}`;
    const answer = await exchange(port, new TextEncoder().encode(request));
    assertEquals(answer, "", "nothing is answered to HTTP");
    await dap.line(/looks like HTTP/, "stderr");
    assert(!(await exists(marker)), "the launch ran");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("qdb dap --port: launch before initialize, or without the token, is refused and runs nothing", async () => {
  const dir = await Deno.makeTempDir();
  const { dap, port } = await startAdapter();
  await using _ = dap;
  try {
    // No --token: a random one is printed, and needed.
    const [, printed] = await dap.line(/^qdb dap: token ([0-9a-f]{32}) /, "stderr");
    assert(printed);
    const first = `${dir}/first.txt`;
    const noInit = await exchange(port, encodeDap(hostileLaunch(first)));
    assertMatch(noInit, /"success":false.*The first request must be \\"initialize\\"/);

    const initialize = { seq: 1, type: "request", command: "initialize", arguments: {} };
    for (const [name, extra] of [["none", {}], ["wrong", { adapterToken: "guess" }]] as const) {
      const marker = `${dir}/${name}.txt`;
      const launch = hostileLaunch(marker, 2);
      Object.assign(launch.arguments as object, extra);
      const bytes = [...encodeDap(initialize), ...encodeDap(launch)];
      const answer = await exchange(port, new Uint8Array(bytes));
      assertMatch(answer, /"command":"initialize","success":true/);
      assertMatch(answer, /"command":"launch","success":false,"message":"The adapter/);
      assert(!(await exists(marker)), `the launch ran with ${name} token`);
    }
    // Anything else before launch is refused too (it would read or run code in a session).
    const evaluate = {
      seq: 2,
      type: "request",
      command: "evaluate",
      arguments: { expression: "1" },
    };
    const answer = await exchange(
      port,
      new Uint8Array([...encodeDap(initialize), ...encodeDap(evaluate)]),
    );
    assertMatch(answer, /"command":"evaluate","success":false,.*needs a session/);
    assert(!(await exists(first)), "the launch before initialize ran");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "qdb dap --port: an editor that gives the token debugs as before",
  ignore: pythons.length === 0,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const { dap, port } = await startAdapter(["--token", TOKEN]);
    await using _ = dap;
    const dc = new DebugClient("unused", "unused", "qdb");
    const alive = setInterval(() => {}, 1000);
    try {
      await dc.start(port);
      await dc.initializeRequest();
      const [, , entry] = await Promise.all([
        dc.waitForEvent("initialized").then(() => dc.configurationDoneRequest()),
        dc.launch({
          program: PROGRAM,
          python: pythons.at(-1)!.path,
          stopOnEntry: true,
          adapterToken: TOKEN,
        } as never),
        dc.waitForEvent("stopped"),
      ]);
      assertEquals(entry.body.reason, "entry");
      await Promise.all([
        dc.continueRequest({ threadId: entry.body.threadId }),
        dc.waitForEvent("terminated"),
      ]);
    } finally {
      await dc.stop();
      clearInterval(alive);
      dap.kill();
    }
  },
});
