/**
 * `qdb dap`: a debug adapter for editors (the Debug Adapter Protocol) on standard input and
 * output, the way editors start adapters. Everything else it has to say goes to standard error.
 */

import { DapAdapter } from "../dap/adapter.ts";
import { DapWireError, encodeDap, readDap } from "../dap/wire.ts";
import type { CommandSpec } from "./args.ts";

/** The `dap` command. */
export const dapCommand: CommandSpec = {
  name: "dap",
  usage: "",
  summary: "A debug adapter for editors (Debug Adapter Protocol on standard input and output).",
  description: "Editors start it themselves: VS Code, Neovim (nvim-dap) and Emacs (dape) speak\n" +
    "DAP to it. `launch` debugs a program on this machine (a server and a tracer in this\n" +
    "process, which others can attach to); `attach` joins a session on a qdb server.",
  options: [],
  async run() {
    const out = Deno.stdout;
    const adapter = new DapAdapter((message) => {
      const bytes = encodeDap(message);
      let written = 0;
      while (written < bytes.length) written += out.writeSync(bytes.subarray(written));
    });
    try {
      // One request after the other: an editor's order (breakpoints, then configurationDone)
      // is the order they take effect in.
      for await (const message of readDap(Deno.stdin.readable)) {
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
  },
};
