import { assert, assertEquals } from "../tests/support/assert.ts";
import { MAX_SCROLLBACK_BYTES, type ReplayBudget, ReplayBuffer } from "./replay.ts";

const line = (n: number) => ({
  e: "print",
  p: { input: "<stdout>", exc: false, output: `line ${n} ${"x".repeat(1000)}\n` },
});

Deno.test("a scrollback keeps the last output within its bound, and peeking keeps it", () => {
  const budget: ReplayBudget = { used: 0, max: Infinity };
  const scrollback = new ReplayBuffer(budget, MAX_SCROLLBACK_BYTES);
  for (let n = 0; n < 1000; n++) scrollback.keep(line(n));
  // Neither a command's answer nor a `stack` is output.
  scrollback.keep({ e: "print", p: { input: "x", exc: false, output: "1" } });
  scrollback.keep({ e: "stack", p: { index: 0, stack: [] } });
  const kept = scrollback.peek();
  assertEquals(JSON.parse(kept.at(-1)!).p.output.slice(0, 9), "line 999 ");
  assert(kept.length < 70 && kept.length > 50, `${kept.length} kept`);
  assert(budget.used <= MAX_SCROLLBACK_BYTES, `${budget.used} bytes counted`);
  assertEquals(scrollback.peek(), kept);
  scrollback.drop();
  assertEquals([scrollback.peek(), budget.used], [[], 0]);
});
