/**
 * The tracer: runs a program under a debug engine and relays between it and the server.
 * Engine events go to the server (and the program's output to the tracer's own terminal);
 * client commands go to the engine. If the server goes away, debugging is detached (soft) and
 * the program runs on.
 *
 * @module
 */

import type { Engine, EngineInfo, ExitStatus, LaunchOptions } from "../engine/engine.ts";
import type { Message, PrintPayload } from "../protocol/mod.ts";
import { connectTracerLink, type TracerLink } from "./link.ts";

/** Options of {@linkcode startTracer}. */
export interface TracerOptions extends LaunchOptions {
  /** The engine that runs the program. */
  engine: Engine;
  /** The server's tracer address. Default `tcp://127.0.0.1:8001`. */
  server?: string | undefined;
  /** PEM certificates of the CAs that may sign a `tls://` server's certificate. */
  caCerts?: string[] | undefined;
  /** The session id. Default: a random UUID. */
  session?: string | undefined;
  /** The server's token. */
  token?: string | undefined;
  /** Connection attempts after a failure. Default 5. */
  retries?: number;
  /**
   * Receives the program's output, for the tracer's own terminal. `relayed` is false for output
   * that no client will see (it came after a soft disable ended the session).
   */
  onOutput?:
    | ((stream: "stdout" | "stderr", text: string, relayed: boolean) => void)
    | undefined;
  /** Receives status lines worth showing the person who started the tracer. */
  onStatus?: ((line: string) => void) | undefined;
}

/** A running tracer. */
export interface RunningTracer extends AsyncDisposable {
  /** The session id. */
  readonly session: string;
  /** What runs. */
  readonly info: EngineInfo;
  /** Resolves with the program's exit status once it ended and everything was relayed. */
  readonly done: Promise<ExitStatus>;
  /** Writes to the program's standard input (when it was launched with `stdin: "piped"`). */
  input(text: string): void;
  /** Sends a signal to the program (as Ctrl-C in the tracer's terminal would). */
  kill(signal: Deno.Signal): void;
  /** Ends the program (if still running) and the link. Idempotent. */
  close(): Promise<void>;
}

/** The host name to report, or "unknown" where the runtime may not tell. */
function hostName(): string {
  try {
    return Deno.hostname();
  } catch {
    return "unknown";
  }
}

/**
 * Launches the program under `options.engine` and connects it to the server.
 *
 * @throws {Error} when the program cannot start or the server cannot be reached (the program
 * is ended then).
 */
export async function startTracer(options: TracerOptions): Promise<RunningTracer> {
  const program = await options.engine.launch(options);
  let link: TracerLink;
  try {
    const { engine, program: file, argv, pid, cwd, runtime } = program.info;
    link = await connectTracerLink({
      server: options.server ?? "tcp://127.0.0.1:8001",
      caCerts: options.caCerts,
      session: options.session,
      auth: options.token,
      info: { engine, program: file, argv, pid, host: hostName(), cwd, runtime },
      retries: options.retries ?? 5,
      onRetry: (n, error) =>
        options.onStatus?.(`cannot reach the server (${error.message}); retry ${n}`),
      ...(options.signal ? { signal: options.signal } : {}),
    });
  } catch (error) {
    await program.dispose();
    throw error;
  }

  let disabled = false;
  const relayEvents = (async () => {
    let linkOpen = true;
    for await (const event of program.events) {
      if (event.e === "print") {
        const p = event.p as PrintPayload;
        if (p.input === "<stdout>") options.onOutput?.("stdout", p.output, linkOpen);
        else if (p.input === "<stderr>") options.onOutput?.("stderr", p.output, linkOpen);
      }
      if (!linkOpen) continue;
      link.send(event);
      if (event.e === "disabled") {
        disabled = true;
        // Soft: the program runs on without qdb, and the session is over now. Hard: the
        // program is ending; its exit status follows before the events end.
        if ((event.p as { mode?: string } | undefined)?.mode !== "hard") {
          linkOpen = false;
          link.close();
        }
      }
    }
    link.close();
  })();

  const relayCommands = (async () => {
    for await (const command of link.commands) {
      if (command.e === "error") {
        const p = command.p as { type?: string; data?: unknown };
        options.onStatus?.(`server: ${p?.data ?? "error"}`);
        continue;
      }
      program.send(command as Message);
    }
    if (!disabled) {
      options.onStatus?.("lost the server: debugging is detached and the program runs on");
      program.send({ e: "disable", p: "soft" });
    }
  })();

  let closing: Promise<void> | undefined;
  const close = () =>
    closing ??= (async () => {
      await program.dispose();
      link.close();
      await Promise.allSettled([relayEvents, relayCommands, link.closed]);
    })();
  const done = (async () => {
    const status = await program.exited;
    await relayEvents;
    return status;
  })();
  return {
    session: link.session,
    info: program.info,
    done,
    kill: (signal) => program.kill(signal),
    input: (text) => program.send({ e: "input", p: text }),
    close,
    [Symbol.asyncDispose]: close,
  };
}
