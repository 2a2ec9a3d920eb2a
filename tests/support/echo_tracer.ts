/**
 * A scripted tracer, run as its own process by end-to-end tests: it connects to the server
 * given as the first argument, for the session given as the second, and answers every command
 * with a `print` event naming it (and `start` with a one-frame `stack`). It prints `ready`
 * once the server accepted it.
 *
 * @module
 */
import { connectTracerLink } from "../../tracer/link.ts";

const [server, session, auth] = Deno.args;
const link = await connectTracerLink({
  server: server!,
  session: session!,
  auth,
  info: {
    engine: "echo",
    program: "echo.py",
    argv: ["echo.py"],
    pid: Deno.pid,
    host: "test",
    cwd: Deno.cwd(),
  },
});
console.log("ready");
for await (const command of link.commands) {
  if (command.e === "start") {
    link.send({
      e: "stack",
      p: { index: 0, stack: [{ file: "/echo.py", line: 1, func: "<module>", code: "pass" }] },
      ...(command.id !== undefined ? { id: command.id } : {}),
    });
  } else if (command.e === "disable") {
    link.send({ e: "disabled", p: { mode: command.p === "hard" ? "hard" : "soft" } });
    break;
  } else {
    link.send({
      e: "print",
      p: { input: command.e, exc: false, output: JSON.stringify(command.p ?? null) },
      ...(command.id !== undefined ? { id: command.id } : {}),
    });
  }
}
link.close();
await link.closed;
