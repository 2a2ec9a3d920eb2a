// A protocol 1 client, the terminal (pdb's language), debugging the fake engine through qdb's
// core: the engine answers the primitive requests only, and the terminal's `where`, `p`, `l`,
// `locals`, `args`, `up` and `continue` all work, as they do for Python. What a new engine needs
// to give every client is the engine contract.
import { assert, assertEquals } from "../support/assert.ts";
import { DebugCore } from "../../core/core.ts";
import {
  type Screen,
  type SessionConnection,
  TerminalClient,
} from "../../client/terminal/terminal.ts";
import type { ConsoleHandlers } from "../../client/terminal/console.ts";
import type { SessionEvent } from "../../client/reconnect.ts";
import { checkClientEvent, type Message } from "../../protocol/mod.ts";
import { AsyncQueue } from "../../transport/async_queue.ts";
import { FakeEngine } from "./fake_engine.ts";

const PROGRAM = new URL("../../testdata/contract.py", import.meta.url).pathname;

/** The terminal's connection straight to a core: what a server would relay. */
function connectionTo(core: DebugCore): SessionConnection {
  const events = new AsyncQueue<SessionEvent>();
  let id = 1;
  const tracer = {
    engine: "fake",
    program: PROGRAM,
    argv: [PROGRAM],
    pid: 1,
    host: "here",
    cwd: "/",
    protocol: 2,
  };
  events.push({
    e: "attached",
    p: { session: "s", protocol: 2, server: "test", tracer, clients: [], you: "c1" },
  } as SessionEvent);
  (async () => {
    for await (const msg of core.events) {
      const event = checkClientEvent(msg as Message);
      if (event) events.push(event);
    }
    events.end();
  })();
  return {
    send(e: string, p?: unknown) {
      const n = id++;
      core.send(p === undefined ? { e, id: n } : { e, p, id: n });
      return n;
    },
    events,
    close: () => events.end(),
    closeInfo: undefined,
  };
}

/** A screen that types each line at the next prompt and keeps what is shown. */
class ScriptedScreen implements Screen {
  readonly shown: string[] = [];
  #handlers: ConsoleHandlers | undefined;
  constructor(readonly lines: string[]) {}
  attach(handlers: ConsoleHandlers) {
    this.#handlers = handlers;
  }
  setPrompt(prompt: string | null) {
    if (prompt === null) return;
    const line = this.lines.shift();
    queueMicrotask(() => {
      if (line === undefined) return this.#handlers?.eof();
      this.shown.push(`${prompt}${line}`);
      this.#handlers?.line(line);
    });
  }
  say(text: string) {
    this.shown.push(...text.replace(/\n$/, "").split("\n"));
  }
  output(text: string) {
    this.shown.push(`[program] ${text}`);
  }
}

Deno.test("the terminal debugs the fake engine through the core: pdb's words on primitives", async () => {
  const engine = new FakeEngine(PROGRAM, await Deno.readTextFile(PROGRAM));
  const core = new DebugCore(engine);
  const screen = new ScriptedScreen([
    "where",
    "p n + 1",
    "l 2, 4",
    "locals",
    "args",
    "up",
    "p n",
    "down",
    "pp label",
    "c",
    "p label",
    "c",
  ]);
  const terminal = new TerminalClient({ connection: connectionTo(core), screen, tracer: null });
  const code = await terminal.run();
  const text = screen.shown.join("\n");
  assertEquals(code, 0, text);
  const after = (command: string) => {
    const at = screen.shown.findIndex((l) => l.endsWith(`) ${command}`));
    assert(at >= 0, `no "${command}" in:\n${text}`);
    return screen.shown.slice(at + 1, at + 8).join("\n");
  };
  assert(
    /contract\.py\(9\)<module>\(\)[\s\S]*> .*contract\.py\(4\)visit\(\)/.test(after("where")),
    text,
  );
  assert(after("p n + 1").startsWith("1"), text);
  assert(
    /2 def visit\(items, n\):\n.*3 +label = "visit %d" % n\n.*4 +return/.test(after("l 2, 4")),
    text,
  );
  assert(
    /^items = \[0, 1, 2, 3, 4, \.\.\.\]\nn = 0\nlabel = 'visit 0'/.test(after("locals")),
    text,
  );
  assert(/^items = \[0, 1, 2, 3, 4, \.\.\.\]\nn = 0\n/.test(after("args")), text);
  assert(/contract\.py\(9\)<module>\(\)/.test(after("up")), text);
  assert(after("pp label").startsWith("'visit 0'"), text);
  // The second stop, then the end.
  assert(after("p label").startsWith("'visit 1'"), text);
  assert(/The program exited with code 0/.test(text), text);
});
