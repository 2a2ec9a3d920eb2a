/**
 * The bridge coming up in a program that runs already (engine/python/qdb_attach.py, issue 29's
 * second part; `qdb trace --pid` is not built on it yet), on every CPython found: put in by gdb
 * (inject.ts), it connects and says hello with the token; the program's output from then on
 * reaches the session; a pause stops its main thread where it was (in `time.sleep`); a
 * `disable soft` gives its output back, and it runs on to its own end. Skips where gdb or ptrace
 * is not allowed.
 */

import { assert, assertEquals } from "../../tests/support/assert.ts";
import { onEveryPython, type PythonInstall } from "../../tests/support/pythons.ts";
import { ATTACH_GO, ATTACH_TARGET, attachSkipReason } from "../../tests/support/ptrace.ts";
import type { Message } from "../../protocol/envelope.ts";
import { type Hello, readHello } from "./bridge_channel.ts";
import { injectPython } from "./inject.ts";
import { PYTHON_BRIDGE_FILES } from "./python_engine.ts";

const skip = await attachSkipReason();
if (skip) console.log(`skip: the bridge attached to a running process: ${skip}`);

/** Framed messages on the bridge's channel, after its hello. */
function channel(conn: Deno.UnixConn, hello: Hello) {
  const queue: Message[] = [...hello.pending];
  return {
    send(msg: unknown) {
      const body = new TextEncoder().encode(JSON.stringify(msg));
      const frame = new Uint8Array(4 + body.length);
      new DataView(frame.buffer).setUint32(0, body.length);
      frame.set(body, 4);
      return conn.write(frame);
    },
    // deno-lint-ignore no-explicit-any
    async next(): Promise<any> {
      while (queue.length === 0) {
        const { value, done } = await hello.reader.read();
        if (done) return undefined;
        for (const item of hello.decoder.push(value)) {
          if ("message" in item) queue.push(item.message);
        }
      }
      return queue.shift();
    },
  };
}

async function attachOnce(python: PythonInstall) {
  const dir = await Deno.makeTempDir({ prefix: "qdb-attach-" });
  for (const [name, text] of Object.entries(PYTHON_BRIDGE_FILES)) {
    await Deno.writeTextFile(`${dir}/${name}`, text);
  }
  const target = new Deno.Command(python.path, {
    args: [ATTACH_TARGET, "sleep"],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const out = target.stdout.getReader();
  let stdout = "";
  const readUntil = async (text: string) => {
    while (!stdout.includes(text)) {
      const { value, done } = await out.read();
      if (done) throw new Error(`The target ended: ${stdout}`);
      stdout += new TextDecoder().decode(value);
    }
  };
  const listener = Deno.listen({ transport: "unix", path: `${dir}/bridge.sock` });
  try {
    await readUntil("before\n");
    const token = crypto.randomUUID();
    const config = `${dir}/config.json`;
    await Deno.writeTextFile(
      config,
      JSON.stringify({ channel: `${dir}/bridge.sock`, token, stop_on_entry: false }),
    );
    const code = [
      "import sys",
      `sys.path.insert(0, ${JSON.stringify(dir)})`,
      "try:",
      "    import qdb, qdb_attach",
      "finally:",
      `    sys.path.remove(${JSON.stringify(dir)})`,
      `qdb_attach.start(${JSON.stringify(config)})`,
    ].join("\n");
    await injectPython(target.pid, `exec(${JSON.stringify(code)}, {})`);
    const conn = await listener.accept();
    const hello = await readHello(conn, token);
    assertEquals(hello.p.pid, target.pid);
    const link = channel(conn, hello);
    // It asks the tracer to hold its output pipes: answered, it goes on.
    let msg = await link.next();
    while (msg && msg.e !== "capture") msg = await link.next();
    await link.send({ e: "captured" });
    // A pause stops the main thread where it waits (in the program's loop).
    await link.send({ e: "pause", id: 1 });
    while (msg && msg.e !== "stopped") msg = await link.next();
    assert(msg, "no stop");
    assertEquals(msg.p.reason, "pause");
    // Soft disable: its output goes back to its own stdout, and it runs on.
    await link.send({ e: "disable", p: "soft", id: 2 });
    while (msg && msg.e !== "disabled") msg = await link.next();
    assert(msg, "not disabled");
    conn.close();
    await injectPython(target.pid, ATTACH_GO);
    await readUntil("after\n");
    const status = await target.status;
    const stderr = await new Response(target.stderr).text();
    assertEquals([status.code, stdout, stderr], [3, "before\nafter\n", ""]);
  } catch (error) {
    try {
      target.kill("SIGKILL");
    } catch { /* ended */ }
    await target.status;
    throw error;
  } finally {
    listener.close();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

onEveryPython(
  "attach: the bridge comes up in a running program, pauses it, and leaves it running",
  attachOnce,
  skip !== undefined,
);
