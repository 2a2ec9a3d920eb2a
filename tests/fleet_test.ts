// Fleet debugging through the real CLI: a group of `qdb trace --group` programs observed with
// a snapshot and a logpoint while they run on, one member stopped and driven alone from the
// fleet view (`qdb attach --group`), a late member getting the group's rules; and, on every
// Python, the bounds of snapshots (a hot loop, a value of 10^7 items) and who may read them.
import { assert, assertEquals, assertMatch } from "./support/assert.ts";
import { HANG_GUARD_MS, Inbox } from "./support/inbox.ts";
import { QdbProcess, startServe, startTrace } from "./support/processes.ts";
import { adapter } from "./support/dap.ts";
import { findPythons, onEveryPython } from "./support/pythons.ts";
import { connectWebSocket } from "../transport/websocket.ts";

const WORKER = new URL("../testdata/fleet_worker.py", import.meta.url).pathname;
const HOT = new URL("../testdata/snapshot_hot.py", import.meta.url).pathname;
const lineOf = async (file: string, tag: string) =>
  (await Deno.readTextFile(file)).split("\n").findIndex((l) => l.includes(tag)) + 1;
const MILESTONE = await lineOf(WORKER, "# @milestone");
const STEP = await lineOf(WORKER, "# @step");
const HOT_LINE = await lineOf(HOT, "# @hot");
const HOT_END = await lineOf(HOT, "# @end");
const MEMBERS = Number(Deno.env.get("QDB_FLEET_MEMBERS") ?? 20);

/** Reads a process's standard output from a cursor on: each wait finds a line after the last. */
class Reader {
  #next = 0;
  constructor(readonly process: QdbProcess) {}
  /** The next line matching `pattern` (a hang guard fails the test with what was printed). */
  async line(pattern: RegExp): Promise<RegExpMatchArray> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const guard = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const seen = this.process.stdoutLines.join("\n");
        reject(new Error(`no line ${pattern} in ${HANG_GUARD_MS} ms; printed:\n${seen}`));
      }, HANG_GUARD_MS);
    });
    try {
      return await Promise.race([this.#line(pattern), guard]);
    } finally {
      clearTimeout(timer);
    }
  }

  async #line(pattern: RegExp): Promise<RegExpMatchArray> {
    while (true) {
      const line = await this.process.lineAt(this.#next);
      if (line === undefined) {
        throw new Error(`ended before ${pattern}: ${this.process.stdoutLines.join("\n")}`);
      }
      this.#next++;
      const m = line.match(pattern);
      if (m) return m;
    }
  }
  /** The next `n` lines matching `pattern`. */
  async lines(pattern: RegExp, n: number): Promise<RegExpMatchArray[]> {
    const out = [];
    for (let i = 0; i < n; i++) out.push(await this.line(pattern));
    return out;
  }
}

/** Types a line into a process that holds its standard input open. */
async function type(process: QdbProcess, line: string): Promise<void> {
  const writer = process.child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(line + "\n"));
  writer.releaseLock();
}

/** The plain run of a worker (its files already there): what a traced run must print. */
async function plainWorker(python: string, n: number, dir: string) {
  const out = await new Deno.Command(python, { args: [WORKER, String(n), dir] }).output();
  return { code: out.code, stdout: new TextDecoder().decode(out.stdout) };
}

const newest = (await findPythons()).at(-1);

Deno.test({
  name: "fleet: 20 workers observed with a snapshot and a logpoint, never stopped; one stopped " +
    "and driven alone; a late member gets the rules",
  ignore: newest === undefined,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const python = newest!.path;
    await using serve = await startServe(["--no-web"]);
    const dir = await Deno.makeTempDir({ prefix: "qdb-fleet-" });
    const traces: QdbProcess[] = [];
    try {
      const member = (n: number) =>
        startTrace(serve, python, `fleet-${n}`, "--group", "fleet", WORKER, String(n), dir);
      for (let n = 0; n < MEMBERS; n++) traces.push(member(n));
      await Promise.all(traces.map((t) => t.line(/is session fleet-\d+/, "stderr")));

      const view = new QdbProcess(
        ["attach", "--server", serve.clientUrl, "--group", "fleet", "--name", "ana"],
        { holdStdin: true },
      );
      traces.push(view);
      const out = new Reader(view);
      await out.line(new RegExp(`Attached to group fleet: ${MEMBERS} members`));

      await type(view, `snap ${WORKER}:${MILESTONE}`);
      await out.line(new RegExp(`Rule fleet#1 set on ${MEMBERS} of ${MEMBERS} members`));
      await type(view, `log ${WORKER}:${MILESTONE} w={worker} step={step}`);
      await out.line(new RegExp(`Rule fleet#2 set on ${MEMBERS} of ${MEMBERS} members`));

      // A member that joins now gets both rules when its tracer comes.
      traces.push(member(MEMBERS));
      await out.line(new RegExp(`\\[\\+1 joined: fleet-${MEMBERS}\\]`));
      const all = MEMBERS + 1;

      await Deno.writeTextFile(`${dir}/go`, "");
      const logs = await out.lines(/\[fleet-(\d+)\] w=(\d+) step=\d+/, all);
      assertEquals(new Set(logs.map((m) => m[1])).size, all);
      for (const m of logs) assertEquals(m[1], m[2]);
      await type(view, "snapshots");
      await out.line(/#\s+session\s+time\s+where\s+values/);
      const rows = await out.lines(/^\s*\d+\s+fleet-(\d+)\s+.*worker=(\d+)/, all);
      assertEquals(new Set(rows.map((m) => m[1])).size, all);
      for (const m of rows) assertEquals(m[1], m[2]);
      await type(view, "snapshot 1");
      const shown = await out.line(/Snapshot 1 of fleet-(\d+), taken \S+ in thread MainThread/);
      await out.line(new RegExp(`^ {2}worker = ${shown[1]}$`));

      // One member stops; the others run on.
      await type(view, `b ${WORKER}:${STEP}, worker == 7`);
      await out.line(new RegExp(`Rule fleet#3 set on ${all} of ${all} members`));
      await out.line(new RegExp(`\\[1 of ${all} stopped at \\S+:\\d+ in <module>: fleet-7 `));
      await type(view, "attach fleet-7");
      await out.line(/\[session fleet-7: .*"attach \.\." goes back to group fleet\]/);
      await type(view, "p worker * 100, went");
      await out.line(/\(700, True\)/);
      await type(view, "attach ..");
      await out.line(
        new RegExp(`\\[back in group fleet: ${all} members, ${all - 1} running, 1 stopped\\]`),
      );
      await type(view, "clear 3");
      await out.line(new RegExp(`Rule fleet#3 cleared on ${all} of ${all} members`));
      await type(view, "continue");
      await out.line(/continue sent to 1 of 1 members/);

      await Deno.writeTextFile(`${dir}/stop`, "");
      // Their ends come as notices, together when they come together.
      for (let ended = 0; ended < all;) ended += Number((await out.line(/\[(\d+) ended: /))[1]);
      await type(view, "q");
      assertEquals((await view.exited()).code, 0);
      // No member but fleet-7 ever stopped.
      const stops = view.stdoutLines.filter((l) => l.includes("stopped at"));
      assert(stops.every((l) => /: fleet-7 /.test(l)), stops.join("\n"));

      // Every member ran as it would have without qdb: its output and its exit code.
      for (let n = 0; n <= MEMBERS; n++) {
        const trace = traces[n === MEMBERS ? traces.length - 1 : n]!;
        const plain = await plainWorker(python, n, dir);
        assertEquals((await trace.exited()).code, plain.code, `fleet-${n}'s exit code`);
        assertEquals(trace.text.stdout, plain.stdout, `fleet-${n}'s output`);
      }
    } finally {
      await Deno.writeTextFile(`${dir}/stop`, "").catch(() => {});
      await Promise.all(traces.map((t) => t.close()));
      await Deno.remove(dir, { recursive: true });
    }
  },
});

onEveryPython(
  "snapshots: a hot loop takes max and no more, a huge value costs little, the program runs on; " +
    "read-only clients read them and may not set them",
  async (python) => {
    await using serve = await startServe([
      "--no-web",
      "--token",
      "full",
      "--read-only-token",
      "ro",
    ]);
    await using trace = startTrace(
      serve,
      python.path,
      "hot",
      "--token",
      "full",
      HOT,
    );
    await trace.line(/is session hot/, "stderr");
    const link = await connectWebSocket(`${serve.clientUrl}/hot`);
    link.send({ e: "start", p: { auth: "full" } });
    const ana = new Inbox(link);
    await ana.expect("stack");
    link.send({ e: "set_break", p: { file: HOT, line: HOT_LINE, snapshot: true, max: 3 }, id: 1 });
    const set = await ana.expectId(1, ["breakpoints"]);
    assertEquals(set.p[0].snapshot, true);
    assertEquals(set.p[0].max, 3);
    link.send({ e: "set_break", p: { file: HOT, line: HOT_END }, id: 2 });
    await ana.expectId(2, ["breakpoints"]);
    link.send({ e: "continue" });
    const snaps = [];
    for (let i = 0; i < 3; i++) snaps.push(await ana.expect("snapshot"));
    const end = await ana.expect("stack");
    assertEquals(end.p.stack.at(-1).line, HOT_END);
    // No stop, and no fourth snapshot, came between.
    const after = ana.seen.slice(ana.seen.findIndex((m) => m.e === "running"));
    assertEquals(after.filter((m) => m.e === "snapshot").length, 3);
    assertEquals(after.filter((m) => m.e === "stack").length, 1);
    for (const [i, snap] of snaps.entries()) {
      assertEquals(snap.p.id, i + 1);
      assertEquals(snap.p.session, "hot");
      const top = snap.p.stack.at(-1);
      assertEquals([top.line, top.func], [HOT_LINE, "<module>"]);
      assertEquals(top.locals.i, String(i));
      assertMatch(top.locals.huge, /^\[0, 1, 2, .*\.\.\.\]$/);
      const bytes = JSON.stringify(snap.p).length;
      assert(bytes < 4096, `a snapshot of ${bytes} bytes`);
    }

    // A read-only client, attaching later, reads what the session keeps, and may not set one.
    const roLink = await connectWebSocket(`${serve.clientUrl}/hot`);
    roLink.send({ e: "start", p: { auth: "ro" } });
    const bo = new Inbox(roLink);
    await bo.expect("attached");
    roLink.send({ e: "snapshots", id: 5 });
    const kept = (await bo.expectId(5, ["snapshots"])).p;
    assertEquals(kept.map((s: { id: number }) => s.id), [1, 2, 3]);
    roLink.send({ e: "snapshot", p: { id: 2 }, id: 6 });
    assertEquals((await bo.expectId(6, ["snapshot"])).p.stack.at(-1).locals.i, "1");
    roLink.send({ e: "snapshot", p: { id: 9 }, id: 7 });
    assertEquals((await bo.expectId(7, ["error"])).p.type, "snapshot");
    roLink.send({ e: "set_break", p: { line: HOT_LINE, snapshot: true }, id: 8 });
    assertEquals((await bo.expectId(8, ["error"])).p.type, "permission");

    link.send({ e: "continue" });
    assertEquals((await ana.expect("exited")).p.code, 3);
    const printed = ana.seen.filter((m) => m.e === "print").map((m) =>
      (m.p as { output: string }).output
    );
    assertEquals(printed.join(""), "total 19999900000 10000000\n");
    assertEquals((await trace.exited()).code, 3);
    link.close();
    roLink.close();
  },
  newest === undefined,
);

Deno.test({
  name: "fleet: qdb dap on a group: the editor's breakpoints take snapshots on every member, " +
    "logpoints print named by member, a snapshot's values expand",
  ignore: newest === undefined,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const python = newest!.path;
    await using serve = await startServe(["--no-web"]);
    const dir = await Deno.makeTempDir({ prefix: "qdb-fleet-dap-" });
    const traces: QdbProcess[] = [];
    let dap: Awaited<ReturnType<typeof adapter>> | undefined;
    try {
      for (let n = 1; n <= 3; n++) {
        traces.push(
          startTrace(serve, python, `dap-${n}`, "--group", "dapfleet", WORKER, String(n), dir),
        );
      }
      await Promise.all(traces.map((t) => t.line(/is session dap-\d+/, "stderr")));
      dap = await adapter();
      const dc = dap.dc;
      await dc.initializeRequest();
      const outputs: { output: string; variablesReference?: number }[] = [];
      const got = (pattern: RegExp, n: number) =>
        new Promise<void>((resolve, reject) => {
          const deadline = Date.now() + HANG_GUARD_MS;
          const look = () => {
            if (outputs.filter((o) => pattern.test(o.output)).length >= n) resolve();
            else if (Date.now() > deadline) {
              reject(new Error(`no ${n} ${pattern}: ${JSON.stringify(outputs.slice(0, 20))}`));
            } else setTimeout(look, 20);
          };
          look();
        });
      dc.on("output", (event) => outputs.push(event.body));
      await Promise.all([
        dc.waitForEvent("initialized").then(async () => {
          const set = await dc.setBreakpointsRequest({
            source: { path: WORKER },
            breakpoints: [{ line: MILESTONE }, { line: STEP, logMessage: "w={worker} went" }],
          });
          assertEquals(set.body.breakpoints.map((b) => b.verified), [true, true]);
          assertMatch(set.body.breakpoints[0]!.message!, /dapfleet#1: on 3 of 3 members/);
          await dc.configurationDoneRequest();
        }),
        dc.attachRequest({ server: serve.clientUrl, group: "dapfleet" } as never),
      ]);
      await Deno.writeTextFile(`${dir}/go`, "");
      await got(/^snapshot \d+ of dap-\d at .*:\d+ in <module>\n$/, 3);
      const snap = outputs.find((o) => /^snapshot \d+ of dap-2 /.test(o.output))!;
      const frames = await dc.variablesRequest({ variablesReference: snap.variablesReference! });
      const top = frames.body.variables[0]!;
      assertMatch(top.name, /^<module> \(.*fleet_worker\.py:\d+\)$/);
      const locals = await dc.variablesRequest({ variablesReference: top.variablesReference });
      const worker = locals.body.variables.find((v) => v.name === "worker");
      assertEquals(worker?.value, "2");
      // The logpoint prints from every member, named.
      await got(/^\[dap-\d\] w=\d went\n$/, 3);
      // Cleared from the editor, cleared on the group.
      const cleared = await dc.setBreakpointsRequest({ source: { path: WORKER }, breakpoints: [] });
      assertEquals(cleared.body.breakpoints, []);
      await dc.stop();
      await Deno.writeTextFile(`${dir}/stop`, "");
      for (const [i, trace] of traces.entries()) {
        assertEquals((await trace.exited()).code, (i + 1) % 3);
      }
    } finally {
      await dap?.dc.stop().catch(() => {});
      if (dap) await Deno.remove(dap.dir, { recursive: true });
      await Deno.writeTextFile(`${dir}/stop`, "").catch(() => {});
      await Promise.all(traces.map((t) => t.close()));
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "snapshots in one session's terminal: snap, the notices as they come, snapshots, snapshot N",
  ignore: newest === undefined,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await using run = new QdbProcess(
      ["run", "--python", newest!.path, HOT],
      {
        stdin: [
          `snap -n 2 ${HOT_LINE}, i % 1000 == 999`,
          `b ${HOT_END}`,
          "c",
          "snapshots",
          "snapshot 2",
          "c",
        ].join("\n") + "\n",
      },
    );
    assertEquals((await run.exited()).code, 3);
    const out = run.text.stdout;
    assertMatch(
      out,
      /Snapshot breakpoint 1 at \S*snapshot_hot\.py:\d+ {2}\(condition: i % 1000 == 999, at most 2 snapshots\)/,
    );
    assertMatch(
      out,
      /\[snapshot 1 at \S*snapshot_hot\.py:\d+; the program ran on \("snapshot 1" shows it\)\]/,
    );
    assertMatch(out, /\[snapshot 2 at /);
    assert(!/\[snapshot 3 /.test(out), out);
    assertMatch(out, /^ {2}1 {2}\d\d:\d\d:\d\d\.\d{3} {2}\S*snapshot_hot\.py:\d+ in <module>$/m);
    assertMatch(out, /Snapshot 2, taken \S+ in thread MainThread \(breakpoint 1\)/);
    assertMatch(out, /^ {2}i = 1999$/m);
    assertMatch(out, /^ {2}huge = \[0, 1, 2, .*\.\.\.\]$/m);
    assertMatch(out, /total 19999900000 10000000/);
  },
});

Deno.test({
  name:
    "fleet: a program joins a group while it runs (qdb.set_trace(group=...)) and gets its rules",
  ignore: newest === undefined,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const program = new URL("../testdata/join_group.py", import.meta.url).pathname;
    const value = await lineOf(program, "# @value");
    await using serve = await startServe(["--no-web"]);
    const dir = await Deno.makeTempDir({ prefix: "qdb-join-" });
    await using trace = startTrace(serve, newest!.path, "joiner", "--no-stop", program, dir);
    await using view = new QdbProcess(
      ["attach", "--server", serve.clientUrl, "--group", "late"],
      { holdStdin: true },
    );
    try {
      await trace.line(/is session joiner/, "stderr");
      const out = new Reader(view);
      await out.line(/Attached to group late: 0 members/);
      await type(view, `snap ${program}:${value}`);
      await out.line(/Rule late#1 set on 0 of 0 members \(and members that join later\)/);
      await Deno.writeTextFile(`${dir}/go`, "");
      // Both notices, in whichever order they come (news of members waits a moment for more).
      await view.line(/\[\+1 joined: joiner\]/);
      await view.line(/\[snapshot 1: joiner at \S*join_group\.py:\d+ in <module>/);
      await using listed = new QdbProcess(
        ["sessions", "--server", serve.clientUrl, "--group", "late"],
      );
      await listed.line(/^joiner\s/);
      // For scripts: the group link as JSON lines.
      await using pipe = new QdbProcess(
        ["attach", "--json", "--server", serve.clientUrl, "--group", "late"],
        { holdStdin: true },
      );
      const first = JSON.parse((await pipe.lineAt(0))!);
      assertEquals([first.e, first.p.group, first.p.members[0].session], [
        "group",
        "late",
        "joiner",
      ]);
      await type(pipe, JSON.stringify({ e: "snapshots", id: "s" }));
      const reply = JSON.parse((await pipe.line(/"id":"s"/)).input!);
      assertEquals([reply.e, reply.p[0].session], ["snapshots", "joiner"]);
      await Deno.writeTextFile(`${dir}/stop`, "");
      assertEquals((await trace.exited()).code, 0);
      assertMatch(trace.text.stdout, /joined and done/);
      await type(view, "q");
    } finally {
      await Deno.writeTextFile(`${dir}/stop`, "").catch(() => {});
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "fleet: a member's child processes are members of its groups",
  ignore: newest === undefined,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const program = new URL("../testdata/group_pool.py", import.meta.url).pathname;
    await using serve = await startServe(["--no-web"]);
    const dir = await Deno.makeTempDir({ prefix: "qdb-group-pool-" });
    await using trace = startTrace(serve, newest!.path, "pool", "--group", "pg", program, dir);
    try {
      await trace.line(/is session pool/, "stderr");
      await using pipe = new QdbProcess(
        ["attach", "--json", "--server", serve.clientUrl, "--group", "pg"],
        { holdStdin: true },
      );
      const members = new Set<string>();
      for (let i = 0; members.size < 3; i++) {
        const msg = JSON.parse((await pipe.lineAt(i))!);
        if (msg.e === "group") { for (const m of msg.p.members) members.add(m.session); }
        if (msg.e === "member" && msg.p.state !== "ended") members.add(msg.p.session);
      }
      const children = [...members].filter((id) => id !== "pool");
      assertEquals(children.length, 2);
      for (const id of children) assertMatch(id, /^pool\/\d+$/);
      await Deno.writeTextFile(`${dir}/stop`, "");
      assertEquals((await trace.exited()).code, 0);
      assertMatch(trace.text.stdout, /\[4, 9\]/);
    } finally {
      await Deno.writeTextFile(`${dir}/stop`, "").catch(() => {});
      await Deno.remove(dir, { recursive: true });
    }
  },
});
