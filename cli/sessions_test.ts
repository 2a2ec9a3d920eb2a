import { assertEquals } from "../tests/support/assert.ts";
import type { SessionInfo } from "../protocol/mod.ts";
import { treeOrder } from "./sessions.ts";

const session = (id: string, parent?: string): SessionInfo => ({
  id,
  created: "2026-11-28T10:00:00.000Z",
  clients: 0,
  tracer: null,
  ...(parent ? { parent } : {}),
});

Deno.test("qdb sessions lists children under their parents", () => {
  const listed = [
    session("job/2/3", "job/2"),
    session("other"),
    session("job/2", "job"),
    session("job"),
    session("job/4", "job"),
    // Its parent ended: it lives on, listed at the top.
    session("gone/9", "gone"),
  ];
  assertEquals(treeOrder(listed).map(({ session, depth }) => `${depth} ${session.id}`), [
    "0 other",
    "0 job",
    "1 job/2",
    "2 job/2/3",
    "1 job/4",
    "0 gone/9",
  ]);
});
