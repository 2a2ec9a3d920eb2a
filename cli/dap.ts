/**
 * `qdb dap`: a debug adapter for editors (the Debug Adapter Protocol) on standard input and
 * output, the way editors start adapters, or with `--port` on TCP (loopback by default), one
 * debug session per connection. Everything else it has to say goes to standard error.
 */

import { DapAdapter } from "../dap/adapter.ts";
import { DapWireError, encodeDap, readDap } from "../dap/wire.ts";
import { type CommandSpec, num, str } from "./args.ts";

/** The `dap` command. */
export const dapCommand: CommandSpec = {
  name: "dap",
  usage: "[--port PORT [--host HOST]]",
  summary: "A debug adapter for editors (Debug Adapter Protocol on standard input and output).",
  description: "Editors start it themselves: VS Code, Neovim (nvim-dap) and Emacs (dape) speak\n" +
    "DAP to it. `launch` debugs a program on this machine (a server and a tracer in this\n" +
    "process, which others can attach to); `attach` joins a session on a qdb server.",
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
    console.error(`qdb dap: listening on ${hostname}:${port}`);
    for await (const conn of listener) {
      // Writes in order, one after the other.
      let writes = Promise.resolve();
      void session(conn.readable, (bytes) => {
        writes = writes.then(async () => {
          let written = 0;
          while (written < bytes.length) written += await conn.write(bytes.subarray(written));
        }).catch(() => {});
      }).finally(() => {
        try {
          conn.close();
        } catch { /* closed */ }
      });
    }
    return 0;
  },
};

/** One debug session over a byte stream; resolves with the exit code. */
async function session(
  input: ReadableStream<Uint8Array>,
  write: (bytes: Uint8Array) => void,
): Promise<number> {
  const adapter = new DapAdapter((message) => write(encodeDap(message)));
  try {
    // One request after the other: an editor's order (breakpoints, then configurationDone) is
    // the order they take effect in.
    for await (const message of readDap(input)) {
      await adapter.handle(message);
      if (message.type === "request" && message.command === "disconnect") break;
    }
  } catch (error) {
    if (!(error instanceof DapWireError)) throw error;
    console.error(`qdb dap: ${error.message}`);
    return 1;
  } finally {
    await adapter.close();
  }
  return 0;
}
