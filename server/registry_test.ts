/**
 * The registry suite: what every {@linkcode Registry} must do, run on each implementation (two
 * servers' views of one registry), as the transport suite runs on each transport.
 */

import { assert, assertEquals } from "../tests/support/assert.ts";
import { HAVE_REDIS, startRedis } from "../tests/support/redis.ts";
import { MAX_GROUP_RULES, MemoryRegistry, type Registry, type RegistryChange } from "./registry.ts";
import { RedisRegistry } from "./redis_registry.ts";

/** Two servers' views of one fresh registry, and how to clean up after them. */
interface Pair {
  a: Registry;
  b: Registry;
  [Symbol.asyncDispose](): Promise<void>;
}

const IMPLEMENTATIONS: { name: string; pair: () => Promise<Pair>; ignore?: boolean }[] = [
  {
    name: "memory",
    pair: () => {
      const a = new MemoryRegistry();
      const b = a.join();
      return Promise.resolve({
        a,
        b,
        async [Symbol.asyncDispose]() {
          await a.close();
          await b.close();
        },
      });
    },
  },
  {
    name: "redis",
    ignore: !HAVE_REDIS,
    pair: async () => {
      const redis = await startRedis();
      const a = await RedisRegistry.connect({ url: redis.url });
      const b = await RedisRegistry.connect({ url: redis.url });
      return {
        a,
        b,
        async [Symbol.asyncDispose]() {
          await a.close();
          await b.close();
          await redis.stop();
        },
      };
    },
  },
];

const TRACER = {
  engine: "python",
  program: "app.py",
  pid: 42,
  host: "box",
  cwd: "/",
  argv: ["app.py"],
  protocol: 2,
};
const CREATED = "2026-12-06T00:00:00.000Z";

for (const { name, pair, ignore } of IMPLEMENTATIONS) {
  const test = (title: string, fn: () => Promise<void>) =>
    Deno.test({ name: `registry (${name}): ${title}`, ignore: ignore ?? false, fn });

  test("servers have names of their own, and client ids never repeat", async () => {
    await using p = await pair();
    assert(p.a.server !== p.b.server, "two servers with one name");
    const ids = new Set<string>();
    for (let i = 0; i < 50; i++) {
      ids.add(await p.a.newClientId());
      ids.add(await p.b.newClientId());
    }
    assertEquals(ids.size, 100);
    for (const id of ids) assert(/^c\d+$/.test(id), id);
  });

  test("one server owns a session; the other sees it and cannot take it", async () => {
    await using p = await pair();
    assertEquals(await p.a.claim("s1", { created: CREATED, tracer: TRACER }), true);
    // Claiming again is the owner's own business (its tracer came back).
    assertEquals(await p.a.claim("s1", { created: CREATED, tracer: TRACER }), true);
    assertEquals(await p.b.claim("s1", { created: CREATED, tracer: TRACER }), {
      owner: p.a.server,
    });
    const seen = await p.b.find("s1");
    assertEquals(seen, {
      id: "s1",
      created: CREATED,
      tracer: TRACER,
      owner: p.a.server,
      clients: [],
    });
    // Only the owner tells new facts.
    await p.b.update("s1", { tracer: null });
    assertEquals((await p.a.find("s1"))?.tracer, TRACER);
    await p.a.update("s1", { tracer: null });
    assertEquals((await p.b.find("s1"))?.tracer, null);
    // The owner's release ends it for everyone.
    await p.a.release("s1");
    assertEquals(await p.b.find("s1"), undefined);
    assertEquals(await p.b.claim("s1", { created: CREATED, tracer: TRACER }), true);
  });

  test("clients on every server are one presence", async () => {
    await using p = await pair();
    const ana = { id: "c1", name: "ana", address: "10.0.0.1:1" };
    const bo = { id: "c2", name: "bo", address: "10.0.0.2:1", readOnly: true };
    // Clients waiting for a tracer make the record.
    await p.b.present("s1", [bo]);
    assertEquals((await p.a.find("s1"))?.owner, null);
    await p.a.claim("s1", { created: CREATED, tracer: TRACER, parent: "root" });
    await p.a.present("s1", [ana]);
    const record = await p.b.find("s1");
    assertEquals(record?.parent, "root");
    assertEquals(
      record?.clients.map((c) => c.id).sort(),
      ["c1", "c2"],
    );
    assertEquals(record?.clients.find((c) => c.id === "c2")?.readOnly, true);
    // A server that lets go takes only its own clients away.
    await p.b.release("s1");
    assertEquals((await p.a.find("s1"))?.clients.map((c) => c.id), ["c1"]);
    assertEquals((await p.a.list()).map((r) => r.id), ["s1"]);
    // A session nobody owns and nobody attends is gone.
    await p.b.present("s2", [bo]);
    await p.b.present("s2", []);
    assertEquals(await p.a.find("s2"), undefined);
  });

  test("what is read is a copy, not the registry's own", async () => {
    await using p = await pair();
    await p.a.claim("s1", { created: CREATED, tracer: TRACER });
    const record = (await p.b.find("s1"))!;
    record.tracer!.argv.push("forged");
    record.clients.push({ id: "c9", name: "x", address: "y" });
    assertEquals(await p.a.find("s1"), { ...record, tracer: TRACER, clients: [] });
  });

  test("changes are watched, and topics carry text in order", async () => {
    await using p = await pair();
    const stop = new AbortController();
    const changes: RegistryChange[] = [];
    p.b.watch((change) => changes.push(change), stop.signal);
    const texts: string[] = [];
    p.b.subscribe("session:s1", (text) => texts.push(text), stop.signal);
    await p.a.claim("s1", { created: CREATED, tracer: TRACER });
    for (let i = 0; i < 100; i++) await p.a.publish("session:s1", String(i));
    await p.a.publish("session:other", "not this");
    await p.a.release("s1");
    await waitFor(() => texts.length === 100 && changes.at(-1)?.record === null);
    assertEquals(texts, Array.from({ length: 100 }, (_, i) => String(i)));
    assertEquals(changes[0]?.record?.owner, p.a.server);
    // Nothing after the signal aborts.
    stop.abort();
    await p.a.publish("session:s1", "late");
    await p.a.claim("s2", { created: CREATED, tracer: TRACER });
    const before = { texts: texts.length, changes: changes.length };
    await p.a.publish("session:s1", "later");
    assertEquals({ texts: texts.length, changes: changes.length }, before);
  });

  test("a session's own tracer takes it over with its key; without it, nobody does", async () => {
    await using p = await pair();
    const keys = { resume: "hash-of-the-key", tree: "tree-key" };
    await p.a.claim("s1", { created: CREATED, tracer: TRACER, keys });
    // Another server, without the key: refused, even asking for a takeover.
    const forged = { created: CREATED, tracer: TRACER, keys: { resume: "guess", tree: "x" } };
    assertEquals(await p.b.claim("s1", forged, { takeover: true }), { owner: p.a.server });
    // With it (the tracer came back there): taken over.
    assertEquals(
      await p.b.claim("s1", { created: CREATED, tracer: TRACER, keys }, { takeover: true }),
      true,
    );
    assertEquals((await p.a.find("s1"))?.owner, p.b.server);
    assertEquals((await p.a.find("s1"))?.keys, keys);
    // Handed over: nobody owns it, the key stays, and only its tracer takes it.
    await p.b.handOver("s1");
    const awaited = await p.a.find("s1");
    assertEquals([awaited?.owner, awaited?.keys?.resume], [null, keys.resume]);
    assertEquals(await p.a.claim("s1", { created: CREATED, tracer: TRACER }), { owner: null });
    assertEquals(
      await p.a.claim("s1", { created: CREATED, tracer: TRACER, keys }, { takeover: true }),
      true,
    );
    // An ended session (its owner released it) frees its id.
    await p.a.release("s1");
    assertEquals(await p.b.claim("s1", { created: CREATED, tracer: TRACER }), true);
  });

  test("a group's rules: numbered in order on every server, bounded, removed by id", async () => {
    await using p = await pair();
    assertEquals(await p.a.groupRules("jobs"), []);
    const first = await p.a.addGroupRule("jobs", { file: "job.py", line: 12, snapshot: true });
    const second = await p.b.addGroupRule("jobs", { line: 30, log: "n={n}" });
    assertEquals(first, { rule: "jobs#1", set: { file: "job.py", line: 12, snapshot: true } });
    assertEquals(second?.rule, "jobs#2");
    // Another group's rules are its own, numbered from 1.
    assertEquals((await p.b.addGroupRule("web", { line: 3 }))?.rule, "web#1");
    assertEquals((await p.b.groupRules("jobs")).map((r) => r.rule), ["jobs#1", "jobs#2"]);
    assertEquals(await p.b.removeGroupRule("jobs", "jobs#1"), true);
    assertEquals(await p.a.removeGroupRule("jobs", "jobs#1"), false);
    assertEquals(await p.a.groupRules("jobs"), [{
      rule: "jobs#2",
      set: { line: 30, log: "n={n}" },
    }]);
    for (let i = (await p.a.groupRules("jobs")).length; i < MAX_GROUP_RULES; i++) {
      assert(await p.a.addGroupRule("jobs", { line: i + 1 }));
    }
    assertEquals(await p.b.addGroupRule("jobs", { line: 999 }), undefined);
    assertEquals((await p.a.groupRules("jobs")).length, MAX_GROUP_RULES);
  });

  test("a server that leaves releases what it owned and attended", async () => {
    await using p = await pair();
    await p.a.claim("s1", { created: CREATED, tracer: TRACER });
    await p.a.present("s2", [{ id: "c1", name: "ana", address: "a" }]);
    await p.b.claim("s3", { created: CREATED, tracer: TRACER });
    await p.a.close();
    await p.a.close();
    assertEquals((await p.b.list()).map((r) => r.id), ["s3"]);
  });
}

/** Resolves once `done()` holds, looking again on each turn of the event loop. */
async function waitFor(done: () => boolean): Promise<void> {
  while (!done()) await new Promise((resolve) => setTimeout(resolve, 1));
}
