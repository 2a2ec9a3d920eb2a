/**
 * `qdb dap`: a debug adapter for editors (the Debug Adapter Protocol) on standard input and
 * output, the way editors start adapters, or with `--port` on TCP (loopback by default), one
 * debug session per connection. Everything else it has to say goes to standard error.
 */

import { DapAdapter } from "../dap/adapter.ts";
import { DapGate } from "../dap/gate.ts";
import { type DapMessage, DapWireError, encodeDap, readDap } from "../dap/wire.ts";
import { type CommandSpec, num, str } from "./args.ts";

/** The `dap` command. */
export const dapCommand: CommandSpec = {
  name: "dap",
  usage: "[--port PORT [--host HOST] [--token TOKEN]]",
  summary: "A debug adapter for editors (Debug Adapter Protocol on standard input and output).",
  description: "Editors start it themselves: VS Code, Neovim (nvim-dap) and Emacs (dape) speak\n" +
    "DAP to it. `launch` debugs a program on this machine (a server and a tracer in this\n" +
    "process, which others can attach to); `attach` joins a session on a qdb server.\n" +
    "On a port, any local user or web page can connect: each connection must show the\n" +
    'token ("adapterToken" in its launch or attach configuration) before anything runs.',
  options: [
    {
      name: "port",
      type: "string",
      placeholder: "PORT",
      help:
        "Serve DAP on this TCP port instead (0: any free port, printed), a session per connection",
    },
    {
      name: "host",
      type: "string",
      placeholder: "HOST",
      help: "The address --port listens on (keep loopback unless you mean to share)",
      default: "127.0.0.1",
    },
    {
      name: "token",
      type: "string",
      placeholder: "TOKEN",
      help: "The secret each --port connection must give in launch or attach " +
        '("adapterToken"); without it, a random one is printed',
      env: "QDB_TOKEN",
    },
  ],
  async run({ values }) {
    if (values.port === undefined) {
      const out = Deno.stdout;
      return await session(Deno.stdin.readable, (bytes) => {
        let written = 0;
        while (written < bytes.length) written += out.writeSync(bytes.subarray(written));
      });
    }
    const listener = Deno.listen({
      hostname: str(values, "host") ?? "127.0.0.1",
      port: num(values, "port", 0, { min: 0, max: 65535, integer: true }),
    });
    const { hostname, port } = listener.addr as Deno.NetAddr;
    const token = str(values, "token") || randomToken();
    console.error(`qdb dap: listening on ${hostname}:${port}`);
    if (str(values, "token") === undefined) {
      console.error(`qdb dap: token ${token} (give it as "adapterToken" in launch or attach)`);
    }
    for await (const conn of listener) {
      // Writes in order, one after the other.
      let writes = Promise.resolve();
      void session(conn.readable, (bytes) =>
        writes = writes.then(async () => {
          let written = 0;
          while (written < bytes.length) written += await conn.write(bytes.subarray(written));
        }).catch(() => {}), token).finally(() => {
          try {
            conn.close();
          } catch { /* closed */ }
        });
    }
    return 0;
  },
};

/**
 * One debug session over a byte stream; resolves with the exit code. With a `token` (a TCP
 * connection), nothing runs until `launch` or `attach` shows it.
 */
async function session(
  input: ReadableStream<Uint8Array>,
  write: (bytes: Uint8Array) => void | Promise<void>,
  token?: string,
): Promise<number> {
  const adapter = new DapAdapter((message) => write(encodeDap(message)));
  const gate = new DapGate({ token });
  // One request after the other: an editor's order (breakpoints, then configurationDone) is
  // the order they take effect in. Those that end or interrupt the session go first, so that
  // the stop button works while an evaluation runs.
  let queue = Promise.resolve();
  const pending = new Set<Promise<void>>();
  try {
    for await (const message of readDap(input)) {
      const refusal = await gate.check(message);
      if (refusal !== undefined) {
        // Said before the stream is let go of: that closes the connection.
        await write(encodeDap(refusalOf(message, refusal)));
        console.error(`qdb dap: refused a connection: ${refusal}`);
        return 1;
      }
      const command = message.type === "request" ? String(message.command) : undefined;
      if (command === "disconnect") {
        await adapter.handle(message);
        break;
      }
      if (command !== undefined && URGENT.has(command)) {
        const done = adapter.handle(message);
        pending.add(done);
        void done.finally(() => pending.delete(done));
        continue;
      }
      queue = queue.then(() => adapter.handle(message));
    }
  } catch (error) {
    if (!(error instanceof DapWireError)) throw error;
    console.error(`qdb dap: ${error.message}`);
    return 1;
  } finally {
    await adapter.close();
    // What was under way ends with the session (its requests answered with an error).
    await Promise.allSettled([queue, ...pending]);
  }
  return 0;
}

/** The error response that tells an editor why its connection is closed. */
function refusalOf(message: DapMessage, why: string): object {
  return {
    seq: 0,
    type: "response",
    request_seq: typeof message.seq === "number" ? message.seq : 0,
    command: String(message.command ?? ""),
    success: false,
    message: why,
  };
}

/** A random token of 128 bits, as hex. */
function randomToken(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Requests that do not wait for those before them. */
const URGENT = new Set(["terminate", "pause"]);
