// Group links and snapshots in the routing core, driven through in-memory transports with
// scripted tracers: what reaches members, what comes back, who may do what.
import { assert, assertEquals, assertMatch } from "../tests/support/assert.ts";
import { Inbox } from "../tests/support/inbox.ts";
import type { Message } from "../protocol/mod.ts";
import { memoryPair } from "../transport/memory.ts";
import { createServer, type QdbServer, type ServerOptions } from "./server.ts";
import { MAX_ENDED_MEMBERS } from "./group_link.ts";
import {
  MAX_SNAPSHOT_BYTES_PER_SESSION,
  MAX_SNAPSHOTS_PER_SESSION,
  SnapshotStore,
} from "./snapshots.ts";

const TRACER_START = {
  protocol: 2,
  engine: "test",
  program: "job.py",
  argv: ["job.py"],
  pid: 4242,
  host: "worker",
  cwd: "/srv",
};

function tracer(server: QdbServer, session: string, groups?: string[]) {
  const [mine, theirs] = memoryPair(["tracer", "server"]);
  server.acceptTracer(theirs);
  mine.send({ e: "start", p: { ...TRACER_START, session, ...(groups ? { groups } : {}) } });
  return new Inbox(mine);
}

function groupClient(server: QdbServer, group: string, start: Message = { e: "start", id: 0 }) {
  const [mine, theirs] = memoryPair(["client", "server"]);
  server.acceptClient(theirs, "", group);
  mine.send(start);
  return new Inbox(mine);
}

function client(server: QdbServer, session: string, auth = "") {
  const [mine, theirs] = memoryPair(["client", "server"]);
  server.acceptClient(theirs, session);
  mine.send({ e: "start", p: { auth } });
  return new Inbox(mine);
}

async function withServer(options: ServerOptions, fn: (s: QdbServer) => Promise<void>) {
  const server = createServer({ inactivityTimeout: 0, ...options });
  try {
    await fn(server);
  } finally {
    await server.close();
  }
}

/** A scripted tracer answers what the group sends it, as a real one would. */
function answer(t: Inbox, e: string, reply: (msg: Message) => Message) {
  return (async () => {
    const got = await t.expect(e);
    t.transport.send(reply(got as Message));
    return got;
  })();
}

const SNAPSHOT = {
  breakpoint: 1,
  time: "2026-12-06T10:00:00.000Z",
  stack: [{ file: "/srv/job.py", line: 12, func: "work", locals: { n: "7" } }],
};

Deno.test("group: members are the sessions naming the group; a set_break becomes a rule on each, answered once", async () => {
  await withServer({}, async (server) => {
    const a = tracer(server, "a", ["jobs"]);
    const b = tracer(server, "b", ["jobs", "web"]);
    const other = tracer(server, "c", ["web"]);
    await Promise.all([a, b, other].map((t) => t.expect("started")));
    assertEquals((await server.sessions("jobs")).sessions.map((s) => s.id).sort(), ["a", "b"]);

    const g = groupClient(server, "jobs");
    const state = await g.expect("group");
    assertEquals(state.p.members.map((m: { session: string }) => m.session).sort(), ["a", "b"]);
    assertEquals(state.p.rules, []);
    // Each member is asked its state, as for any client.
    await Promise.all([a.expect("start"), b.expect("start")]);

    g.transport.send({ e: "set_break", p: { file: "job.py", line: 12, snapshot: true }, id: 1 });
    const reply = (msg: Message): Message => ({ e: "breakpoints", p: [], id: msg.id! });
    const [sentA] = await Promise.all([
      answer(a, "set_break", reply),
      answer(b, "set_break", reply),
    ]);
    assertEquals(sentA.p, { file: "job.py", line: 12, snapshot: true, rule: "jobs#1" });
    const applied = await g.expectId(1, ["applied"]);
    assertEquals(applied.p, { command: "set_break", sessions: 2, of: 2, rule: "jobs#1" });
    assertEquals((await g.expect("rules")).p[0].rule, "jobs#1");

    // A member that joins later gets the rule when its tracer comes.
    const late = tracer(server, "d", ["jobs"]);
    await late.expect("started");
    assertEquals((await late.expect("set_break")).p, {
      file: "job.py",
      line: 12,
      snapshot: true,
      rule: "jobs#1",
    });
    assertEquals((await g.expect("member", (p) => p.session === "d")).p.state, "running");
    // Another group's session never hears of it.
    assert(!other.seen.some((m) => m.e === "set_break"));
  });
});

Deno.test("group: stops, logpoint output and snapshots come named by member; the rest stays theirs", async () => {
  await withServer({}, async (server) => {
    const a = tracer(server, "a", ["jobs"]);
    await a.expect("started");
    const g = groupClient(server, "jobs");
    await g.expect("group");
    await a.expect("start");
    a.transport.send({ e: "print", p: { input: "<stdout>", exc: false, output: "noise\n" } });
    a.transport.send({ e: "print", p: { input: "<log>", exc: false, output: "n=7\n" } });
    a.transport.send({ e: "snapshot", p: SNAPSHOT });
    a.transport.send({
      e: "stack",
      p: {
        index: 0,
        stack: [{ file: "/srv/job.py", line: 88, func: "work", code: "x" }],
        reason: "breakpoint",
      },
    });
    assertEquals((await g.expect("print")).p, {
      input: "<log>",
      exc: false,
      output: "n=7\n",
      session: "a",
    });
    const snap = await g.expect("snapshot");
    assertEquals([snap.p.id, snap.p.session], [1, "a"]);
    const stopped = await g.expect("member");
    assertEquals(stopped.p, {
      session: "a",
      state: "stopped",
      where: { file: "/srv/job.py", line: 88, func: "work", reason: "breakpoint" },
    });
    assert(
      !g.seen.some((m) => m.e === "print" && (m.p as { output: string }).output === "noise\n"),
    );

    // The group's snapshots, and one fetched by member and id.
    g.transport.send({ e: "snapshots", id: 2 });
    const listed = await g.expectId(2, ["snapshots"]);
    assertEquals(listed.p.map((s: { session: string; id: number }) => [s.session, s.id]), [[
      "a",
      1,
    ]]);
    g.transport.send({ e: "snapshot", p: { session: "a", id: 1 }, id: 3 });
    assertEquals((await g.expectId(3, ["snapshot"])).p.stack[0].locals, { n: "7" });
    g.transport.send({ e: "snapshot", p: { session: "zz", id: 1 }, id: 4 });
    assertEquals((await g.expectId(4, ["error"])).p.type, "snapshot");

    // continue goes to the stopped members only.
    g.transport.send({ e: "continue", id: 5 });
    await a.expect("continue");
    assertEquals((await g.expectId(5, ["applied"])).p, { command: "continue", sessions: 1, of: 1 });
  });
});

Deno.test("group: what cannot go to a group, a read-only client, a refused member, a bad name", async () => {
  const auth = ({ role, auth, session }: { role: string; auth: string; session: string }) => {
    if (role === "tracer") return true;
    if (session === "secret") return false;
    return auth === "ro" ? { access: "read-only" as const } : auth === "ok";
  };
  await withServer({ auth }, async (server) => {
    const a = tracer(server, "a", ["jobs"]);
    const secret = tracer(server, "secret", ["jobs"]);
    await Promise.all([a.expect("started"), secret.expect("started")]);

    const g = groupClient(server, "jobs", { e: "start", p: { auth: "ok" }, id: 0 });
    const state = await g.expect("group");
    const secretState = state.p.members.find((m: { session: string }) => m.session === "secret");
    assertEquals(secretState.state, "refused");
    g.transport.send({ e: "eval", p: "1", id: 1 });
    const refused = await g.expectId(1, ["error"]);
    assertEquals(refused.p.type, "group");
    assertMatch(refused.p.data, /attach to a member/);
    g.transport.send({ e: "clear_break", p: { id: 1 }, id: 2 });
    assertEquals((await g.expectId(2, ["error"])).p.type, "group");
    g.transport.send({ e: "clear_break", p: { rule: "jobs#9" }, id: 3 });
    assertEquals((await g.expectId(3, ["error"])).p.type, "clear_break");

    const ro = groupClient(server, "jobs", { e: "start", p: { auth: "ro" }, id: 0 });
    await ro.expect("group");
    ro.transport.send({ e: "set_break", p: { line: 3 }, id: 1 });
    assertEquals((await ro.expectId(1, ["error"])).p.type, "permission");
    ro.transport.send({ e: "snapshots", id: 2 });
    assertEquals((await ro.expectId(2, ["snapshots"])).p, []);

    const nobody = groupClient(server, "jobs", { e: "start", p: { auth: "no" }, id: 0 });
    assertEquals((await nobody.expect("error")).p.type, "auth");
    const bad = groupClient(server, "no spaces", { e: "start", p: { auth: "ok" }, id: 0 });
    assertEquals((await bad.expect("error")).p.type, "group");
    const badTracer = tracer(server, "x", ["bad name!"]);
    assertEquals((await badTracer.expect("error")).p.type, "group");
  });
});

Deno.test("snapshots: the server keeps them per session, for clients that come later, within bounds", async () => {
  await withServer({}, async (server) => {
    const t = tracer(server, "s");
    await t.expect("started");
    t.transport.send({ e: "snapshot", p: SNAPSHOT });
    t.transport.send({ e: "snapshot", p: { ...SNAPSHOT, breakpoint: 2 } });
    const later = client(server, "s");
    await later.expect("attached");
    later.transport.send({ e: "snapshots", id: 1 });
    const listed = await later.expectId(1, ["snapshots"]);
    assertEquals(listed.p.map((s: { id: number; breakpoint: number }) => [s.id, s.breakpoint]), [
      [1, 1],
      [2, 2],
    ]);
    assertEquals(listed.p[0].where, { file: "/srv/job.py", line: 12, func: "work" });
  });

  const budget = { used: 0, max: 10_000 };
  const store = new SnapshotStore("s", budget);
  for (let i = 0; i < MAX_SNAPSHOTS_PER_SESSION + 5; i++) store.add(SNAPSHOT);
  // Past the budget the oldest went first; the newest is always kept.
  assert(budget.used <= budget.max);
  const ids = store.list().map((s) => s.id);
  assertEquals(ids.at(-1), MAX_SNAPSHOTS_PER_SESSION + 5);
  assert(ids.length < MAX_SNAPSHOTS_PER_SESSION);
  const roomy = new SnapshotStore("t");
  for (let i = 0; i < MAX_SNAPSHOTS_PER_SESSION + 5; i++) roomy.add(SNAPSHOT);
  assertEquals(roomy.size.count, MAX_SNAPSHOTS_PER_SESSION);
  assertEquals(roomy.list()[0]!.id, 6);
  const huge = {
    ...SNAPSHOT,
    stack: [{ ...SNAPSHOT.stack[0]!, locals: { x: "y".repeat(MAX_SNAPSHOT_BYTES_PER_SESSION) } }],
  };
  assertEquals(roomy.add(huge).id, MAX_SNAPSHOTS_PER_SESSION + 6);
  assertEquals(roomy.size.count, MAX_SNAPSHOTS_PER_SESSION);
  store.clear();
  roomy.clear();
  assertEquals(budget.used, 0);
});

Deno.test("group: a link remembers a bounded number of ended members, however many come and go", async () => {
  await withServer({ tracerGrace: 0 }, async (server) => {
    const g = groupClient(server, "churn");
    await g.expect("group");
    const total = MAX_ENDED_MEMBERS + 20;
    for (let i = 0; i < total; i++) {
      const t = tracer(server, `job-${i}`, ["churn"]);
      await t.expect("started");
      await g.expect("member", (p) => p.session === `job-${i}` && p.state === "running");
      t.transport.close();
      await g.expect("member", (p) => p.session === `job-${i}` && p.state === "ended");
    }
    g.transport.send({ e: "start", id: 1 });
    const state = await g.expectId(1, ["group"]);
    assert(state.p.members.length <= MAX_ENDED_MEMBERS, `${state.p.members.length} members kept`);
    assertEquals(state.p.members.at(-1).session, `job-${total - 1}`);
  });
});
