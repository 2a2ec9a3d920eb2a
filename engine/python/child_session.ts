/**
 * A followed child process of a Python program (see `qdb_children.py`), or a program attached to
 * by pid (`qdb_attach.py`): a session over the channel its bridge opened. qdb did not start the
 * process, so it cannot wait for it: the exit code is the one the bridge reported as the process
 * ended (`exiting`), or (attached) the one the kernel still holds for a process its parent has
 * not reaped; a process that ended without a word (killed) or replaced itself (`exec`) ends its
 * session without `exited`. Disposing of an attached program's session detaches from it: the
 * bridge is told to leave (`disable soft`) and the program runs on.
 *
 * @module
 */

import type { ChildEngineSession, EngineInfo, ExitStatus } from "../engine.ts";
import type { Message } from "../../protocol/envelope.ts";
import { AsyncQueue } from "../../transport/async_queue.ts";
import { BridgeChannel, errorReply, type Hello } from "./bridge_channel.ts";
import { procStatFields } from "./inject.ts";
import { LINUX_SIGNALS } from "../process.ts";

/** What a child's session is told by the program's. */
export interface ChildContext {
  /** The program's working directory (a child that did not say has this one). */
  cwd: string;
  /** The program's runtime (a child that did not say runs this one). */
  runtime: string;
  /** A program attached to by pid, not a child (its words say "the program"). */
  attached?: boolean;
  /** Run as the session ends, before `exited` resolves. */
  onEnd?: () => Promise<void>;
}

/** After asking an attached program's bridge to leave, how long to wait for it to go. */
const DETACH_GRACE_MS = 5_000;

/** The session of one followed child process. */
export class PythonChildSession implements ChildEngineSession {
  readonly events: AsyncIterable<Message>;
  readonly exited: Promise<ExitStatus>;
  readonly info: EngineInfo;
  readonly parentPid: number;
  flow: (() => Promise<void>) | undefined;
  readonly #queue = new AsyncQueue<Message>();
  readonly #channel: BridgeChannel;
  /** What the bridge said as the process ended. */
  #exiting: { code?: number; exec?: boolean } | undefined;
  #disabled = false;
  readonly #attached: boolean;
  readonly #onEnd: (() => Promise<void>) | undefined;
  #disposing: Promise<void> | undefined;

  /** A session over `conn`, whose bridge said `hello`. */
  constructor(conn: Deno.UnixConn, hello: Hello, context: ChildContext) {
    const p = hello.p;
    const child = (p.child ?? {}) as { parent?: unknown };
    this.parentPid = typeof child.parent === "number" ? child.parent : 0;
    this.#attached = context.attached === true;
    this.#onEnd = context.onEnd;
    const argv = Array.isArray(p.argv) ? p.argv.map(String) : [];
    this.info = {
      engine: "python",
      program: typeof p.program === "string" ? p.program : argv[0] ?? "",
      argv,
      pid: typeof p.pid === "number" ? p.pid : 0,
      runtime: typeof p.runtime === "string" ? p.runtime : context.runtime,
      cwd: typeof p.cwd === "string" ? p.cwd : context.cwd,
      capabilities: Array.isArray(p.capabilities) ? p.capabilities.map(String) : [],
    };
    this.events = this.#queue;
    this.#channel = new BridgeChannel(conn, hello, {
      onMessage: (msg) => this.#fromBridge(msg),
      flow: () => this.flow,
    });
    for (const msg of hello.pending) this.#fromBridge(msg);
    this.exited = this.#channel.closed.then(() => this.#finish());
  }

  #fromBridge(msg: Message): void {
    if (msg.e === "capture") {
      // The bridge waits (a little) for this answer. The tracer does not hold the pipes of a
      // process it did not start (the program's own fds keep a copy of its output).
      this.#channel.send({ e: "captured" }, () => {});
      return;
    }
    if (msg.e === "exiting") {
      const p = (msg.p ?? {}) as { code?: unknown; exec?: unknown };
      this.#exiting = {
        ...(typeof p.code === "number" ? { code: p.code } : {}),
        ...(p.exec === true ? { exec: true } : {}),
      };
      return;
    }
    if (msg.e === "disabled") this.#disabled = true;
    this.#queue.push(msg);
  }

  async #finish(): Promise<ExitStatus> {
    let code = this.#exiting?.code;
    let signal: string | null = null;
    let running = false;
    if (this.#attached && !this.#disabled) {
      // The socket closes as the process ends, a moment before the kernel has it a zombie.
      let state = await processState(this.info.pid);
      for (let i = 0; i < 40 && state.running; i++) {
        await new Promise((resolve) => setTimeout(resolve, 25));
        state = await processState(this.info.pid);
      }
      running = state.running;
      if (state.code !== undefined) code = state.code;
      if (state.signal !== undefined) signal = state.signal;
    }
    if (signal !== null) this.#queue.push({ e: "exited", p: { code: null, signal } });
    else if (code !== undefined) this.#queue.push({ e: "exited", p: { code } });
    if (!this.#disabled) {
      const what = this.#attached ? "The program" : "The child process";
      this.#queue.push({
        e: "disabled",
        p: {
          reason: signal !== null
            ? `${what} was ended by ${signal}`
            : code !== undefined
            ? `${what} exited with code ${code}`
            : this.#exiting?.exec
            ? `${what} replaced itself with another program (exec)`
            : running
            ? "qdb's bridge in the program closed its channel; the program runs on"
            : this.#attached
            ? "The program ended (qdb did not start it, and it did not say its exit code)"
            : `${what} ended`,
        },
      });
    }
    await this.#onEnd?.().catch(() => {});
    this.#queue.end();
    return { code: code ?? null, signal };
  }

  send(command: Message): void {
    if (this.#queue.ended) return;
    if (command.e === "input") {
      this.#reply(
        command,
        "input",
        this.#attached
          ? "The standard input of a program qdb attached to is its own, not qdb's"
          : "A child process's standard input is not connected to qdb",
      );
      return;
    }
    if (this.#disabled) {
      this.#reply(
        command,
        "tracer",
        `qdb is no longer attached to the ${this.#attached ? "program" : "child process"}`,
      );
      return;
    }
    this.#channel.send(command, (type, data) => this.#reply(command, type, data));
  }

  #reply(command: Message, type: string, data: string): void {
    this.#queue.push(errorReply(command, type, data));
  }

  /** Sends `signal` to the child process (ignored once it has ended). */
  kill(signal: Deno.Signal): void {
    if (this.#queue.ended || this.info.pid <= 0) return;
    try {
      Deno.kill(this.info.pid, signal);
    } catch { /* already gone */ }
  }

  /**
   * Detaches from the process (its channel closes; it runs on untraced). An attached program's
   * bridge is asked to leave first, and given a moment to (it takes everything it added out).
   */
  dispose(): Promise<void> {
    this.#disposing ??= this.#dispose();
    return this.#disposing;
  }

  async #dispose(): Promise<void> {
    if (this.#attached && !this.#queue.ended && !this.#disabled) {
      this.#channel.send({ e: "disable", p: "soft" }, () => {});
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        this.exited,
        new Promise((resolve) => timer = setTimeout(resolve, DETACH_GRACE_MS)),
      ]);
      clearTimeout(timer);
    }
    this.#channel.close();
    await this.exited;
  }

  /** Same as {@linkcode PythonChildSession.dispose}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.dispose();
  }
}

/**
 * Whether process `pid` still runs and, if it has ended but its parent has not reaped it yet
 * (a zombie), how: the kernel keeps its exit status in `/proc/PID/stat` (field 52) until then.
 */
export async function processState(
  pid: number,
): Promise<{ running: boolean; code?: number; signal?: string }> {
  const fields = await procStatFields(pid);
  if (fields === undefined) return { running: false };
  if (fields[0] !== "Z" && fields[0] !== "X") return { running: true };
  const status = Number(fields[49]);
  if (!Number.isInteger(status)) return { running: false };
  const signal = status & 0x7f;
  if (signal !== 0) {
    const name = Object.entries(LINUX_SIGNALS).find(([, number]) => number === signal)?.[0];
    return { running: false, signal: name ?? `signal ${signal}` };
  }
  return { running: false, code: (status >> 8) & 0xff };
}
