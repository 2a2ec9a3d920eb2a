/**
 * A followed child process of a Python program (see `qdb_children.py`): a session over the
 * channel its bridge opened. qdb did not start the process, so it cannot wait for it: the exit
 * code is the one the bridge reported as the process ended (`exiting`), and a child that ended
 * without a word (killed) or replaced itself (`exec`) ends its session without `exited`.
 *
 * @module
 */

import type { ChildEngineSession, EngineInfo, ExitStatus } from "../engine.ts";
import type { Message } from "../../protocol/envelope.ts";
import { AsyncQueue } from "../../transport/async_queue.ts";
import { BridgeChannel, errorReply, type Hello } from "./bridge_channel.ts";

/** What a child's session is told by the program's. */
export interface ChildContext {
  /** The program's working directory (a child that did not say has this one). */
  cwd: string;
  /** The program's runtime (a child that did not say runs this one). */
  runtime: string;
}

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

  /** A session over `conn`, whose bridge said `hello`. */
  constructor(conn: Deno.UnixConn, hello: Hello, context: ChildContext) {
    const p = hello.p;
    const child = (p.child ?? {}) as { parent?: unknown };
    this.parentPid = typeof child.parent === "number" ? child.parent : 0;
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

  #finish(): ExitStatus {
    const code = this.#exiting?.code;
    if (code !== undefined) this.#queue.push({ e: "exited", p: { code } });
    if (!this.#disabled) {
      this.#queue.push({
        e: "disabled",
        p: {
          reason: code !== undefined
            ? `The child process exited with code ${code}`
            : this.#exiting?.exec
            ? "The child process replaced itself with another program (exec)"
            : "The child process ended",
        },
      });
    }
    this.#queue.end();
    return { code: code ?? null, signal: null };
  }

  send(command: Message): void {
    if (this.#queue.ended) return;
    if (command.e === "input") {
      this.#reply(command, "input", "A child process's standard input is not connected to qdb");
      return;
    }
    if (this.#disabled) {
      this.#reply(command, "tracer", "qdb is no longer attached to the child process");
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

  /** Detaches from the child (its channel closes; the process runs on untraced). */
  async dispose(): Promise<void> {
    this.#channel.close();
    await this.exited;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.dispose();
  }
}
