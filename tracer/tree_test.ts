import { assertEquals } from "../tests/support/assert.ts";
import type { Message } from "../protocol/mod.ts";
import { SessionTree } from "./tree.ts";

function member(session: string) {
  const got: Message[] = [];
  return { session, got, send: (command: Message) => got.push(command) };
}

Deno.test("a set_break for the children reaches every live descendant, and only them", () => {
  const tree = new SessionTree();
  const [root, a, b, aa, other] = ["job", "job/1", "job/2", "job/1/3", "else"].map(member);
  tree.add(root!, undefined);
  tree.add(a!, "job");
  tree.add(b!, "job");
  tree.add(aa!, "job/1");
  tree.add(other!, undefined);
  const own = tree.command("job", { e: "set_break", p: { line: 4, children: true }, id: 9 });
  // The session's own command, without the flag, keeps its id; the others get no id.
  assertEquals(own, { e: "set_break", p: { line: 4 }, id: 9 });
  for (const m of [a, b, aa]) assertEquals(m!.got, [{ e: "set_break", p: { line: 4 } }]);
  assertEquals([root!.got, other!.got], [[], []]);
  // From a child: its own descendants only.
  tree.command("job/1", { e: "set_break", p: { line: 5, children: true } });
  assertEquals(aa!.got.length, 2);
  assertEquals(b!.got.length, 1);
});

Deno.test("a grandchild is still a descendant once its parent has ended", () => {
  const tree = new SessionTree();
  const [root, a, aa] = ["job", "job/1", "job/1/3"].map(member);
  tree.add(root!, undefined);
  tree.add(a!, "job");
  tree.add(aa!, "job/1");
  tree.remove(a!);
  tree.command("job", { e: "set_break", p: { line: 4, children: true } });
  assertEquals(aa!.got, [{ e: "set_break", p: { line: 4 } }]);
});
