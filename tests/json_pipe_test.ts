// `qdb attach --json`: a session as JSON lines, as the Emacs mode drives it, against a real
// `qdb serve` and `qdb trace` (one Python: the pipe, not the engine, is under test here).
import { assert, assertEquals, assertMatch } from "./support/assert.ts";
import { QdbProcess, startServe, startTrace } from "./support/processes.ts";
import { findPythons } from "./support/pythons.ts";

const pythons = await findPythons();
const PROGRAM = new URL("../testdata/contract.py", import.meta.url).pathname;
const TOKEN = "json-pipe-token";
const spinner = () => new URL("../testdata/spin.py", import.meta.url).pathname;

/** `qdb attach --json` with a writer for its input and a reader of its JSON lines. */
function pipe(clientUrl: string, ...args: string[]) {
  const process = new QdbProcess(
    ["attach", "--json", "--server", clientUrl, "--token", TOKEN, ...args],
    { holdStdin: true },
  );
  const writer = process.child.stdin.getWriter();
  let read = 0;
  /** The next message out that `match` accepts (those before it are skipped). */
  const next = async (match: (m: Record<string, unknown>) => boolean) => {
    while (true) {
      const line = await process.lineAt(read++);
      if (line === undefined) {
        throw new Error(`exited; out: ${process.text.stdout}${process.text.stderr}`);
      }
      const message = JSON.parse(line);
      if (match(message)) return message;
    }
  };
  const send = (text: string) => writer.write(new TextEncoder().encode(text + "\n"));
  return { process, writer, next, send };
}

Deno.test({
  name: "attach --json: commands in, the session's messages out, ids given back",
  ignore: pythons.length === 0,
  async fn() {
    await using serve = await startServe(["--token", TOKEN]);
    await using trace = startTrace(serve, pythons[0]!.path, "js1", "--token", TOKEN, PROGRAM);
    await trace.line(/is session/, "stderr");
    const { process, writer, next, send } = pipe(serve.clientUrl, "js1");
    await using _ = process;
    const attached = await next((m) => m.e === "attached");
    assertEquals((attached.p as { protocol: number }).protocol, 2);
    // The stop at the first line, then a protocol 2 request answered under the reader's id.
    await next((m) => m.e === "stack");
    await send('{"e": "threads", "id": "t1"}');
    const threads = await next((m) => m.id === "t1");
    assertEquals(threads.e, "ok");
    assertEquals((threads.p as { threads: unknown[] }).threads.length, 1);
    // Lines that are not commands are refused by line, and the pipe goes on.
    await send("not json");
    await send('["e", "step"]');
    await send('{"p": 1}');
    for (const [line, why] of [[2, /not JSON/], [3, /object/], [4, /needs "e"/]] as const) {
      const error = await next((m) => m.e === "error");
      assertEquals((error.p as { type: string }).type, "json");
      assertMatch((error.p as { data: string }).data, new RegExp(`Line ${line}: `));
      assertMatch((error.p as { data: string }).data, why);
    }
    // A command the server refuses comes back as its error, under the reader's id.
    await send('{"e": "no_such_command", "id": 9}');
    const refused = await next((m) => m.id === 9);
    assertEquals(refused.e, "error");
    // A breakpoint, a continue, the stop there, the program's output; then the end.
    await send(`{"e": "set_break", "p": {"file": ${JSON.stringify(PROGRAM)}, "line": 4}}`);
    await next((m) => m.e === "breakpoints" && (m.p as unknown[]).length === 1);
    await send('{"e": "continue"}');
    const stop = await next((m) => m.e === "stack");
    assertEquals((stop.p as { reason: string }).reason, "breakpoint");
    await send('{"e": "clear_break", "p": {"id": 1}}');
    await send('{"e": "continue"}');
    const exited = await next((m) => m.e === "exited");
    assertEquals((exited.p as { code: number }).code, 0);
    // The session is over: the pipe ends by itself, with success.
    assertEquals((await process.status).code, 0);
    await writer.close().catch(() => {});
  },
});

Deno.test({
  name: "attach --json: the end of input leaves; what keeps it from attaching is an error line",
  ignore: pythons.length === 0,
  async fn() {
    await using serve = await startServe(["--token", TOKEN]);
    // No session on the server: one error line, exit 1.
    const none = pipe(serve.clientUrl);
    await none.writer.close();
    assertEquals((await none.process.exited()).code, 1);
    const error = JSON.parse(none.process.stdoutLines[0]!);
    assertEquals([error.e, error.p.type], ["error", "attach"]);
    assertMatch(error.p.data, /No live sessions/);
    await using trace = startTrace(serve, pythons[0]!.path, "js2", "--token", TOKEN, PROGRAM);
    await trace.line(/is session/, "stderr");
    // A session that is not there: its name and the live ones.
    const wrong = pipe(serve.clientUrl, "js3");
    await wrong.writer.close();
    assertEquals((await wrong.process.exited()).code, 1);
    assertMatch(JSON.parse(wrong.process.stdoutLines[0]!).p.data, /No live session "js3".*js2/);
    // A wrong token.
    const denied = new QdbProcess(
      ["attach", "--json", "--server", serve.clientUrl, "--token", "wrong", "js2"],
    );
    assertEquals((await denied.exited()).code, 1);
    assertEquals(JSON.parse(denied.stdoutLines[0]!).p.type, "attach");
    // The one live session, and the end of input: the pipe leaves, the program stays stopped.
    const one = pipe(serve.clientUrl);
    await one.next((m) => m.e === "stack");
    await one.writer.close();
    assertEquals((await one.process.exited()).code, 0);
    const again = pipe(serve.clientUrl, "js2");
    await using _ = again.process;
    const stack = await again.next((m) => m.e === "stack");
    assert((stack.p as { stack: unknown[] }).stack.length > 0);
    await again.send('{"e": "disable", "p": "hard"}');
    assertEquals((await again.process.exited()).code, 0);
  },
});

Deno.test({
  name: "run --json: a local program as JSON lines; the end of input ends it",
  ignore: pythons.length === 0,
  async fn() {
    const primes = new URL("../examples/primes.py", import.meta.url).pathname;
    const run = new QdbProcess(
      ["run", "--json", "--python", pythons[0]!.path, primes, "20"],
      { holdStdin: true },
    );
    await using _ = run;
    const writer = run.child.stdin.getWriter();
    const send = (text: string) => writer.write(new TextEncoder().encode(text + "\n"));
    let read = 0;
    const next = async (match: (m: Record<string, unknown>) => boolean) => {
      while (true) {
        const line = await run.lineAt(read++);
        if (line === undefined) throw new Error(`exited: ${run.text.stdout}${run.text.stderr}`);
        const message = JSON.parse(line);
        if (match(message)) return message;
      }
    };
    assertEquals((await next(() => true)).e, "attached");
    await next((m) => m.e === "stack");
    await send('{"e": "continue"}');
    const printed = await next((m) => m.e === "print");
    assertEquals((printed.p as { input: string }).input, "<stdout>");
    const exited = await next((m) => m.e === "exited");
    assertEquals((exited.p as { code: number }).code, 0);
    assertEquals((await run.exited()).code, 0);
    // Only JSON on standard output; the attach hint went to standard error.
    for (const line of run.stdoutLines.filter((l) => l !== "")) JSON.parse(line);
    assertMatch(run.text.stderr, /others can `qdb attach/);
    await writer.close().catch(() => {});

    // With --terminal: lines in the terminal's language, its text out, Ctrl-C as interrupt.
    const spinning = new QdbProcess(
      ["run", "--json", "--terminal", "--no-stop", "--python", pythons[0]!.path, spinner(), "loop"],
      { holdStdin: true },
    );
    await using ___ = spinning;
    const typed = spinning.child.stdin.getWriter();
    const type = (line: unknown) =>
      typed.write(new TextEncoder().encode(JSON.stringify(line) + "\n"));
    await spinning.line(/"e":"output","p":"spinning loop/);
    await type({ e: "interrupt" });
    await spinning.line(/"e":"stack".*"reason":"pause"/);
    await spinning.line(/"e":"prompt","p":"\(qdb\) "/);
    await type({ e: "line", p: "p x > 0" });
    await spinning.line(/"e":"say","p":"True"/);
    await type({ e: "line", p: "help ignore" });
    await spinning.line(/"e":"say","p":"ignore number count"/);
    await type({ e: "line", p: "q hard" });
    assert(!(await spinning.status).success);
    await typed.close().catch(() => {});

    // A program left waiting when its reader goes away ends with it.
    const spin = new URL("../testdata/spin.py", import.meta.url).pathname;
    const left = new QdbProcess(
      ["run", "--json", "--python", pythons[0]!.path, spin, "loop"],
      { holdStdin: true },
    );
    await using __ = left;
    await left.line(/"e":"stack"/);
    await left.child.stdin.close();
    const status = await left.status;
    assert(!status.success, JSON.stringify(status));
  },
});
