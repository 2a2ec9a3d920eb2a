// A golden transcript of the terminal client, driven by a scripted connection: what a person
// types, what the "tracer" answers, and exactly what appears on the screen.
import { assert, assertEquals } from "../../tests/support/assert.ts";
import { checkClientEvent, type Message } from "../../protocol/mod.ts";
import type { SessionEvent } from "../reconnect.ts";
import { AsyncQueue } from "../../transport/async_queue.ts";
import type { ConsoleHandlers } from "./console.ts";
import { type Screen, TerminalClient } from "./terminal.ts";

const FILE = "/src/primes.py";
const SOURCE = "import math\n\ndef is_prime(n):\n    if n < 2:\n        return False\n" +
  "    return True\n\nfor n in range(100):\n    is_prime(n)\n";

class ScriptedConnection {
  readonly events = new AsyncQueue<SessionEvent>();
  readonly sent: Message[] = [];
  #id = 1;
  constructor(readonly answer: (msg: Message, reply: (e: string, p?: unknown) => void) => void) {}
  send(e: string, p?: unknown): number {
    const id = this.#id++;
    const msg: Message = p === undefined ? { e, id } : { e, p, id };
    this.sent.push(msg);
    queueMicrotask(() => this.answer(msg, (re, rp) => this.emit(re, rp, id)));
    return id;
  }
  /** Sends an event as the server would: it must be a valid one. */
  emit(e: string, p?: unknown, id?: number) {
    const msg: Message = { e };
    if (p !== undefined) msg.p = p;
    if (id !== undefined) msg.id = id;
    const checked = checkClientEvent(msg);
    if (!checked) throw new Error(`Not an event: ${e}`);
    this.events.push(checked);
  }
  close() {
    this.events.end();
  }
}

class RecordingScreen implements Screen {
  readonly transcript: string[] = [];
  handlers!: ConsoleHandlers;
  prompt: string | null = null;
  #promptWaiters: (() => void)[] = [];
  attach(handlers: ConsoleHandlers) {
    this.handlers = handlers;
  }
  setPrompt(prompt: string | null) {
    this.prompt = prompt;
    if (prompt !== null) { for (const wake of this.#promptWaiters.splice(0)) wake(); }
  }
  say(text: string) {
    this.transcript.push(...text.split("\n"));
  }
  output(text: string) {
    this.transcript.push(`[program] ${JSON.stringify(text)}`);
  }
  /** Types a line once the prompt shows, and waits for the next prompt (or the end). */
  async type(line: string) {
    await this.idle();
    this.transcript.push(`(qdb) ${line}`);
    this.prompt = null;
    this.handlers.line(line);
    await new Promise((r) => setTimeout(r, 0));
  }
  idle(): Promise<void> {
    if (this.prompt !== null) return Promise.resolve();
    return new Promise((resolve) => this.#promptWaiters.push(resolve));
  }
}

const frame = (line: number, func = "<module>", code = "") => ({ file: FILE, line, func, code });

/** What a tracer of `program` (pid `pid`) says of itself. */
const tracerOf = (program: string, pid: number) => ({
  engine: "python",
  program,
  argv: [program],
  pid,
  host: "box",
  cwd: "/src",
  protocol: 2,
});

Deno.test("a whole pdb-like session, as the person sees it", async () => {
  const conn = new ScriptedConnection((msg, reply) => {
    switch (msg.e) {
      case "list":
        return reply("list", SOURCE);
      case "set_break":
        return reply("breakpoints", [{
          id: 1,
          file: FILE,
          line: 4,
          temp: false,
          cond: "n == 97",
          func: "is_prime",
          enabled: true,
          ignore: 0,
          hits: 0,
        }]);
      case "continue":
        reply("running");
        conn.emit("print", { input: "<stdout>", exc: false, output: "2 3 5 7 " });
        return conn.emit("stack", {
          index: 1,
          stack: [frame(9, "<module>", "    is_prime(n)"), frame(4, "is_prime", "    if n < 2:")],
          reason: "breakpoint",
          breakpoint: 1,
        });
      case "eval":
        // `p` asks for the repr of one expression (pdb's p), the REPL's echo otherwise.
        assertEquals(msg.p, { code: "n, math.isqrt(n)", repr: true });
        return reply("print", { input: "n, math.isqrt(n)", exc: false, output: "(97, 9)" });
      case "disable":
        conn.emit("disabled", { mode: "soft" });
        conn.emit("disable", { reason: "The tracer stopped debugging" });
        return conn.close();
    }
  });
  const screen = new RecordingScreen();
  const terminal = new TerminalClient({
    connection: conn,
    screen,
    tracer: {
      engine: "python",
      program: "primes.py",
      argv: ["primes.py"],
      pid: 1,
      host: "h",
      cwd: "/src",
      protocol: 1,
    },
  });
  const done = terminal.run();
  conn.emit("stack", { index: 0, stack: [frame(1, "<module>", "import math")], reason: "entry" });
  await screen.type("b is_prime, n == 97");
  await screen.type("c");
  await screen.type("p n, math.isqrt(n)");
  await screen.type("");
  await screen.type("q");
  assertEquals(await done, 0);
  assertEquals(screen.transcript, [
    "> primes.py(1)<module>()",
    " ->   1 import math",
    "      2",
    "      3 def is_prime(n):",
    "(qdb) b is_prime, n == 97",
    "Breakpoint 1 at primes.py:4  (in is_prime, condition: n == 97)",
    "(qdb) c",
    "(running: Ctrl-C or pause pauses it; q quits)",
    '[program] "2 3 5 7 "',
    "> primes.py(4)is_prime()",
    "      3 def is_prime(n):",
    "B->   4     if n < 2:",
    "      5         return False",
    "      6     return True",
    "(qdb) p n, math.isqrt(n)",
    "(97, 9)",
    "(qdb) ",
    "(97, 9)",
    "(qdb) q",
    "qdb: debugging ended; the program runs on without qdb",
  ]);
  // What went over the wire, ids included.
  assertEquals(conn.sent.map((m) => [m.e, m.p]), [
    ["list", { file: FILE }],
    ["set_break", { func: "is_prime", cond: "n == 97" }],
    ["continue", undefined],
    // An empty line repeats the last command.
    ["eval", { code: "n, math.isqrt(n)", repr: true }],
    ["eval", { code: "n, math.isqrt(n)", repr: true }],
    ["disable", "soft"],
  ]);
});

Deno.test("errors, other clients' commands, a running program and a lost server", async () => {
  const conn = new ScriptedConnection((msg, reply) => {
    if (msg.e === "list") {
      return reply("error", { type: "list", data: "No source", command: "list" });
    }
    if (msg.e === "up") return reply("error", { type: "up", data: "Oldest frame", command: "up" });
  });
  const screen = new RecordingScreen();
  const terminal = new TerminalClient({ connection: conn, screen, tracer: null });
  const done = terminal.run();
  conn.emit("stack", { index: 0, stack: [frame(2, "<module>", "x = 1")] });
  await screen.type("u");
  conn.emit("command", { client: { id: "c2", name: "bo", address: "x" }, e: "eval", p: "x" });
  conn.emit("print", { input: "x", exc: true, output: "NameError: name 'x' is not defined" });
  conn.emit("running");
  await new Promise((r) => setTimeout(r, 0));
  screen.handlers.line("p 1");
  await new Promise((r) => setTimeout(r, 0));
  conn.close();
  assertEquals(await done, 1);
  assertEquals(screen.transcript, [
    "> /src/primes.py(2)<module>()",
    "-> x = 1",
    "(qdb) u",
    "*** Oldest frame",
    "[bo] x",
    // Another's `p`: its answer is said as theirs (first hour 2, item 7).
    "[bo] *** NameError: name 'x' is not defined",
    "(running: Ctrl-C or pause pauses it; q quits)",
    "*** The program is running: pause it first (pause or Ctrl-C)",
    "qdb: lost the server: the connection closed",
  ]);
});

Deno.test("finding 12: a peer's name, command and errors cannot send escapes to the terminal", async () => {
  const conn = new ScriptedConnection((msg, reply) => {
    if (msg.e === "list") reply("list", "x = 1\x1b]0;title\x07\n");
  });
  const screen = new RecordingScreen();
  const terminal = new TerminalClient({ connection: conn, screen, tracer: null });
  const done = terminal.run();
  conn.emit("stack", { index: 0, stack: [frame(1, "<module>", "x = 1\x1b[2J")] });
  await screen.idle();
  // OSC 52 (write the clipboard), a title change, clear screen; a bidi override.
  const name = "bo\x1b]52;c;ZXZpbA==\x07\x1b]0;owned\x07";
  conn.emit("clients", { joined: { id: "c2", name, address: "x" } });
  conn.emit("command", { client: { id: "c2", name, address: "x" }, e: "eval", p: "\x1b[2Jx" });
  conn.emit("error", { type: "eval", data: "bad\u202e\x9b31m" });
  // The program's own output is passed through untouched.
  conn.emit("print", { input: "<stdout>", exc: false, output: "\x1b[32mgreen\x1b[0m\n" });
  await new Promise((r) => setTimeout(r, 0));
  conn.close();
  await done;
  const shown = screen.transcript.join("\n");
  const program = screen.transcript.filter((l) => l.startsWith("[program]"));
  assertEquals(program, ['[program] "\\u001b[32mgreen\\u001b[0m\\n"']);
  const peerText = screen.transcript.filter((l) => !l.startsWith("[program]")).join("\n");
  // deno-lint-ignore no-control-regex
  assertEquals(/[\x00-\x09\x0b-\x1f\x7f-\x9f\u202e]/.test(peerText), false, peerText);
  assertEquals(
    shown.includes("[bo\\x1b]52;c;ZXZpbA==\\x07\\x1b]0;owned\\x07 joined]"),
    true,
    shown,
  );
});

Deno.test("lines typed ahead while a stop's source is on its way are commands at that stop, not input", async () => {
  // The order of a CI run that read "n\nc\n" as the program's input: the stop arrives, its
  // source is requested, the piped lines come in meanwhile, then the same stop again (the
  // answer to attaching), then the source.
  let sendSource!: () => void;
  const conn = new ScriptedConnection((msg, reply) => {
    if (msg.e === "list") sendSource = () => reply("list", "import sys\ndata = sys.stdin.read()\n");
  });
  const screen = new RecordingScreen();
  const terminal = new TerminalClient({
    connection: conn,
    screen,
    tracer: null,
    forwardInput: true,
    awaitTracer: true,
  });
  const done = terminal.run();
  const stop = (line: number) => ({ index: 0, stack: [frame(line, "<module>", "")] });
  conn.emit("stack", stop(1));
  while (!conn.sent.some((m) => m.e === "list")) await new Promise((r) => setTimeout(r, 0));
  for (const line of ["n", "n", "c"]) screen.handlers.line(line);
  await new Promise((r) => setTimeout(r, 0));
  conn.emit("stack", stop(1), 0);
  sendSource();
  await new Promise((r) => setTimeout(r, 0));
  conn.emit("running");
  conn.emit("stack", stop(2));
  await new Promise((r) => setTimeout(r, 0));
  conn.emit("running");
  conn.emit("reading");
  await new Promise((r) => setTimeout(r, 0));
  conn.close();
  await done;
  assertEquals(conn.sent.filter((m) => m.e !== "list").map((m) => [m.e, m.p]), [
    ["next", undefined],
    ["next", undefined],
    ["input", "c\n"],
  ]);
});

Deno.test("child sessions: their stops are announced, listed, and attach switches", async () => {
  const conn = new ScriptedConnection((msg, reply) => {
    if (msg.e === "list") reply("list", SOURCE);
  });
  const screen = new RecordingScreen();
  const said = (pattern: RegExp) =>
    new Promise<void>((resolve) => {
      const say = screen.say.bind(screen);
      screen.say = (text: string) => {
        say(text);
        if (pattern.test(text)) resolve();
      };
    });
  const attached: string[] = [];
  const terminal = new TerminalClient({
    connection: conn,
    screen,
    tracer: {
      engine: "python",
      program: "p.py",
      argv: ["p.py"],
      pid: 1,
      host: "h",
      cwd: "/src",
      protocol: 2,
    },
    onAttach: (session) => {
      attached.push(session);
      return Promise.resolve();
    },
  });
  const done = terminal.run();
  conn.emit("stack", { index: 0, stack: [frame(1, "<module>", "import math")], reason: "entry" });
  await screen.idle();
  const child = { session: "job/7", parent: "job", pid: 7, argv: ["p.py"] };
  const announced = said(/stopped/);
  conn.emit("child", { ...child, state: "running" });
  conn.emit("child", {
    ...child,
    state: "stopped",
    where: { file: "/src/w.py", line: 12, func: "work", reason: "breakpoint" },
  });
  await announced;
  await screen.type("children");
  await screen.type("attach 7");
  await screen.type("attach 8");
  await screen.type("attach ..");
  assertEquals(attached, ["job/7", "8"]);
  conn.close();
  await done;
  assertEquals(screen.transcript.slice(4), [
    '[child 7 stopped at w.py:12 in work; "attach 7" to debug it]',
    "(qdb) children",
    "  7        stopped  at w.py:12 in work  (session job/7)",
    "(qdb) attach 7",
    "(qdb) attach 8",
    "(qdb) attach ..",
    "*** This session is not a child: it has no parent",
    "qdb: lost the server: the connection closed",
  ]);
});

Deno.test("first hour 2, item 6: a child's end is said as the child's, not the program's", async () => {
  const conn = new ScriptedConnection(() => {});
  const screen = new RecordingScreen();
  const tracer = tracerOf("w.py", 7);
  const terminal = new TerminalClient({ connection: conn, screen, tracer });
  const done = terminal.run();
  conn.emit("attached", {
    session: "job/7",
    protocol: 2,
    server: "qdb",
    tracer,
    clients: [],
    you: "c1",
    parent: "job",
  });
  conn.emit("exited", { code: 0 });
  await new Promise((r) => setTimeout(r, 0));
  conn.close();
  await done;
  assert(
    screen.transcript.includes(
      'This child process (pid 7) exited with code 0; its parent runs on ("attach .." to go back to session job)',
    ),
    screen.transcript.join("\n"),
  );
});

Deno.test("first hour 2, item 9: q hard, then the end of the input, sends one disable", async () => {
  // The server takes a while to answer `disable`: the end of the input comes first.
  let answer!: () => void;
  const conn = new ScriptedConnection((msg, reply) => {
    if (msg.e === "list") {
      return reply("error", { type: "list", data: "No source", command: "list" });
    }
    if (msg.e === "disable") {
      answer = () => {
        conn.emit("disabled", { mode: "hard" });
        conn.emit("disable", { reason: "The tracer stopped debugging" });
        conn.close();
      };
    }
  });
  const screen = new RecordingScreen();
  const tracer = tracerOf("primes.py", 9);
  const terminal = new TerminalClient({ connection: conn, screen, tracer });
  const done = terminal.run();
  conn.emit("stack", { index: 0, stack: [frame(1, "<module>", "import math")], reason: "entry" });
  await screen.type("q hard");
  screen.handlers.eof();
  await new Promise((r) => setTimeout(r, 0));
  const sent = conn.sent.filter((m) => m.e === "disable").map((m) => m.p);
  answer();
  await done;
  assertEquals(sent, ["hard"]);
});

Deno.test("first hour 2, item 4: `:cmd` is a qdb command at a stop too", async () => {
  const conn = new ScriptedConnection((msg, reply) => {
    if (msg.e === "list") {
      return reply("error", { type: "list", data: "No source", command: "list" });
    }
    if (msg.e === "breakpoints") return reply("breakpoints", []);
  });
  const screen = new RecordingScreen();
  const terminal = new TerminalClient({ connection: conn, screen, tracer: null });
  const done = terminal.run();
  conn.emit("stack", { index: 0, stack: [frame(1, "<module>", "import math")] });
  await screen.type(":where");
  conn.close();
  await done;
  // `where`, not Python's `:where` (a SyntaxError from the program).
  assertEquals(conn.sent.filter((m) => m.e === "eval"), []);
  assert(
    screen.transcript.some((l) => l.includes("primes.py(1)<module>()")),
    screen.transcript.join("\n"),
  );
});

Deno.test("restart is refused where qdb did not start the program (qdb attach)", async () => {
  const conn = new ScriptedConnection((msg, reply) => {
    if (msg.e === "list") reply("list", SOURCE);
    if (msg.e === "disable") {
      conn.emit("disabled", { mode: "soft" });
      conn.close();
    }
  });
  const screen = new RecordingScreen();
  const terminal = new TerminalClient({
    connection: conn,
    screen,
    tracer: tracerOf("/src/primes.py", 7),
  });
  const done = terminal.run();
  conn.emit("stack", { index: 0, stack: [frame(1, "<module>", "import math")], reason: "entry" });
  await screen.type("restart x");
  assert(
    screen.transcript.some((l) => l.startsWith("*** restart works in `qdb run`")),
    screen.transcript.join("\n"),
  );
  await screen.type("q");
  await done;
});
