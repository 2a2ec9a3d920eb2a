import { assertEquals } from "../tests/support/assert.ts";
import { exitEvents, type ProcessSpec, ProgramProcess } from "./process.ts";

function sh(script: string, stdin: ProcessSpec["stdin"] = "null"): ProgramProcess {
  return ProgramProcess.spawn({
    command: "sh",
    args: ["-c", script],
    stdin,
    what: 'the shell "sh"',
    missing: "install a shell",
  });
}

async function text(stream: ReadableStream<Uint8Array>): Promise<string> {
  return await new Response(stream).text();
}

function alive(pid: number): boolean {
  try {
    Deno.kill(pid, "SIGCONT");
    return true;
  } catch {
    return false;
  }
}

Deno.test("a runtime that is not there says so, with what to do", () => {
  let said = "";
  try {
    ProgramProcess.spawn({
      command: "qdb-no-such-runtime",
      args: [],
      stdin: "null",
      what: 'the runtime "qdb-no-such-runtime"',
      missing: "install it",
    });
  } catch (error) {
    said = (error as Error).message;
  }
  assertEquals(said, 'qdb cannot run the runtime "qdb-no-such-runtime": not found (install it)');
});

Deno.test("an exit code and a signal are told the same way by every engine", async () => {
  const coded = sh("exit 3");
  await text(coded.child.stdout);
  await text(coded.child.stderr);
  assertEquals(await coded.status, { code: 3, signal: null });
  assertEquals(exitEvents(await coded.status), [
    { e: "exited", p: { code: 3 } },
    { e: "disabled", p: { reason: "The program exited with code 3" } },
  ]);
  const killed = sh("kill -USR1 $$");
  await text(killed.child.stdout);
  await text(killed.child.stderr);
  assertEquals(await killed.status, { code: null, signal: "SIGUSR1" });
  assertEquals(exitEvents(await killed.status), [
    { e: "exited", p: { code: null, signal: "SIGUSR1" } },
    { e: "disabled", p: { reason: "The program was ended by SIGUSR1" } },
  ]);
  assertEquals(killed.running, false);
});

Deno.test("a signal reaches the program's subprocesses (its process group), as a terminal's", async () => {
  const program = sh("sleep 600 & echo $!; wait");
  const reader = program.child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let line = "";
  while (!line.includes("\n")) line += (await reader.read()).value ?? "";
  const grandchild = Number(line.trim());
  assertEquals(alive(grandchild), true);
  program.kill("SIGTERM");
  assertEquals((await program.status).signal, "SIGTERM");
  // The group's other member got it too (it may take a moment to be reaped by init).
  for (let i = 0; i < 200 && alive(grandchild); i++) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  assertEquals(alive(grandchild), false);
  await reader.cancel();
  await text(program.child.stderr);
  program.kill("SIGKILL"); // ended: ignored
});

Deno.test("stop asks politely, then kills a program that ignores SIGTERM; it is idempotent", async () => {
  const program = sh("trap '' TERM; echo ready; while :; do sleep 1; done");
  const reader = program.child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let seen = "";
  while (!seen.includes("ready")) seen += (await reader.read()).value ?? "";
  const [first, second] = await Promise.all([program.stop(50), program.stop(50)]);
  assertEquals(first, { code: null, signal: "SIGKILL" });
  assertEquals(second, first);
  await reader.cancel();
  await text(program.child.stderr);
});

Deno.test("input: text for the program's stdin, end of input, and refusals that say why", async () => {
  const program = sh("cat", "piped");
  const out = text(program.child.stdout);
  assertEquals(await program.input("hello "), undefined);
  assertEquals(await program.input(42), {
    type: "payload",
    data: 'input takes a string, or {"eof": true} for the end of input',
  });
  // Not the end of input: refused, the pipe stays open.
  assertEquals((await program.input({ eof: false }))?.type, "payload");
  assertEquals(await program.input("world"), undefined);
  assertEquals(await program.input({ eof: true }), undefined);
  assertEquals(await out, "hello world");
  assertEquals((await program.status).code, 0);
  await text(program.child.stderr);
  assertEquals(await program.input("late"), {
    type: "input",
    data: "The program's standard input is closed",
  });

  const unpiped = sh("true");
  assertEquals(await unpiped.input("x"), {
    type: "input",
    data: "The program's standard input is not connected to qdb",
  });
  await text(unpiped.child.stdout);
  await text(unpiped.child.stderr);
  await unpiped.status;
});
