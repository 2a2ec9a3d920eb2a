/**
 * The debugged program's process, as every engine runs it: started in its own process group
 * (a Ctrl-C in the tracer's terminal is not delivered to it; a signal for the program reaches
 * its subprocesses, as a terminal's would), its standard input written for the `input`
 * command, ended politely then firmly, and its end told the same way by every engine.
 *
 * @example
 * ```ts
 * import { ProgramProcess } from "./process.ts";
 *
 * const program = ProgramProcess.spawn({
 *   command: "sh",
 *   args: ["-c", "echo hi"],
 *   stdin: "null",
 *   what: 'the shell "sh"',
 *   missing: "install a shell",
 * });
 * const status = await program.status;
 * console.log(status.code); // 0
 * ```
 *
 * @module
 */

import type { ExitStatus } from "./engine.ts";
import type { Message } from "../protocol/envelope.ts";

export type { ExitStatus, Message };

/** How long a program asked to end (SIGTERM) has before it is killed (SIGKILL). */
export const KILL_GRACE_MS = 2000;

/** How a program's process is started. */
export interface ProcessSpec {
  /** The runtime to run: `python3`, `node`, a path. */
  command: string;
  /** Its arguments. */
  args: string[];
  /** Working directory (default: the tracer's). */
  cwd?: string | undefined;
  /** Extra environment variables (added to the tracer's). */
  env?: Record<string, string> | undefined;
  /** Standard input: the tracer's, a pipe for `input`, or none. */
  stdin: "inherit" | "piped" | "null";
  /** The runtime as a person names it in an error, such as `the Python interpreter "python3"`. */
  what: string;
  /** What to do when the runtime is not found, such as `install Python 3.8 or newer`. */
  missing: string;
}

/** The exit status a runtime's `Deno.CommandStatus` stands for (a signal, or a code). */
export function exitStatusOf(status: Deno.CommandStatus): ExitStatus {
  return status.signal
    ? { code: null, signal: status.signal }
    : { code: status.code, signal: null };
}

/** How the program ended, in words (`disabled`'s reason). */
export function exitReason(status: ExitStatus): string {
  return status.signal !== null
    ? `The program was ended by ${status.signal}`
    : `The program exited with code ${status.code}`;
}

/** The events that end a session whose program ended: `exited`, then `disabled` with why. */
export function exitEvents(status: ExitStatus): Message[] {
  return [
    {
      e: "exited",
      p: status.signal !== null ? { code: null, signal: status.signal } : { code: status.code },
    },
    { e: "disabled", p: { reason: exitReason(status) } },
  ];
}

/** What a refused `input` command gets: the `error` type and its words. */
export type InputRefusal = { type: "input" | "payload"; data: string };

/** Signal numbers on Linux (the ones a program may die of). */
export const LINUX_SIGNALS: Record<string, number> = {
  SIGHUP: 1,
  SIGINT: 2,
  SIGQUIT: 3,
  SIGILL: 4,
  SIGTRAP: 5,
  SIGABRT: 6,
  SIGBUS: 7,
  SIGFPE: 8,
  SIGKILL: 9,
  SIGUSR1: 10,
  SIGSEGV: 11,
  SIGUSR2: 12,
  SIGPIPE: 13,
  SIGALRM: 14,
  SIGTERM: 15,
  SIGSTKFLT: 16,
  SIGXCPU: 24,
  SIGXFSZ: 25,
  SIGVTALRM: 26,
  SIGPROF: 27,
  SIGIO: 29,
  SIGPWR: 30,
  SIGSYS: 31,
};

/** The program's process: its status, its signals, its standard input, its end. */
export class ProgramProcess {
  /** The runtime's process (its stdout and stderr are piped, for the engine to read). */
  readonly child: Deno.ChildProcess;
  /** Resolves with how the program ended. */
  readonly status: Promise<ExitStatus>;
  #running = true;
  #stdin: WritableStreamDefaultWriter<Uint8Array> | undefined;
  #stdinPiped: boolean;
  #stopping: Promise<ExitStatus> | undefined;

  private constructor(child: Deno.ChildProcess, stdinPiped: boolean) {
    this.child = child;
    this.#stdinPiped = stdinPiped;
    this.status = child.status.then(exitStatusOf);
    this.status.then(() => this.#running = false, () => this.#running = false);
  }

  /**
   * Starts the program. A runtime that cannot be run is an Error a person can act on
   * (`qdb cannot run the Python interpreter "python9": not found (install ...)`).
   */
  static spawn(spec: ProcessSpec): ProgramProcess {
    let child: Deno.ChildProcess;
    try {
      child = new Deno.Command(spec.command, {
        args: spec.args,
        ...(spec.cwd !== undefined ? { cwd: spec.cwd } : {}),
        ...(spec.env !== undefined ? { env: spec.env } : {}),
        stdin: spec.stdin,
        stdout: "piped",
        stderr: "piped",
        // Its own session and process group: a Ctrl-C in the tracer's terminal is not
        // delivered to it.
        detached: true,
      }).spawn();
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) {
        throw new Error(`qdb cannot run ${spec.what}: not found (${spec.missing})`);
      }
      throw new Error(
        `qdb cannot run ${spec.what}: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
    return new ProgramProcess(child, spec.stdin === "piped");
  }

  /** The program's process id. */
  get pid(): number {
    return this.child.pid;
  }

  /** Whether the program still runs. */
  get running(): boolean {
    return this.#running;
  }

  /**
   * Sends `signal` to the program's process group (the program and its subprocesses, as a
   * terminal would); ignored once it has ended.
   */
  kill(signal: Deno.Signal): void {
    if (!this.#running) return;
    try {
      Deno.kill(-this.child.pid, signal);
    } catch {
      try {
        this.child.kill(signal);
      } catch { /* already gone */ }
    }
  }

  /**
   * Ends the program: SIGTERM, then SIGKILL after `graceMs` (0: SIGKILL at once). Idempotent;
   * resolves with how it ended.
   */
  stop(graceMs: number = KILL_GRACE_MS): Promise<ExitStatus> {
    return this.#stopping ??= (async () => {
      if (this.#running) {
        this.kill(graceMs > 0 ? "SIGTERM" : "SIGKILL");
        if (graceMs > 0) {
          let timer: ReturnType<typeof setTimeout> | undefined;
          const ended = await Promise.race([
            this.status.then(() => true, () => true),
            new Promise<boolean>((resolve) => timer = setTimeout(() => resolve(false), graceMs)),
          ]);
          clearTimeout(timer);
          if (!ended) this.kill("SIGKILL");
        }
      }
      try {
        await this.#stdin?.close();
      } catch { /* closed */ }
      return await this.status;
    })();
  }

  /**
   * The `input` command: text for the program's standard input, or `{"eof": true}` to close
   * it. Resolves with the refusal when it cannot be done, or undefined.
   */
  async input(payload: unknown): Promise<InputRefusal | undefined> {
    if (!this.#stdinPiped || !this.child.stdin) {
      return { type: "input", data: "The program's standard input is not connected to qdb" };
    }
    const eof = typeof payload === "object" && payload !== null && "eof" in payload &&
      payload.eof === true;
    if (typeof payload !== "string" && !eof) {
      return {
        type: "payload",
        data: 'input takes a string, or {"eof": true} for the end of input',
      };
    }
    try {
      this.#stdin ??= this.child.stdin.getWriter();
      if (typeof payload === "string") await this.#stdin.write(new TextEncoder().encode(payload));
      else await this.#stdin.close();
      return undefined;
    } catch {
      return { type: "input", data: "The program's standard input is closed" };
    }
  }
}
