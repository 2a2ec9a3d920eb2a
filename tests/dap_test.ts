// `qdb dap` driven by Microsoft's own DAP test client (@vscode/debugadapter-testsupport), a
// client nobody here wrote, over standard input and output, on every CPython 3.8+ found.
import { DebugClient } from "npm:@vscode/debugadapter-testsupport@1.68.0";
import { QdbClient } from "../client.ts";
import { assert, assertEquals, assertMatch } from "./support/assert.ts";
import { QdbProcess, startServe } from "./support/processes.ts";
import { findPythons, type PythonInstall } from "./support/pythons.ts";

const pythons = await findPythons();
const PROGRAM = new URL("../testdata/contract.py", import.meta.url).pathname;
const POSTMORTEM = new URL("../testdata/postmortem.py", import.meta.url).pathname;
const SPIN = new URL("../testdata/spin.py", import.meta.url).pathname;
const QDB = new URL("../mod.ts", import.meta.url).pathname;

/** An adapter started as an editor starts one: a command, DAP on its stdin and stdout. */
async function adapter(): Promise<{ dc: DebugClient; dir: string }> {
  const dir = await Deno.makeTempDir({ prefix: "qdb-dap-" });
  const script = `${dir}/qdb-dap`;
  await Deno.writeTextFile(
    script,
    `#!/bin/sh\nexec "${Deno.execPath()}" run --allow-all "${QDB}" dap\n`,
    { mode: 0o755 },
  );
  const dc = new DebugClient("sh", script, "qdb", undefined, true);
  await dc.start();
  // Deno's Node layer does not count the adapter's pipes as pending work: while the test waits
  // for an event, something must keep the event loop alive.
  const alive = setInterval(() => {}, 1000);
  const stop = dc.stop.bind(dc);
  dc.stop = async () => {
    clearInterval(alive);
    await stop();
  };
  return { dc, dir };
}

async function session(python: PythonInstall) {
  const { dc, dir } = await adapter();
  try {
    const init = await dc.initializeRequest();
    assert(init.body?.supportsConfigurationDoneRequest);
    assert(init.body?.supportsLogPoints);
    const launch = { program: PROGRAM, python: python.path };
    // A logpoint on visit's first line, and a breakpoint on its return line.
    const outputs: { category?: string; output: string }[] = [];
    dc.on("output", (event) => outputs.push(event.body));
    await Promise.all([
      dc.waitForEvent("initialized").then(async () => {
        const set = await dc.setBreakpointsRequest({
          source: { path: PROGRAM },
          breakpoints: [{ line: 3, logMessage: "label of {n}" }, { line: 4 }],
        });
        assertEquals(set.body.breakpoints.map((b) => [b.verified, b.line]), [[true, 3], [
          true,
          4,
        ]]);
        await dc.configurationDoneRequest();
      }),
      dc.launch(launch),
      dc.assertStoppedLocation("breakpoint", { path: PROGRAM, line: 4 }),
    ]);
    assert(
      outputs.some((o) => o.category === "console" && o.output === "label of 0\n"),
      JSON.stringify(outputs),
    );

    // Threads, the stack, scopes and a list paged by index.
    const { body: { threads } } = await dc.threadsRequest();
    assertEquals(threads.map((t) => t.name), ["MainThread"]);
    const stack = await dc.stackTraceRequest({
      threadId: threads[0]!.id,
      startFrame: 0,
      levels: 1,
    });
    assertEquals(stack.body.stackFrames.map((f) => [f.name, f.line]), [["visit", 4]]);
    assert((stack.body.totalFrames ?? 0) >= 2);
    const frameId = stack.body.stackFrames[0]!.id;
    const { body: { scopes } } = await dc.scopesRequest({ frameId });
    assertEquals(scopes[0]!.name, "Locals");
    const { body: { variables } } = await dc.variablesRequest({
      variablesReference: scopes[0]!.variablesReference,
    });
    const items = variables.find((v) => v.name === "items")!;
    assertEquals(items.indexedVariables, 250);
    const page = await dc.variablesRequest({
      variablesReference: items.variablesReference,
      filter: "indexed",
      start: 245,
      count: 5,
    });
    assertEquals(page.body.variables.map((v) => v.value), ["245", "246", "247", "248", "249"]);

    // Evaluate for a hover and in the console.
    const hover = await dc.evaluateRequest({ expression: "n + 1", frameId, context: "hover" });
    assertEquals(hover.body.result, "1");
    const failed = await dc.evaluateRequest({ expression: "nope", frameId, context: "repl" })
      .then(() => undefined, (error: Error) => error.message);
    assertMatch(failed ?? "", /NameError/);

    // Step out of visit, step over, then continue to the breakpoint's second hit.
    // Out of visit: the caller's next line (CPython reports no new line when a call returns to
    // the middle of one).
    const [, out] = await Promise.all([
      dc.stepOutRequest({ threadId: threads[0]!.id }),
      dc.waitForEvent("stopped"),
    ]);
    assertEquals(out.body.reason, "step");
    const outer = await dc.stackTraceRequest({ threadId: threads[0]!.id });
    assertEquals(outer.body.stackFrames[0]!.name, "<module>");
    await Promise.all([
      dc.continueRequest({ threadId: threads[0]!.id }),
      dc.assertStoppedLocation("breakpoint", { path: PROGRAM, line: 4 }),
    ]);
    const second = await dc.evaluateRequest({ expression: "label" });
    assertEquals(second.body.result, "'visit 1'");

    // To the end: the program's exit, then the session's.
    await Promise.all([
      dc.continueRequest({ threadId: threads[0]!.id }),
      dc.waitForEvent("exited"),
      dc.waitForEvent("terminated"),
    ]);
    // dc.stop() sends the editor's disconnect.
  } finally {
    await dc.stop();
    await Deno.remove(dir, { recursive: true });
  }
}

/** Launches `program` through a new adapter, configured with `filters`, running. */
async function launched(python: PythonInstall, program: string, args: string[], filters: string[]) {
  const { dc, dir } = await adapter();
  await dc.initializeRequest();
  await Promise.all([
    dc.waitForEvent("initialized").then(async () => {
      await dc.setExceptionBreakpointsRequest({ filters });
      await dc.configurationDoneRequest();
    }),
    dc.launch({ program, args, python: python.path }),
  ]);
  return { dc, dir };
}

async function exceptionsPauseTerminate(python: PythonInstall) {
  // An uncaught exception stops where it was raised, and says what it was.
  const crash = await launched(python, POSTMORTEM, [], ["uncaught"]);
  try {
    const stop = await crash.dc.waitForEvent("stopped");
    assertEquals(stop.body.reason, "exception");
    const info = await crash.dc.exceptionInfoRequest({ threadId: stop.body.threadId });
    assertEquals([info.body.exceptionId, info.body.breakMode], ["ZeroDivisionError", "unhandled"]);
    assertMatch(info.body.details?.stackTrace ?? "", /ratio = 10 \/ d/);
    const [, exited] = await Promise.all([
      crash.dc.continueRequest({ threadId: stop.body.threadId }),
      crash.dc.waitForEvent("exited"),
    ]);
    assertEquals(exited.body.exitCode, 1);
  } finally {
    await crash.dc.stop();
    await Deno.remove(crash.dir, { recursive: true });
  }
  // A busy loop paused, read, then ended from the editor.
  const busy = await launched(python, SPIN, ["loop"], []);
  try {
    await busy.dc.assertOutput("stdout", "spinning loop\n");
    const [, stop] = await Promise.all([
      busy.dc.pauseRequest({ threadId: 0 }),
      busy.dc.waitForEvent("stopped"),
    ]);
    assertEquals(stop.body.reason, "pause");
    const x = await busy.dc.evaluateRequest({ expression: "x > 0", context: "repl" });
    assertEquals(x.body.result, "True");
    await Promise.all([
      busy.dc.terminateRequest({}),
      busy.dc.waitForEvent("exited"),
      busy.dc.waitForEvent("terminated"),
    ]);
  } finally {
    await busy.dc.stop();
    await Deno.remove(busy.dir, { recursive: true });
  }
}

Deno.test({
  name: "qdb dap: an uncaught exception with exceptionInfo; pause a busy loop; terminate",
  ignore: pythons.length === 0,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    await Promise.all(pythons.map((python) =>
      t.step({
        name: `Python ${python.version}`,
        sanitizeOps: false,
        sanitizeResources: false,
        sanitizeExit: false,
        fn: () => exceptionsPauseTerminate(python),
      })
    ));
  },
});

Deno.test({
  name: "qdb dap: launch, breakpoints and a logpoint, threads, stack, paged variables, steps",
  ignore: pythons.length === 0,
  // The DAP test client's own timers and child process outlive a failing step otherwise.
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    await Promise.all(pythons.map((python) =>
      t.step({
        name: `Python ${python.version}`,
        sanitizeOps: false,
        sanitizeResources: false,
        sanitizeExit: false,
        fn: () => session(python),
      })
    ));
  },
});

const TOKEN = "dap-test-token";

async function attached(python: PythonInstall) {
  await using serve = await startServe(["--token", TOKEN]);
  const session = `dap-${python.version}`;
  await using trace = new QdbProcess([
    "trace",
    "--python",
    python.path,
    "--server",
    serve.tracerUrl,
    "--session",
    session,
    "--token",
    TOKEN,
    PROGRAM,
  ]);
  await trace.line(/is session/, "stderr");
  // Another client of the session, speaking qdb's own protocol.
  await using other = await QdbClient.connect(serve.clientUrl, { session, auth: TOKEN });
  const editors = Promise.withResolvers<void>();
  void (async () => {
    for await (const event of other.events) {
      if (event.e !== "breakpoints") continue;
      if (event.p.some((b) => b.line === 4 && b.file === PROGRAM)) editors.resolve();
    }
  })();
  const { dc, dir } = await adapter();
  try {
    await dc.initializeRequest();
    const breakpointEvents: { reason: string; breakpoint: { line?: number } }[] = [];
    dc.on("breakpoint", (event) => breakpointEvents.push(event.body));
    // The program already waits at its first line: the editor is told so once attached.
    const [, , entry] = await Promise.all([
      dc.waitForEvent("initialized").then(async () => {
        await dc.setBreakpointsRequest({ source: { path: PROGRAM }, breakpoints: [{ line: 4 }] });
        const fn = await dc.setFunctionBreakpointsRequest({ breakpoints: [{ name: "visit" }] });
        assertEquals(fn.body.breakpoints.map((b) => [b.verified, b.line]), [[true, 3]]);
        await dc.configurationDoneRequest();
      }),
      dc.attachRequest({ server: serve.clientUrl, session, token: TOKEN } as never),
      dc.waitForEvent("stopped"),
    ]);
    assertEquals(entry.body.reason, "entry");
    assertEquals(breakpointEvents, []);

    // The other client sees the editor's breakpoints, and the editor sees the other's.
    await editors.promise;
    const theirs = dc.waitForEvent("breakpoint");
    other.send("set_break", { file: PROGRAM, line: 9 });
    const told = await theirs;
    assertEquals([told.body.reason, told.body.breakpoint.line], ["new", 9]);

    // Continue: first to the other client's breakpoint, then to the function breakpoint.
    await Promise.all([
      dc.continueRequest({ threadId: entry.body.threadId }),
      dc.assertStoppedLocation("breakpoint", { path: PROGRAM, line: 9 }),
    ]);
    const [, hit] = await Promise.all([
      dc.continueRequest({ threadId: entry.body.threadId }),
      dc.waitForEvent("stopped"),
    ]);
    assertEquals(hit.body.reason, "breakpoint");
    const { body: { stackFrames } } = await dc.stackTraceRequest({ threadId: hit.body.threadId });
    const frameId = stackFrames[0]!.id;
    assertEquals([stackFrames[0]!.name, stackFrames[0]!.line], ["visit", 3]);
    // Change a local, complete a name.
    const { body: { scopes } } = await dc.scopesRequest({ frameId });
    const set = await dc.setVariableRequest({
      variablesReference: scopes[0]!.variablesReference,
      name: "n",
      value: "5",
    });
    assertEquals(set.body.value, "5");
    assertEquals((await dc.evaluateRequest({ expression: "n", frameId })).body.result, "5");
    const completed = await dc.completionsRequest({ text: "len(ite", column: 8, frameId });
    const items = completed.body.targets.find((t) => t.label === "items");
    assertEquals([items?.start, items?.length], [4, 3]);
  } finally {
    // Leaving does not end the session: the other client stays.
    await dc.stop();
    await Deno.remove(dir, { recursive: true });
    other.send("disable", "hard");
  }
}

Deno.test({
  name: "qdb dap: attach to a session another client is in; breakpoints seen both ways",
  ignore: pythons.length === 0,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    await Promise.all(pythons.map((python) =>
      t.step({
        name: `Python ${python.version}`,
        sanitizeOps: false,
        sanitizeResources: false,
        sanitizeExit: false,
        fn: () => attached(python),
      })
    ));
  },
});
