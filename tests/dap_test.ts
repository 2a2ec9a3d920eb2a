// `qdb dap` driven by Microsoft's own DAP test client (@vscode/debugadapter-testsupport), a
// client nobody here wrote, over standard input and output, on every CPython 3.8+ found.
import { DebugClient } from "npm:@vscode/debugadapter-testsupport@1.68.0";
import { QdbClient } from "../client.ts";
import { assert, assertEquals, assertMatch } from "./support/assert.ts";
import { QdbProcess, startServe, startTrace, traceArgs } from "./support/processes.ts";
import { findPythons, onEveryPython, type PythonInstall } from "./support/pythons.ts";
import { guardExit, HANG_GUARD_MS } from "./support/scenario.ts";
import { adapter } from "./support/dap.ts";
import { canUnshare } from "./support/unshare.ts";
import { relay } from "./support/relay.ts";

const pythons = await findPythons();
const PROGRAM = new URL("../testdata/contract.py", import.meta.url).pathname;
const POSTMORTEM = new URL("../testdata/postmortem.py", import.meta.url).pathname;
const SPIN = new URL("../testdata/spin.py", import.meta.url).pathname;
const MORE = new URL("../testdata/dap_more.py", import.meta.url).pathname;

/** The 1-based line of `path` that ends with `# @marker` (or contains `text`). */
function lineOf(path: string, marker: string): number {
  const lines = Deno.readTextFileSync(path).split("\n");
  const i = lines.findIndex((l) => l.endsWith(`# @${marker}`) || l.includes(marker));
  if (i < 0) throw new Error(`No ${marker} in ${path}`);
  return i + 1;
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

    // Step out of visit (to the call), then continue to the breakpoint's second hit.
    const [, out] = await Promise.all([
      dc.stepOutRequest({ threadId: threads[0]!.id }),
      dc.waitForEvent("stopped"),
    ]);
    assertEquals(out.body.reason, "step");
    const outer = await dc.stackTraceRequest({ threadId: threads[0]!.id });
    assertEquals(
      [outer.body.stackFrames[0]!.name, outer.body.stackFrames[0]!.line],
      ["<module>", 9],
    );
    await Promise.all([
      dc.continueRequest({ threadId: threads[0]!.id }),
      dc.assertStoppedLocation("breakpoint", { path: PROGRAM, line: 4 }),
    ]);
    const second = await dc.evaluateRequest({ expression: "label" });
    assertEquals(second.body.result, "'visit 1'");

    // "Jump to Cursor": back to visit's first line, which runs again (its logpoint too).
    assert(init.body?.supportsGotoTargetsRequest);
    const { body: { targets } } = await dc.gotoTargetsRequest({
      source: { path: PROGRAM },
      line: 3,
    });
    assertEquals(targets.map((t) => t.line), [3]);
    const [, moved] = await Promise.all([
      dc.gotoRequest({ threadId: threads[0]!.id, targetId: targets[0]!.id }),
      dc.waitForEvent("stopped"),
    ]);
    assertEquals(moved.body.reason, "goto");
    const at = await dc.stackTraceRequest({ threadId: threads[0]!.id, levels: 1 });
    assertEquals(at.body.stackFrames[0]!.line, 3);
    // Line 3 runs again, with n changed: label is made anew (the jump's own line is where the
    // program stopped, so its logpoint is not hit again, as a breakpoint would not be).
    await dc.evaluateRequest({ expression: "n = 5", frameId: at.body.stackFrames[0]!.id });
    await Promise.all([
      dc.continueRequest({ threadId: threads[0]!.id }),
      dc.assertStoppedLocation("breakpoint", { path: PROGRAM, line: 4 }),
    ]);
    assertEquals((await dc.evaluateRequest({ expression: "label" })).body.result, "'visit 5'");

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
async function launched(
  python: PythonInstall,
  program: string,
  args: string[],
  filters: string[],
  options: { firstOutput?: string } = {},
) {
  const { dc, dir } = await adapter();
  // Listened for before the launch: the program may print, or stop, before launch returns (on a
  // loaded machine it did, and the test waited for an event that had gone by).
  const stopped = dc.waitForEvent("stopped", HANG_GUARD_MS);
  stopped.catch(() => {});
  const output = options.firstOutput === undefined
    ? undefined
    : dc.assertOutput("stdout", options.firstOutput, HANG_GUARD_MS);
  output?.catch(() => {});
  await dc.initializeRequest();
  await Promise.all([
    dc.waitForEvent("initialized").then(async () => {
      await dc.setExceptionBreakpointsRequest({ filters });
      await dc.configurationDoneRequest();
    }),
    dc.launch({ program, args, python: python.path }),
  ]);
  return { dc, dir, stopped, output };
}

async function exceptionsPauseTerminate(python: PythonInstall) {
  // An uncaught exception stops where it was raised, and says what it was.
  const crash = await launched(python, POSTMORTEM, [], ["uncaught"]);
  try {
    const stop = await crash.stopped;
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
  const busy = await launched(python, SPIN, ["loop"], [], { firstOutput: "spinning loop\n" });
  try {
    await busy.output;
    const [, stop] = await Promise.all([
      busy.dc.pauseRequest({ threadId: 0 }),
      busy.dc.waitForEvent("stopped"),
    ]);
    assertEquals(stop.body.reason, "pause");
    const x = await busy.dc.evaluateRequest({ expression: "x > 0", context: "repl" });
    assertEquals(x.body.result, "True");
    // The editor's stop button works while an evaluation runs (it does not wait its end).
    const long = busy.dc.evaluateRequest({ expression: "__import__('time').sleep(600)" })
      .then(() => "", (error: Error) => error.message);
    await Promise.all([
      busy.dc.terminateRequest({}),
      busy.dc.waitForEvent("exited"),
      busy.dc.waitForEvent("terminated"),
    ]);
    const failed = await long;
    assert(failed !== "" && !/TimeoutError/.test(failed), failed);
  } finally {
    await busy.dc.stop();
    await Deno.remove(busy.dir, { recursive: true });
  }
}

onEveryPython(
  "qdb dap: an uncaught exception with exceptionInfo; pause a busy loop; terminate",
  exceptionsPauseTerminate,
);

onEveryPython(
  "qdb dap: launch, breakpoints and a logpoint, threads, stack, paged variables, steps",
  session,
);

const TOKEN = "dap-test-token";

async function attached(python: PythonInstall) {
  await using serve = await startServe(["--token", TOKEN]);
  const session = `dap-${python.version}`;
  await using trace = startTrace(serve, python.path, session, "--token", TOKEN, PROGRAM);
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
      // No session named: the server's one live session.
      dc.attachRequest({ server: serve.clientUrl, token: TOKEN } as never),
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
    // Leaving while another client is attached leaves the session as it is: stopped, with the
    // editor's breakpoints.
    await dc.stop();
    const { threads } = await other.request("threads");
    assertEquals(threads.map((t) => t.state), ["stopped"]);
    const table = await other.requestEvent("breakpoints", undefined, "breakpoints");
    assert((table.p as { line: number }[]).some((b) => b.line === 4), JSON.stringify(table.p));
  } finally {
    await dc.stop();
    await Deno.remove(dir, { recursive: true });
    other.send("disable", "hard");
  }
}

/** The editor is the session's only client: when it leaves, the program runs on to its end. */
async function leftAlone(python: PythonInstall) {
  await using serve = await startServe(["--token", TOKEN]);
  const session = `alone-${python.version}`;
  await using trace = startTrace(serve, python.path, session, "--token", TOKEN, PROGRAM);
  await trace.line(/is session/, "stderr");
  const { dc, dir } = await adapter();
  try {
    await dc.initializeRequest();
    const [, , entry] = await Promise.all([
      dc.waitForEvent("initialized").then(async () => {
        await dc.setBreakpointsRequest({ source: { path: PROGRAM }, breakpoints: [{ line: 4 }] });
        await dc.configurationDoneRequest();
      }),
      dc.attachRequest({ server: serve.clientUrl, token: TOKEN, session } as never),
      dc.waitForEvent("stopped"),
    ]);
    await Promise.all([
      dc.continueRequest({ threadId: entry.body.threadId }),
      dc.assertStoppedLocation("breakpoint", { path: PROGRAM, line: 4 }),
    ]);
    // Stopped at a breakpoint that would hit again: leaving (the editor's disconnect) clears it
    // and resumes.
    await dc.stop();
    // Killed (and failing) if it still waits at the breakpoint long after.
    const exited = guardExit(trace.exited(), () => trace.kill("SIGKILL"));
    assertEquals((await exited()).code, 0);
  } finally {
    await dc.stop();
    await Deno.remove(dir, { recursive: true });
  }
}

onEveryPython(
  "qdb dap: an editor that leaves a session nobody else attends lets the program run on",
  leftAlone,
);

Deno.test({
  name: "qdb dap: after a network blip the editor attaches again by itself and goes on debugging",
  ignore: pythons.length === 0,
  async fn() {
    const python = pythons.at(-1)!;
    await using serve = await startServe(["--token", TOKEN]);
    const session = "blip";
    await using trace = startTrace(serve, python.path, session, "--token", TOKEN, PROGRAM);
    await trace.line(/is session/, "stderr");
    // The editor reaches the server through a relay whose connections the test cuts.
    const net = relay({ hostname: "127.0.0.1", port: Number(new URL(serve.clientUrl).port) });
    const { dc, dir } = await adapter();
    try {
      await dc.initializeRequest();
      const said: string[] = [];
      dc.on("output", (event) => said.push(event.body.output));
      const [, , entry] = await Promise.all([
        dc.waitForEvent("initialized").then(async () => {
          await dc.setBreakpointsRequest({ source: { path: PROGRAM }, breakpoints: [{ line: 4 }] });
          await dc.configurationDoneRequest();
        }),
        dc.attachRequest(
          { server: `ws://127.0.0.1:${net.port}`, token: TOKEN, session } as never,
        ),
        dc.waitForEvent("stopped"),
      ]);
      const back = new Promise<void>((resolve) => {
        dc.on("output", (event) => {
          if (event.body.output === "qdb: attached again\n") resolve();
        });
      });
      net.cut();
      // Ending (no reconnection) fails the test at once instead of waiting for the guard.
      const ended = dc.waitForEvent("terminated").then(() => {
        throw new Error(`the adapter ended instead of attaching again: ${JSON.stringify(said)}`);
      });
      ended.catch(() => {});
      await Promise.race([back, ended]);
      assert(said.some((line) => line.startsWith("qdb: lost the server")), JSON.stringify(said));
      // The same session, driven as before: its breakpoint stops the program.
      await Promise.all([
        dc.continueRequest({ threadId: entry.body.threadId }),
        dc.assertStoppedLocation("breakpoint", { path: PROGRAM, line: 4 }),
      ]);
      const label = await dc.evaluateRequest({ expression: "label" });
      assertEquals(label.body.result, "'visit 0'");
    } finally {
      await dc.stop();
      await net.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

onEveryPython(
  "qdb dap: attach to a session another client is in; breakpoints seen both ways",
  attached,
);

const LIB = "def work(n):\n    x = n * 2\n    return x\n";

/** Sets a file's one breakpoint; says whether it is verified, and in which file the editor sees it. */
async function breakpointAt(dc: DebugClient, path: string, line: number) {
  const { body } = await dc.setBreakpointsRequest({ source: { path }, breakpoints: [{ line }] });
  return [body.breakpoints[0]!.verified, body.breakpoints[0]!.source?.path];
}

async function remotePaths(python: PythonInstall) {
  // The tracer's machine: files that exist only in its own mount namespace, under `remote`.
  const remote = await Deno.makeTempDir({ prefix: "qdb-remote-" });
  const stage = await Deno.makeTempDir({ prefix: "qdb-stage-" });
  await Deno.mkdir(`${stage}/pkg`);
  await Deno.writeTextFile(`${stage}/pkg/__init__.py`, "");
  await Deno.writeTextFile(`${stage}/pkg/lib.py`, LIB);
  await Deno.writeTextFile(
    `${stage}/main.py`,
    `import sys\nsys.path.insert(0, ${JSON.stringify(remote)})\nfrom pkg import lib\nlib.work(3)\n`,
  );
  // The editor's workspace: a copy of lib.py under another root, no main.py.
  const workspace = await Deno.makeTempDir({ prefix: "qdb-workspace-" });
  await Deno.mkdir(`${workspace}/src/pkg`, { recursive: true });
  const localLib = `${workspace}/src/pkg/lib.py`;
  await Deno.writeTextFile(localLib, LIB);
  await using serve = await startServe(["--token", TOKEN]);
  const session = `dap-remote-${python.version}`;
  await using tracer = new QdbProcess(
    traceArgs(serve, python.path, session, "--token", TOKEN, `${remote}/main.py`),
    { onlyHere: { dir: remote, stage } },
  );
  const { dc, dir } = await adapter();
  try {
    // The tracer says where its session is once it is there.
    await tracer.line(/is session/, "stderr");
    await dc.initializeRequest();
    const [, , entry] = await Promise.all([
      dc.waitForEvent("initialized").then(async () => {
        // Before lib.py is loaded: the tracer's copy is found by its trailing path.
        assertEquals(await breakpointAt(dc, localLib, 2), [true, localLib]);
        await dc.configurationDoneRequest();
      }),
      dc.attachRequest(
        { server: serve.clientUrl, session, token: TOKEN, workspaceFolder: workspace } as never,
      ),
      dc.waitForEvent("stopped"),
    ]);
    assert(!(await Deno.stat(`${remote}/main.py`).then(() => true, () => false)));
    // main.py exists only there: shown through a source reference, its text from the tracer.
    const top = (await dc.stackTraceRequest({ threadId: entry.body.threadId })).body
      .stackFrames[0]!;
    assert((top.source?.sourceReference ?? 0) > 0, JSON.stringify(top.source));
    const text = await dc.sourceRequest({ sourceReference: top.source!.sourceReference! });
    assertMatch(text.body.content, /from pkg import lib/);
    // lib.py: found in the workspace under another root, confirmed by its content.
    const [, hit] = await Promise.all([
      dc.continueRequest({ threadId: entry.body.threadId }),
      dc.waitForEvent("stopped"),
    ]);
    const frame = (await dc.stackTraceRequest({ threadId: hit.body.threadId })).body
      .stackFrames[0]!;
    assertEquals([frame.source?.path, frame.line, frame.source?.sourceReference], [
      localLib,
      2,
      undefined,
    ]);
    // Now a breakpoint in the editor's copy goes to the tracer's file, and is hit there.
    assertEquals(await breakpointAt(dc, localLib, 3), [true, localLib]);
    await Promise.all([
      dc.continueRequest({ threadId: hit.body.threadId }),
      dc.assertStoppedLocation("breakpoint", { path: localLib, line: 3 }),
    ]);
  } finally {
    await dc.stop();
    await tracer.close();
    for (const path of [dir, stage, workspace, remote]) {
      await Deno.remove(path, { recursive: true });
    }
  }
}

const unshare = await canUnshare();
if (!unshare) console.log("skip: remote paths need root and unshare (a mount namespace)");

onEveryPython(
  "qdb dap: a remote file shown by reference, another found in the workspace by content",
  remotePaths,
  !unshare,
);

async function deeper(python: PythonInstall) {
  // The standard library's json, as this Python has it.
  const out = await new Deno.Command(python.path, {
    args: ["-c", "import json; print(json.__file__)"],
  }).output();
  const jsonFile = new TextDecoder().decode(out.stdout).trim();
  const encodeLine = lineOf(jsonFile, "return _default_encoder.encode(obj)");
  const { dc, dir } = await adapter();
  try {
    await dc.initializeRequest();
    const outputs: string[] = [];
    dc.on("output", (event) => event.body.category === "stdout" && outputs.push(event.body.output));
    const [, , hit] = await Promise.all([
      dc.waitForEvent("initialized").then(async () => {
        await dc.setBreakpointsRequest({
          source: { path: MORE },
          breakpoints: [{ line: lineOf(MORE, "make_return"), hitCondition: "== 3" }, {
            line: lineOf(MORE, "dumps"),
          }],
        });
        const std = await dc.setBreakpointsRequest({
          source: { path: jsonFile },
          breakpoints: [{ line: encodeLine }],
        });
        assertEquals(std.body.breakpoints[0]!.verified, true);
        await dc.configurationDoneRequest();
      }),
      dc.launch({ program: MORE, python: python.path }),
      dc.waitForEvent("stopped"),
    ]);
    // The third hit: n is 2.
    const threadId = hit.body.threadId;
    const frames = (await dc.stackTraceRequest({ threadId })).body.stackFrames;
    assertEquals([frames[0]!.name, frames[0]!.line], ["make", lineOf(MORE, "make_return")]);
    const frameId = frames[0]!.id;
    assertEquals((await dc.evaluateRequest({ expression: "n", frameId })).body.result, "2");
    // A nested value, opened level by level: box.inner["deep"][1]["deeper"].
    const scopes = (await dc.scopesRequest({ frameId })).body.scopes;
    let children = (await dc.variablesRequest({
      variablesReference: scopes[0]!.variablesReference,
    })).body.variables;
    for (const name of ["box", "inner", "deep", "[1]"]) {
      const child = children.find((v) => v.name === name);
      assert(child && child.variablesReference > 0, `${name} in ${JSON.stringify(children)}`);
      children = (await dc.variablesRequest({ variablesReference: child.variablesReference }))
        .body.variables;
    }
    assertEquals(children.find((v) => v.name === "deeper")?.value, "4");
    // On to json.dumps, into it, and to the breakpoint inside the standard library.
    await Promise.all([
      dc.continueRequest({ threadId }),
      dc.assertStoppedLocation("breakpoint", { path: MORE, line: lineOf(MORE, "dumps") }),
    ]);
    const [, stepped] = await Promise.all([
      dc.stepInRequest({ threadId }),
      dc.waitForEvent("stopped"),
    ]);
    assertEquals(stepped.body.reason, "step");
    const inside = (await dc.stackTraceRequest({ threadId })).body.stackFrames[0]!;
    assertEquals([inside.name, inside.source?.path], ["dumps", jsonFile]);
    await Promise.all([
      dc.continueRequest({ threadId }),
      dc.assertStoppedLocation("breakpoint", { path: jsonFile, line: encodeLine }),
    ]);
    await Promise.all([dc.continueRequest({ threadId }), dc.waitForEvent("terminated")]);
    assertEquals(outputs.join(""), '{"total": 10}\n');
  } finally {
    await dc.stop();
    await Deno.remove(dir, { recursive: true });
  }
}

onEveryPython(
  "qdb dap: a hit-count breakpoint, a nested value, a step into and a breakpoint in the stdlib",
  deeper,
);

async function errors(python: PythonInstall) {
  await using serve = await startServe(["--token", TOKEN]);
  const { dc, dir } = await adapter();
  try {
    await dc.initializeRequest();
    // A wrong token, and a session that is not there: readable errors, not a wait.
    const refused = (args: Record<string, unknown>) =>
      dc.attachRequest(args as never).then(() => "attached", (error: Error) => error.message);
    assertMatch(await refused({ server: serve.clientUrl, token: "wrong" }), /token/i);
    assertMatch(
      await refused({ server: serve.clientUrl, token: TOKEN, session: "nope" }),
      /No session nope .*live sessions: none/,
    );
    assertMatch(
      await refused({ server: serve.clientUrl, token: TOKEN }),
      /No session with a program/,
    );
  } finally {
    await dc.stop();
    await Deno.remove(dir, { recursive: true });
  }
  // An evaluation the eval policy refuses says so.
  const strict = await adapter();
  try {
    await strict.dc.initializeRequest();
    const [, , entry] = await Promise.all([
      strict.dc.waitForEvent("initialized").then(() => strict.dc.configurationDoneRequest()),
      strict.dc.launch({
        program: PROGRAM,
        python: python.path,
        stopOnEntry: true,
        evalPolicy: "none",
      }),
      strict.dc.waitForEvent("stopped"),
    ]);
    const message = await strict.dc.evaluateRequest({ expression: "1 + 1", context: "repl" })
      .then(() => "evaluated", (error: Error) => error.message);
    assertMatch(message, /polic/i);
    // Step over, then end.
    await Promise.all([
      strict.dc.nextRequest({ threadId: entry.body.threadId }),
      strict.dc.assertStoppedLocation("step", { path: PROGRAM, line: 7 }),
    ]);
  } finally {
    await strict.dc.stop();
    await Deno.remove(strict.dir, { recursive: true });
  }
}

Deno.test({
  name: "qdb dap: a wrong token, an unknown session, a refused evaluation are readable errors",
  ignore: pythons.length === 0,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await errors(pythons.at(-1)!);
  },
});

async function stepOut(python: PythonInstall) {
  const { dc, dir } = await adapter();
  try {
    await dc.initializeRequest();
    const [, , hit] = await Promise.all([
      dc.waitForEvent("initialized").then(async () => {
        await dc.setBreakpointsRequest({
          source: { path: MORE },
          breakpoints: [{ line: lineOf(MORE, "in_first") }],
        });
        await dc.configurationDoneRequest();
      }),
      dc.launch({ program: MORE, python: python.path }),
      dc.waitForEvent("stopped"),
    ]);
    // Thread ids an editor keeps exactly: Neovim's JSON keeps 14 digits, Java clients an int32
    // (CPython's own ids are addresses, 15 digits and more).
    const threadId = hit.body.threadId;
    assert(Number.isInteger(threadId) && threadId > 0 && threadId < 2 ** 31, `${threadId}`);
    const { body: { threads } } = await dc.threadsRequest();
    assertEquals(threads.map((t) => t.id), [threadId]);
    const top = async () => {
      const [f] = (await dc.stackTraceRequest({ threadId, levels: 1 })).body.stackFrames;
      return [f!.name, f!.line];
    };
    const step = async (request: Promise<unknown>) => {
      const [, stopped] = await Promise.all([request, dc.waitForEvent("stopped")]);
      assertEquals(stopped.body.reason, "step");
      return await top();
    };
    const both = lineOf(MORE, "both_calls");
    assertEquals(await top(), ["first", lineOf(MORE, "in_first")]);
    // Out of first: back in main at the call, mid-line; the line's next call is still ahead.
    assertEquals(await step(dc.stepOutRequest({ threadId })), ["main", both]);
    assertEquals(await step(dc.stepInRequest({ threadId })), ["second", lineOf(MORE, "in_second")]);
    assertEquals(await step(dc.stepOutRequest({ threadId })), ["main", both]);
    // Over the rest of the line (the breakpoint is cleared first: next would stop in first).
    await dc.setBreakpointsRequest({ source: { path: MORE }, breakpoints: [] });
    assertEquals(await step(dc.nextRequest({ threadId })), ["main", lineOf(MORE, "after_both")]);
    // Out of a generator at a yield: to the caller, whose next call resumes the generator.
    await dc.setBreakpointsRequest({
      source: { path: MORE },
      breakpoints: [{ line: lineOf(MORE, "in_gen") }],
    });
    await Promise.all([
      dc.continueRequest({ threadId }),
      dc.assertStoppedLocation("breakpoint", { path: MORE, line: lineOf(MORE, "in_gen") }),
    ]);
    assertEquals(await step(dc.stepOutRequest({ threadId })), ["main", lineOf(MORE, "gen_calls")]);
    assertEquals(await step(dc.stepInRequest({ threadId })), [
      "numbers",
      lineOf(MORE, "gen_again"),
    ]);
    const unknown = await dc.stackTraceRequest({ threadId: threadId + 100 })
      .then(() => "", (error: Error) => error.message);
    assertMatch(unknown, /No thread \d+ in this session/);
    await Promise.all([dc.continueRequest({ threadId }), dc.waitForEvent("terminated")]);
  } finally {
    await dc.stop();
    await Deno.remove(dir, { recursive: true });
  }
}

onEveryPython(
  "qdb dap: step out stops at the call, small thread ids, and step in from there",
  stepOut,
);
