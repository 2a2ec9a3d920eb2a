/**
 * `qdb dap` started as an editor starts an adapter (a command, DAP on its standard input and
 * output), driven by Microsoft's own DAP test client.
 *
 * @module
 */

import { DebugClient } from "npm:@vscode/debugadapter-testsupport@1.68.0";
import { HANG_GUARD_MS } from "./scenario.ts";
import { QDB_ENTRY } from "./processes.ts";

/** An adapter started as an editor starts one: a command, DAP on its stdin and stdout. */
export async function adapter(): Promise<{ dc: DebugClient; dir: string }> {
  const dir = await Deno.makeTempDir({ prefix: "qdb-dap-" });
  const script = `${dir}/qdb-dap`;
  await Deno.writeTextFile(
    script,
    `#!/bin/sh\nexec "${Deno.execPath()}" run --allow-all "${QDB_ENTRY}" dap\n`,
    { mode: 0o755 },
  );
  const dc = new DebugClient("sh", script, "qdb", undefined, true);
  // The client's waits fail after 5 s by default: a wall-clock limit a loaded machine misses.
  // Here they are a hang guard only.
  dc.defaultTimeout = HANG_GUARD_MS;
  await dc.start();
  // Deno's Node layer does not count the adapter's pipes as pending work: while the test waits
  // for an event, something must keep the event loop alive.
  const alive = setInterval(() => {}, 1000);
  // Stopping sends the editor's disconnect, once: a second one would wait for a gone adapter.
  const stop = dc.stop.bind(dc);
  let stopped: Promise<void> | undefined;
  dc.stop = () =>
    stopped ??= (async () => {
      clearInterval(alive);
      await stop();
    })();
  return { dc, dir };
}
