/**
 * `qdb run`: the newcomer's command. A server on loopback, the tracer and the terminal client
 * in one process, talking through the real protocol over loopback sockets, so that a second
 * person can `qdb attach` to the same session.
 */

import { QdbClient } from "../client.ts";
import { serve } from "../server.ts";
import { startTracer } from "../tracer.ts";
import { type CommandSpec, num, str } from "./args.ts";
import { forwardSignals } from "./_signals.ts";
import { runJsonPipe } from "../client/json_pipe.ts";
import { restorable, runTerminal, writeAll } from "./_terminal.ts";
import type { RestartRequest } from "../client/terminal/terminal.ts";
import { type Breakpoint, TRACER_EVENTS } from "../protocol/mod.ts";
import { attachOptions, ENGINE_OPTIONS, exitCode, launchOptions } from "./trace.ts";

/** The `run` command. */
export const runCommand: CommandSpec = {
  name: "run",
  usage: "[options] PROGRAM [ARGS...]",
  summary: "Debug a program on this machine: server, tracer and terminal client in one command.",
  description: "Like `python -m pdb PROGRAM`, through qdb's protocol: it prints the session's\n" +
    "address so others can `qdb attach` to it too. `q` ends the program, as in pdb; `detach`\n" +
    "(or `q soft`) lets it run on here; `restart [ARGS]` starts it again. In a terminal the\n" +
    "program starts again at its end, as in pdb; with piped input (or --no-restart) qdb exits\n" +
    "with the program's exit code.",
  options: [
    {
      name: "host",
      type: "string",
      placeholder: "HOST",
      help: "Address others attach to (keep loopback unless you mean to share)",
      default: "127.0.0.1",
    },
    {
      name: "port",
      type: "string",
      placeholder: "PORT",
      help: "Client port (0: any free port)",
      default: "0",
    },
    {
      name: "token",
      type: "string",
      placeholder: "TOKEN",
      help: "A token others must give to attach (default: a random one, printed)",
      env: "QDB_TOKEN",
    },
    {
      name: "web",
      type: "boolean",
      help: "Print the address of the session in the web client (with the token, for this " +
        "browser tab only), to debug from a browser too",
    },
    {
      name: "no-restart",
      type: "boolean",
      help: "At the program's end, exit with its exit code (in a terminal, qdb run starts it " +
        "again by default, as pdb does; with piped input it always exits)",
    },
    {
      name: "json",
      type: "boolean",
      help: "For programs (the Emacs mode): the session as JSON lines on standard output, " +
        "commands as JSON lines on standard input (as `attach --json`)",
    },
    {
      name: "terminal",
      type: "boolean",
      help: "With --json: the terminal client runs in the pipe too (as `attach --terminal`)",
    },
    ...ENGINE_OPTIONS,
  ],
  stopAtPositional: true,
  examples: ["qdb run examples/primes.py 100", "qdb run --break is_prime examples/primes.py"],
  async run(invocation) {
    const { values } = invocation;
    // `--pid`: the program runs already, and runs on when the person leaves (`q` detaches).
    const attach = attachOptions(invocation);
    const launch = attach ? { ...attach, program: `pid ${attach.pid}` } : launchOptions(invocation);
    const json = values.json === true;
    // In JSON mode standard output carries JSON only: output that does not come through the
    // session (after a soft quit) comes as the session's print events would.
    const emitOutput = (stream: "stdout" | "stderr", text: string) =>
      writeAll(
        Deno.stdout,
        JSON.stringify({ e: "print", p: { input: `<${stream}>`, exc: false, output: text } }) +
          "\n",
      );
    // Never open to other local users or to web pages: a random token unless one is given.
    const token = str(values, "token") ?? randomToken();
    await using server = await serve({
      hostname: str(values, "host") ?? "127.0.0.1",
      clientPort: num(values, "port", 0, { min: 0, max: 65535, integer: true }),
      tracerPort: 0,
      token,
      // A local session lasts as long as its person wants.
      inactivityTimeout: 0,
    });
    // The terminal client attaches first, so that it sees everything the program does, from
    // its first line of output (or the error that keeps it from starting).
    let session: string = crypto.randomUUID();
    let held: ["stdout" | "stderr", string][] | undefined = [];
    const begin = async (options: typeof launch) => {
      const client = await QdbClient.connect(server.clientUrl, {
        session,
        auth: token,
        name: Deno.env.get("USER") ?? "local",
      });
      try {
        const tracer = await startTracer({
          ...options,
          ...(attach ? { attachPid: attach.pid } : {}),
          server: server.tracerUrl,
          session,
          token,
          retries: 0,
          // The server lives in this process: if it is gone, so is everything else.
          reconnectFor: 0,
          stdin: attach ? "null" : "piped",
          // The terminal client prints the program's output; after a soft quit, we do (once
          // the terminal client has said its last word, so that the program's output comes
          // after it).
          onOutput: (stream, text, relayed) => {
            if (relayed) return;
            if (held) held.push([stream, text]);
            else if (json) emitOutput(stream, text);
            else writeAll(stream === "stdout" ? Deno.stdout : Deno.stderr, text);
          },
          // The terminal client shows a --break that failed already.
          onStatus: (line) => line.startsWith("--break:") || console.error(`qdb: ${line}`),
        });
        return { client, tracer };
      } catch (error) {
        client.close();
        throw error;
      }
    };
    let { client, tracer } = await begin(launch);
    /**
     * `restart [args]` (and the program's end, in a terminal): the program ends, and starts
     * again in a new session with the breakpoints it had, stopped at its first line.
     */
    const restart = async (request: RestartRequest) => {
      client.close();
      await tracer.close();
      await tracer.done.catch(() => {});
      session = crypto.randomUUID();
      const options = {
        ...launch,
        ...(request.argv ? { args: request.argv } : {}),
        stopOnEntry: true,
        breakpoints: [],
      };
      if (request.argv) launch.args = request.argv;
      ({ client, tracer } = await begin(options));
      const notes = [];
      for (const bp of restorable(request.breakpoints)) {
        const failed = await restoreBreakpoint(client, bp);
        if (failed) notes.push(`*** Breakpoint ${bp.id} could not be set again: ${failed}`);
      }
      notes.push(hint());
      return { connection: client, attached: client.attached, session, notes };
    };
    await using _tracer = { [Symbol.asyncDispose]: () => tracer.close() };
    // The terminal goes away (hangup) or we are told to stop: so does the program. Ctrl-C is
    // the terminal client's (it pauses the program).
    const stopForwarding = forwardSignals(
      (signal) => attach ? void tracer.close() : tracer.kill(signal),
      ["SIGTERM", "SIGHUP"],
    );
    const hint = () =>
      `qdb: session ${session} at ${server.clientUrl} ` +
      `(others can \`qdb attach --server ${server.clientUrl} --token ${token} ${session}\`)` +
      (values.web === true
        ? `\nqdb: web client: ${server.clientUrl.replace(/^ws/, "http")}/s/${
          encodeURIComponent(session)
        }#token=${token}`
        : "");
    let code;
    let quitHard = false;
    if (json) {
      console.error(hint());
      const ended = await runJsonPipe(client, {
        input: Deno.stdin.readable,
        write: (line) => writeAll(Deno.stdout, line + "\n"),
        ...(values.terminal === true
          ? { terminal: { forwardInput: true, awaitTracer: true } }
          : {}),
      });
      // The reader is gone (its input ended): so is the program, as after a terminal's hangup.
      if (ended === "input") {
        if (attach) await tracer.close();
        else tracer.kill("SIGTERM");
      }
      code = 0;
    } else {
      console.log(hint());
      code = await runTerminal(client, {
        tracer: client.attached.tracer ?? null,
        attached: client.attached,
        forwardInput: true,
        awaitTracer: true,
        local: true,
        // As `python -m pdb`: `q` (and the end of input at the prompt) ends the program;
        // `detach` (or `q soft`) leaves it running in the foreground.
        // Attached (--pid): the program is not ours to end; `q` detaches.
        quitMode: attach ? "soft" : "hard",
        onQuit: (mode) => quitHard = mode === "hard",
        // After a soft quit the program runs on in the foreground, and reads what is typed.
        afterEnd: (text) => tracer.input(text),
        // ... and its end of file (Ctrl-D, or the end of a piped input).
        afterEndEof: () => tracer.inputEnd(),
        session,
        restart,
        // As pdb: at its end, the program starts again (in a terminal; a script piping its
        // commands gets the program's exit code instead).
        restartAtEnd: !attach && Deno.stdin.isTerminal() && values["no-restart"] !== true,
        // `attach PID`: a child session of the program, in the same terminal.
        openSession: async (id) => {
          const other = await QdbClient.connect(server.clientUrl, {
            session: id,
            auth: token,
            name: Deno.env.get("USER") ?? "local",
          });
          return { connection: other, attached: other.attached };
        },
      });
    }
    client.close();
    for (const [stream, text] of held) {
      if (json) emitOutput(stream, text);
      else writeAll(stream === "stdout" ? Deno.stdout : Deno.stderr, text);
    }
    held = undefined;
    if (attach) {
      // Detached (or it ended): the program was never ours.
      await tracer.close();
      await tracer.done.catch(() => {});
      stopForwarding();
      return code;
    }
    // After a soft quit the program runs on in the foreground: Ctrl-C is for it now.
    const stopInterrupts = forwardSignals((signal) => tracer.kill(signal), ["SIGINT"]);
    const status = await tracer.done;
    stopInterrupts();
    stopForwarding();
    // Ended by the person's `q` (as pdb's): the exit code is the terminal's, not the kill's.
    if (quitHard && status.code === null) return code;
    return status.code === null && status.signal === null ? code : exitCode(status);
  },
};

/**
 * Sets a breakpoint of the program's last run again in its new run (same place, condition,
 * hit condition, log message, snapshot, temporary, ignore count, enabled or not). Resolves
 * with why it could not be, if it could not.
 */
async function restoreBreakpoint(client: QdbClient, bp: Breakpoint): Promise<string | undefined> {
  const p: Record<string, unknown> = bp.func && bp.pending ? { func: bp.func } : {
    file: bp.file,
    line: bp.line,
  };
  if (bp.cond) p.cond = bp.cond;
  if (bp.temp) p.temp = true;
  if (bp.hit_condition) p.hit_condition = bp.hit_condition;
  if (bp.log) p.log = bp.log;
  if (bp.snapshot) {
    p.snapshot = true;
    if (bp.max !== undefined) p.max = bp.max;
  }
  try {
    const reply = await client.requestEvent("set_break", p, "breakpoints");
    const table = TRACER_EVENTS.breakpoints.payload.check(reply.p, "breakpoints");
    const id = Math.max(0, ...table.map((b) => b.id));
    const change: Record<string, unknown> = {};
    if (!bp.enabled) change.enabled = false;
    if (bp.ignore > 0) change.ignore = bp.ignore;
    if (id > 0 && Object.keys(change).length > 0) {
      await client.requestEvent("update_break", { id, ...change }, "breakpoints");
    }
    return undefined;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
}

/** 128 random bits, as 32 hex digits. */
function randomToken(): string {
  return [...crypto.getRandomValues(new Uint8Array(16))]
    .map((b) => b.toString(16).padStart(2, "0")).join("");
}
