// The spec (README.md) must document every event of the catalogue, and every example in it
// must be valid for its event.
import { assert, assertEquals } from "../tests/support/assert.ts";
import { COMMANDS } from "./commands.ts";
import { GROUP_EVENTS, LINK_MESSAGES, SERVER_EVENTS, TRACER_EVENTS } from "./events.ts";
import type { EventSpec } from "./events.ts";
import { checkEnvelope } from "./envelope.ts";
import { sessionListSchema } from "./events.ts";

const spec = await Deno.readTextFile(new URL("./README.md", import.meta.url));

type Part = "Client commands" | "Tracer events" | "Server events" | "Tracer link" | "Group link";

/** "Part/name" -> the first JSON block under that `### name` heading of that `## Part`. */
function sections(): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of spec.split(/^## /m).slice(1)) {
    const title = part.slice(0, part.indexOf("\n"));
    for (
      const m of part.matchAll(/^### `([^`]+)`(?: \((\w+)\))?\n([\s\S]*?)(?=^###|(?![\s\S]))/gm)
    ) {
      const name = m[2] ? `${m[1]} (${m[2]})` : m[1]!;
      const block = /```json\n([\s\S]*?)```/.exec(m[3]!);
      out.set(`${title}/${name}`, block ? block[1]! : "");
    }
  }
  return out;
}

const documented = sections();

function checkDocumented(part: Part, name: string, eventSpec: EventSpec<unknown>) {
  const json = documented.get(`${part}/${name}`);
  assert(json !== undefined, `protocol/README.md "## ${part}" has no "### \`${name}\`"`);
  assert(json.length > 0, `protocol/README.md ${part}/${name} has no JSON example`);
  const msg = checkEnvelope(JSON.parse(json));
  assertEquals(msg.e, name.replace(/ \(.*\)$/, ""));
  eventSpec.payload.check(msg.p, `${part}/${name} example payload`);
  // The catalogue's own example must be valid too.
  eventSpec.payload.check(eventSpec.example.p, `${name} catalogue example payload`);
}

Deno.test("every client command is documented with a valid example", () => {
  for (const [name, command] of Object.entries(COMMANDS)) {
    checkDocumented("Client commands", name, command);
  }
});

Deno.test("every tracer event is documented with a valid example", () => {
  for (const [name, event] of Object.entries(TRACER_EVENTS)) {
    checkDocumented("Tracer events", name, event);
  }
});

Deno.test("every server event is documented with a valid example", () => {
  for (const [name, event] of Object.entries(SERVER_EVENTS)) {
    checkDocumented("Server events", name, event);
  }
});

Deno.test("every tracer link message is documented with a valid example", () => {
  for (const [name, event] of Object.entries(LINK_MESSAGES)) {
    checkDocumented("Tracer link", name, event);
  }
});

Deno.test("every group link event is documented with a valid example", () => {
  for (const [name, event] of Object.entries(GROUP_EVENTS)) {
    checkDocumented("Group link", name, event);
  }
});

Deno.test("the documented session list is valid", () => {
  const block = /`GET \/sessions`[\s\S]*?```json\n([\s\S]*?)```/.exec(spec);
  assert(block, "README.md documents GET /sessions with an example");
  sessionListSchema.check(JSON.parse(block[1]!), "sessions");
});

Deno.test("every documented section is in the catalogue", () => {
  const known = new Set([
    ...Object.keys(COMMANDS).map((k) => `Client commands/${k}`),
    ...Object.keys(TRACER_EVENTS).map((k) => `Tracer events/${k}`),
    ...Object.keys(SERVER_EVENTS).map((k) => `Server events/${k}`),
    ...Object.keys(LINK_MESSAGES).map((k) => `Tracer link/${k}`),
    ...Object.keys(GROUP_EVENTS).map((k) => `Group link/${k}`),
  ]);
  for (const heading of documented.keys()) {
    assert(known.has(heading), `README.md documents "${heading}", which is not in the catalogue`);
  }
});

Deno.test("every error type is documented", async () => {
  const { ERROR_TYPES } = await import("./errors.ts");
  for (const type of Object.keys(ERROR_TYPES)) {
    assert(
      new RegExp(`^\\| \`${type}\` +\\|`, "m").test(spec),
      `README.md error table lacks "${type}"`,
    );
  }
});

Deno.test("the command table and the spec agree on which commands need a stopped program", () => {
  for (const part of spec.split(/^## /m).slice(1)) {
    if (!part.startsWith("Client commands")) continue;
    for (const m of part.matchAll(/^### `([^`]+)`\n\n(_[^_]*_)?/gm)) {
      const name = m[1]! as keyof typeof COMMANDS;
      if (!(name in COMMANDS) || name === "stack") continue;
      const marked = /stopped/.test(m[2] ?? "");
      assertEquals(marked, COMMANDS[name].needsStop, `protocol/README.md ### \`${name}\``);
    }
  }
});
