/**
 * Starting the real `qdb` CLI as child processes for end-to-end tests, and cleaning up after.
 *
 * @module
 */

import { onlyHere } from "./unshare.ts";

/** The repository's `mod.ts`, the CLI entry. */
export const QDB_ENTRY = new URL("../../mod.ts", import.meta.url).pathname;

/** How long `exited` waits for a process before ending it and failing: a hang guard. */
export const PROCESS_HANG_GUARD_MS = 120_000;

/** A child `qdb` process whose output is collected. */
export class QdbProcess implements AsyncDisposable {
  readonly child: Deno.ChildProcess;
  readonly stdoutLines: string[] = [];
  readonly stderrLines: string[] = [];
  /** Everything printed so far, as printed. */
  readonly text = { stdout: "", stderr: "" };
  readonly status: Promise<Deno.CommandStatus>;
  #waiters: (() => void)[] = [];
  #readers: Promise<void>[];

  constructor(
    readonly args: string[],
    options: {
      env?: Record<string, string>;
      cwd?: string;
      ulimit?: number;
      /** Text given on standard input, then its end (default: no input at all). */
      stdin?: string;
      /** Standard input stays open, and empty, until the process ends (as an idle terminal). */
      holdStdin?: boolean;
      /** A folder only this process sees, holding a copy of `stage` (see support/unshare.ts). */
      onlyHere?: { dir: string; stage: string };
    } = {},
  ) {
    const command = [Deno.execPath(), "run", "--allow-all", QDB_ENTRY, ...args];
    // With `ulimit`, through a shell that lowers the open-file limit first; with `onlyHere`,
    // in a mount namespace of its own.
    const [program, ...rest] = options.onlyHere
      ? [
        "unshare",
        "--mount",
        "sh",
        "-c",
        onlyHere(options.onlyHere.dir, options.onlyHere.stage, command),
      ]
      : options.ulimit === undefined
      ? command
      : ["bash", "-c", `ulimit -n ${options.ulimit} && exec "$@"`, "qdb", ...command];
    this.child = new Deno.Command(program!, {
      args: rest,
      stdin: options.stdin === undefined && !options.holdStdin ? "null" : "piped",
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1", ...options.env },
      ...(options.cwd ? { cwd: options.cwd } : {}),
    }).spawn();
    if (options.stdin !== undefined && !options.holdStdin) {
      const writer = this.child.stdin.getWriter();
      writer.write(new TextEncoder().encode(options.stdin)).then(() => writer.close()).catch(
        () => {},
      );
    }
    this.#readers = [
      this.#collect(this.child.stdout, this.stdoutLines, "stdout"),
      this.#collect(this.child.stderr, this.stderrLines, "stderr"),
    ];
    this.status = this.child.status;
  }

  async #collect(
    stream: ReadableStream<Uint8Array>,
    into: string[],
    name: "stdout" | "stderr",
  ): Promise<void> {
    let partial = "";
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      this.text[name] += chunk;
      const parts = (partial + chunk).split("\n");
      partial = parts.pop()!;
      into.push(...parts);
      for (const wake of this.#waiters.splice(0)) wake();
    }
    if (partial) into.push(partial);
    for (const wake of this.#waiters.splice(0)) wake();
  }

  /** Waits for an output line (stdout or stderr) matching `pattern`; rejects if the process ends first. */
  async line(pattern: RegExp, stream: "stdout" | "stderr" = "stdout"): Promise<RegExpMatchArray> {
    const lines = stream === "stdout" ? this.stdoutLines : this.stderrLines;
    let ended = false;
    this.status.then(() => ended = true);
    while (true) {
      for (const line of lines) {
        const m = line.match(pattern);
        if (m) return m;
      }
      if (ended) {
        await Promise.all(this.#readers);
        for (const line of lines) {
          const m = line.match(pattern);
          if (m) return m;
        }
        throw new Error(
          `qdb exited before printing ${pattern}; stdout: ${this.stdoutLines.join("\n")}\nstderr: ${
            this.stderrLines.join("\n")
          }`,
        );
      }
      await new Promise<void>((resolve) => {
        this.#waiters.push(resolve);
        this.status.then(() => resolve());
      });
    }
  }

  /** The output line at `index` (0-based), once printed; undefined if the process ends first. */
  async lineAt(index: number, stream: "stdout" | "stderr" = "stdout"): Promise<string | undefined> {
    const lines = stream === "stdout" ? this.stdoutLines : this.stderrLines;
    let ended = false;
    this.status.then(() => ended = true);
    while (index >= lines.length) {
      if (ended) {
        await Promise.all(this.#readers);
        return lines[index];
      }
      await new Promise<void>((resolve) => {
        this.#waiters.push(resolve);
        this.status.then(() => resolve());
      });
    }
    return lines[index];
  }

  /** Sends a signal (ignored if already exited). */
  kill(signal: Deno.Signal = "SIGTERM"): void {
    try {
      this.child.kill(signal);
    } catch {
      // Already exited.
    }
  }

  /**
   * Waits for the process to end by itself, and for all of its output. A process still running
   * after the hang guard is ended and the test fails with what it printed (a hang guard, not a
   * speed test: a hung test must fail, not stall the whole suite).
   */
  async exited(): Promise<Deno.CommandStatus> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const hung = new Promise<"hung">((resolve) => {
      timer = setTimeout(() => resolve("hung"), PROCESS_HANG_GUARD_MS);
    });
    const first = await Promise.race([this.status, hung]);
    clearTimeout(timer);
    if (first === "hung") {
      await this.close();
      throw new Error(
        `qdb ${this.args.join(" ")} did not end within the hang guard; stdout: ${
          this.text.stdout.slice(-2000)
        }\nstderr: ${this.text.stderr.slice(-2000)}`,
      );
    }
    await Promise.all(this.#readers);
    return first;
  }

  /** Ends the process and waits for it and its output. Idempotent. */
  async close(): Promise<Deno.CommandStatus> {
    this.kill("SIGTERM");
    const status = await this.status;
    await Promise.all(this.#readers);
    return status;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/** A `qdb serve` child process listening on free ports. */
export interface ServeProcess extends AsyncDisposable {
  readonly process: QdbProcess;
  readonly clientUrl: string;
  readonly tracerUrl: string;
}

/** Starts `qdb serve` on free loopback ports with extra `args`, and reads its address line. */
export async function startServe(args: string[] = []): Promise<ServeProcess> {
  const process = new QdbProcess(["serve", "--client-port", "0", "--tracer-port", "0", ...args]);
  try {
    const m = await process.line(
      /^qdb serve: clients (wss?:\/\/\S+) {2}tracers ((?:tcp|tls):\/\/\S+)$/,
    );
    return {
      process,
      clientUrl: m[1]!,
      tracerUrl: m[2]!,
      [Symbol.asyncDispose]: async () => {
        await process.close();
      },
    };
  } catch (error) {
    await process.close();
    throw error;
  }
}

/**
 * The arguments of `qdb trace` running a program with `python` as session `session` of a
 * server's `tracerUrl`; `rest` is more options, then the program and its arguments.
 */
export function traceArgs(
  serve: { tracerUrl: string },
  python: string,
  session: string,
  ...rest: string[]
): string[] {
  return ["trace", "--python", python, "--server", serve.tracerUrl, "--session", session, ...rest];
}

/** `qdb trace` as {@linkcode traceArgs} says, as a child process. */
export function startTrace(
  serve: { tracerUrl: string },
  python: string,
  session: string,
  ...rest: string[]
): QdbProcess {
  return new QdbProcess(traceArgs(serve, python, session, ...rest));
}
