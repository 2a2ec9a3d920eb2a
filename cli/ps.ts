/** `qdb ps`: the Python processes this user may attach to (issue 29's discovery). */

import { listPythonProcesses } from "../engine/python/inject.ts";
import { sanitize } from "../client/terminal/sanitize.ts";
import type { CommandSpec } from "./args.ts";

/** The `ps` command. */
export const psCommand: CommandSpec = {
  name: "ps",
  usage: "[options]",
  summary: "List the running Python processes this user may attach to.",
  options: [{ name: "json", type: "boolean", help: "Print them as JSON" }],
  async run({ values }) {
    const found = await listPythonProcesses();
    if (values.json) {
      console.log(JSON.stringify(found, null, 2));
      return 0;
    }
    if (found.length === 0) {
      console.log("No Python 3.8+ processes of this user");
      return 0;
    }
    // Command lines are the processes' own: never let them drive the terminal.
    const rows = found.map((p) => [
      String(p.pid),
      p.version,
      p.attachedBy
        ? `qdb (${p.attachedBy})`
        : p.qdb
        ? "qdb"
        : p.tracerPid !== 0
        ? `traced by ${p.tracerPid}`
        : "",
      sanitize(p.argv.join(" ")),
    ]);
    const header = ["PID", "PYTHON", "DEBUGGED", "COMMAND"];
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
    for (const row of [header, ...rows]) {
      console.log(row.map((cell, i) => cell.padEnd(widths[i]!)).join("  ").trimEnd());
    }
    return 0;
  },
};
