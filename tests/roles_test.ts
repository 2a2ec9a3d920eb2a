// Roles (issue 8, item 5): separate tracer and client tokens, a read-only client role, and an
// auth function loaded from a module with `qdb serve --auth`, all through the real CLI.
import { assert, assertEquals, assertMatch } from "./support/assert.ts";
import { fakeTracer } from "./support/fake_tracer.ts";
import { Inbox } from "./support/inbox.ts";
import { QdbProcess, startServe } from "./support/processes.ts";
import { findPythons } from "./support/pythons.ts";
import { qdbInTmux, TMUX_MISSING } from "./support/tmux.ts";
import { connectWebSocket } from "../transport/websocket.ts";

function tracer(url: string, session: string, auth?: string) {
  return fakeTracer(url, session, auth ? { auth } : {});
}

async function client(url: string, session: string, auth?: string, name?: string) {
  const link = await connectWebSocket(`${url}/${session}`);
  link.send({ e: "start", p: { ...(auth ? { auth } : {}), ...(name ? { name } : {}) } });
  return new Inbox(link);
}

async function closeAll(...inboxes: Inbox[]) {
  await Promise.all(inboxes.map(async (i) => {
    i.transport.close();
    await i.closed();
  }));
}

Deno.test("qdb serve --tracer-token/--client-token: each link takes only its own token", async () => {
  await using serve = await startServe([
    "--tracer-token",
    "T-secret",
    "--client-token",
    "C-secret",
  ]);
  const wrongTracer = await tracer(serve.tracerUrl, "job", "C-secret");
  assertEquals((await wrongTracer.expect("error")).p.type, "auth");
  const t = await tracer(serve.tracerUrl, "job", "T-secret");
  await t.expect("started");
  const wrongClient = await client(serve.clientUrl, "job", "T-secret");
  assertEquals((await wrongClient.expect("error")).p.type, "auth");
  const c = await client(serve.clientUrl, "job", "C-secret");
  await c.expect("attached");
  await closeAll(wrongTracer, wrongClient, t, c);
});

Deno.test("qdb serve --token sets both tokens; --client-token overrides it for clients", async () => {
  await using serve = await startServe(["--token", "both", "--client-token", "clients"]);
  const t = await tracer(serve.tracerUrl, "job", "both");
  await t.expect("started");
  const old = await client(serve.clientUrl, "job", "both");
  assertEquals((await old.expect("error")).p.type, "auth");
  const c = await client(serve.clientUrl, "job", "clients");
  await c.expect("attached");
  await closeAll(t, old, c);
});

Deno.test("a read-only client sees every event, and the server refuses its commands", async () => {
  await using serve = await startServe(["--token", "full", "--read-only-token", "watch"]);
  const t = await tracer(serve.tracerUrl, "job", "full");
  await t.expect("started");
  const alice = await client(serve.clientUrl, "job", "full", "alice");
  await alice.expect("attached");
  const bob = await client(serve.clientUrl, "job", "watch", "bob");
  const attached = await bob.expect("attached");
  const me = attached.p.clients.find((c: { id: string }) => c.id === attached.p.you);
  assertEquals(me.readOnly, true);
  // Others see that bob only watches.
  assertEquals((await alice.expect("clients")).p.joined.readOnly, true);
  // bob's commands never reach the tracer.
  for (const e of ["eval", "continue", "disable", "set_break", "list", "input"]) {
    bob.transport.send({ e, p: e === "set_break" ? { line: 3 } : e === "list" ? {} : "x", id: e });
    const refused = await bob.expect("error", (p) => p.command === e);
    assertEquals(refused.p.type, "permission");
    assertEquals(refused.id, e);
    assertMatch(refused.p.data, /read-only/);
  }
  // alice's commands and the tracer's events reach bob as they reach alice.
  alice.transport.send({ e: "eval", p: "x", id: 1 });
  const routed = await t.expect("eval");
  assertEquals(routed.p, "x");
  t.transport.send({ e: "print", p: { input: "x", exc: false, output: "42" }, id: routed.id! });
  assertEquals((await bob.expect("command")).p.e, "eval");
  assertEquals((await bob.expect("print")).p.output, "42");
  assertEquals((await alice.expect("print")).id, 1);
  // The tracer saw only start messages from bob, never a command.
  assert(t.seen.every((m) => ["started", "start", "eval"].includes(m.e)), JSON.stringify(t.seen));
  assertEquals(t.seen.filter((m) => m.e === "eval").length, 1);
  // Without any token, refused: the read-only token does not open the door to everyone.
  const anon = await client(serve.clientUrl, "job");
  assertEquals((await anon.expect("error")).p.type, "auth");
  await closeAll(t, alice, bob, anon);
});

Deno.test("qdb serve --auth MODULE: the module's default export decides, and may grant read-only", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(
      `${dir}/team_auth.ts`,
      `export default async (request) => {
        await Promise.resolve();
        if (request.role === "tracer") return request.auth === "worker-key";
        if (request.role === "list") return true;
        const name = request.start?.name;
        if (name === "alice" && request.auth === "a") return true;
        if (name === "guest") return { access: "read-only" };
        return false;
      };\n`,
    );
    await Deno.writeTextFile(`${dir}/not_auth.ts`, "export const x = 1;\n");
    await using serve = await startServe(
      ["--auth", "team_auth.ts"].map((a, i) => i === 1 ? `${dir}/${a}` : a),
    );
    const t = await tracer(serve.tracerUrl, "job", "worker-key");
    await t.expect("started");
    const alice = await client(serve.clientUrl, "job", "a", "alice");
    await alice.expect("attached");
    const mallory = await client(serve.clientUrl, "job", "b", "alice");
    assertEquals((await mallory.expect("error")).p.type, "auth");
    const guest = await client(serve.clientUrl, "job", undefined, "guest");
    await guest.expect("attached");
    guest.transport.send({ e: "eval", p: "1", id: 9 });
    assertEquals((await guest.expect("error")).p.type, "permission");
    await closeAll(t, alice, mallory, guest);

    // A module without a default function: qdb serve says so and exits.
    await using bad = new QdbProcess([
      "serve",
      "--client-port",
      "0",
      "--tracer-port",
      "0",
      "--auth",
      `${dir}/not_auth.ts`,
    ]);
    assertEquals((await bad.exited()).code, 1);
    assertMatch(bad.text.stderr, /must export a default function/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

const PYTHON = (await findPythons()).at(-1)?.path;

Deno.test({
  name: "qdb attach with a read-only token says so, shows the stops, and shows why commands fail",
  ignore: PYTHON === undefined || TMUX_MISSING !== undefined,
  async fn() {
    await using serve = await startServe(["--token", "full", "--read-only-token", "watch"]);
    const program = new URL("../testdata/steps.py", import.meta.url).pathname;
    await using tracer = new QdbProcess([
      "trace",
      "--server",
      serve.tracerUrl,
      "--token",
      "full",
      "--session",
      "shown",
      "--python",
      PYTHON!,
      program,
    ]);
    await tracer.line(/is session shown/, "stderr");
    await using t = await qdbInTmux([
      "attach",
      "--server",
      serve.clientUrl,
      "--token",
      "watch",
      "shown",
    ]);
    await t.waitFor(/Read-only: you see everything that happens in the session/);
    await t.waitFor(/steps\.py\(1\)<module>\(\)/);
    const before = (await t.screen()).length;
    await t.line("c");
    await t.waitFor(
      /\*\*\* This client is read-only: it sees the session but may not send "continue"/,
      before,
    );
  },
});
