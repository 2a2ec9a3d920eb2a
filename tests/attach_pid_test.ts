/**
 * Issue 29's "done when", through the CLI, on every Python found: a program started with plain
 * `python3` (testdata/attach_service.py) is attached by `qdb trace --pid` to a server, debugged
 * there by a remote client (a pause where it sleeps, an evaluation, a breakpoint in its worker
 * thread), detached by that client, and runs to its normal end with its own exit code, its
 * output whole and in order, and nothing of qdb left in it. `qdb dap` attaches by `processId` as
 * VS Code's process picker asks, and its disconnect detaches. Also: `qdb trace --pid` of a
 * process that is no Python, and `--pid` with a program, fail with their message. Skips where gdb or
 * ptrace is not allowed.
 */

import { assert, assertEquals, assertMatch } from "./support/assert.ts";
import { findPythons, onEveryPython, type PythonInstall } from "./support/pythons.ts";
import { adapter } from "./support/dap.ts";
import { attachSkipReason, SERVICE, startService, WORK_LINE } from "./support/ptrace.ts";
import { QdbProcess } from "./support/processes.ts";
import { serve } from "../server.ts";
import { QdbClient } from "../client.ts";

const skip = await attachSkipReason();
if (skip) console.log(`skip: qdb trace --pid: ${skip}`);

const SLEEP_LINE = Deno.readTextFileSync(SERVICE).split("\n")
  .findIndex((line) => line.trim() === "time.sleep(600)") + 1;

/** The client's events until a breakpoint's stop of thread `name` (fails if they end first). */
async function untilStopOf(client: QdbClient, name: string) {
  for await (const event of client.events) {
    if (event.e === "stack" && event.p.thread?.name === name && event.p.reason === "breakpoint") {
      return event;
    }
  }
  throw new Error(`the connection closed before a stop of ${name}`);
}

async function attachThroughServer(python: PythonInstall) {
  const token = crypto.randomUUID();
  await using server = await serve({ clientPort: 0, tracerPort: 0, token });
  const service = startService(python, "sleep");
  try {
    await service.readUntil("tick 3\n");
    const session = `pid-${service.child.pid}`;
    await using trace = new QdbProcess([
      "trace",
      "--pid",
      String(service.child.pid),
      "--server",
      server.tracerUrl,
      "--session",
      session,
      "--token",
      token,
      "--quiet",
    ]);
    await trace.line(/is session pid-/, "stderr");
    assertMatch(trace.text.stderr, new RegExp(`process ${service.child.pid} \\(.*attach_service`));
    const client = await QdbClient.connect(server.clientUrl, { session, auth: token });
    assertEquals(client.attached.tracer?.pid, service.child.pid);
    // A pause stops it (the main thread where it sleeps, or the worker at its next line).
    const stack = await client.requestEvent("pause", undefined, "stack");
    assertEquals(stack.p.reason, "pause");
    const line = stack.p.stack.at(-1)?.line;
    assert(stack.p.thread?.name === "worker" || line === SLEEP_LINE, JSON.stringify(stack.p));
    const value = await client.request("evaluate", { expr: "mode + '!'" });
    assertEquals(value.value, "'sleep!'");
    // A breakpoint in the worker thread hits once the program runs again.
    await client.requestEvent("set_break", { file: SERVICE, line: WORK_LINE }, "breakpoints");
    client.send("continue");
    const hit = await untilStopOf(client, "worker");
    assertEquals(hit.p.stack.at(-1)?.line, WORK_LINE);
    await client.requestEvent("clear_break", { file: SERVICE, line: WORK_LINE }, "breakpoints");
    // Detached by the client: the tracer ends, and the program runs on.
    client.send("disable", "soft");
    assertEquals((await trace.status).code, 0);
    client.close();
    await client.closed;
    await service.stopBySignal();
    await service.assertEndedClean();
    assert(service.stdout.startsWith("before\ntick 0\n"), service.stdout.slice(0, 100));
  } catch (error) {
    await service.kill();
    throw error;
  }
}

onEveryPython(
  "qdb trace --pid: a running program debugged through a server by a remote client, detached, ends as it would",
  attachThroughServer,
  skip !== undefined,
);

Deno.test({
  name: "qdb trace --pid: a process that is no Python, and --pid with a program, say why",
  ignore: skip !== undefined,
  async fn() {
    const sleeper = new Deno.Command("sleep", { args: ["30"] }).spawn();
    try {
      await using trace = new QdbProcess(["trace", "--pid", String(sleeper.pid)]);
      assertEquals((await trace.status).code, 1);
      assertMatch(trace.text.stderr, /is not a Python/);
    } finally {
      sleeper.kill();
      await sleeper.status;
    }
    await using both = new QdbProcess(["trace", "--pid", "1", "app.py"]);
    assertEquals((await both.status).code, 2);
    assertMatch(both.text.stderr, /name no program to start/);
    await using stop = new QdbProcess(["trace", "--stop", "app.py"]);
    assertMatch((await stop.status, stop.text.stderr), /--stop goes with --pid/);
  },
});

Deno.test({
  name:
    "qdb dap: attach with processId (VS Code's process picker), a breakpoint, disconnect detaches",
  ignore: skip !== undefined,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const [python] = await findPythons();
    if (!python) return console.log("skip: no Python 3.8+ found");
    const service = startService(python, "sleep");
    const { dc, dir } = await adapter();
    try {
      await service.readUntil("tick 3\n");
      await dc.initializeRequest();
      const [, , stopped] = await Promise.all([
        dc.waitForEvent("initialized").then(async () => {
          await dc.setBreakpointsRequest({
            source: { path: SERVICE },
            breakpoints: [{ line: WORK_LINE }],
          });
          await dc.configurationDoneRequest();
        }),
        dc.attachRequest({ processId: String(service.child.pid) } as never),
        dc.waitForEvent("stopped"),
      ]);
      assertEquals(stopped.body.reason, "breakpoint");
      const { body: { stackFrames } } = await dc.stackTraceRequest({
        threadId: stopped.body.threadId,
      });
      assertEquals([stackFrames[0]!.name, stackFrames[0]!.line], ["work", WORK_LINE]);
      // The editor goes: qdb detaches, the program runs on without its breakpoints.
      await dc.stop();
      await service.stopBySignal();
      await service.assertEndedClean();
    } catch (error) {
      await service.kill();
      throw error;
    } finally {
      await dc.stop();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
