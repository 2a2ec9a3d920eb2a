/**
 * The engine-neutral debugger core: it stands between the tracer's link to the server and a
 * debug engine, and is the one place where protocol 2's commands become engine requests and
 * their answers become replies.
 *
 * Today it owns reply correlation for protocol 2's inspection commands: each gets exactly one
 * `ok` (with a result checked against the protocol's schema) or `error`, with the command's id,
 * even when the engine fails, sends something malformed, or the program ends first. Version 1
 * commands still go to the engine as they are (the Python bridge implements their rules); they
 * move here one by one.
 *
 * @example
 * ```ts ignore
 * import { DebugCore } from "./core.ts";
 * const core = new DebugCore(engineSession);
 * core.send({ e: "threads", id: 7 });
 * for await (const event of core.events) console.log(event); // ... {e: "ok", id: 7, p: {...}}
 * ```
 * @module
 */

import type { EngineRequest, EngineSession } from "../engine/engine.ts";
import {
  checkTracerMessage,
  COMMANDS,
  ERROR_TYPES,
  errorEvent,
  type ErrorType,
  isRequestCommand,
  type Message,
  type MessageId,
  ProtocolError,
  type RequestCommand,
  RESULTS,
  SchemaError,
  type TracerMessage,
} from "../protocol/mod.ts";
import { AsyncQueue } from "../transport/async_queue.ts";

/** A request sent to the engine and not answered yet. */
interface Pending {
  /** The client command it serves. */
  readonly command: RequestCommand;
  /** The id to answer with (the server's id of the client's command). */
  readonly id: MessageId | undefined;
}

/** The debugger core over one engine session. */
export class DebugCore {
  /**
   * What goes to the server, in order: the engine's events (checked: the engine runs inside the
   * debugged program) and the replies made here.
   */
  readonly events: AsyncIterable<TracerMessage>;
  readonly #engine: Pick<EngineSession, "send" | "events">;
  readonly #out = new AsyncQueue<TracerMessage>();
  readonly #pending = new Map<string, Pending>();
  #nextRequest = 1;
  #ended = false;

  /** Takes the engine's events from now on. */
  constructor(engine: Pick<EngineSession, "send" | "events">) {
    this.#engine = engine;
    this.events = this.#out;
    void this.#pump();
  }

  /** Requests sent to the engine and not answered yet. */
  get pending(): number {
    return this.#pending.size;
  }

  /** Handles a client command (checked by the server) that the tracer received. */
  send(command: Message): void {
    if (!isRequestCommand(command.e)) {
      this.#engine.send(command);
      return;
    }
    const name = command.e;
    let args: unknown;
    try {
      args = COMMANDS[name].payload.check(command.p, "payload") ?? {};
    } catch (error) {
      const text = error instanceof SchemaError ? error.message : String(error);
      return this.#fail(name, command.id, "payload", text);
    }
    if (this.#ended) {
      return this.#fail(name, command.id, "tracer", "The program has ended");
    }
    const key = `q${this.#nextRequest++}`;
    this.#pending.set(key, { command: name, id: command.id });
    const request: EngineRequest = { e: "request", id: key, p: { command: name, args } };
    this.#engine.send(request);
  }

  async #pump(): Promise<void> {
    try {
      for await (const event of this.#engine.events) {
        const key = typeof event.id === "string" ? event.id : undefined;
        const pending = key === undefined ? undefined : this.#pending.get(key);
        if (pending) {
          this.#pending.delete(key!);
          if (event.e === "response") this.#answer(pending, event.p);
          // The engine refused the request itself (its program is gone, say).
          else if (event.e === "error") this.#answerError(pending, event.p);
          else this.#out.push(this.#checked(event));
          continue;
        }
        if (event.e === "response") continue; // Not ours (answered already): dropped.
        if (event.e === "exited") this.#endPending("The program ended before answering");
        this.#out.push(this.#checked(event));
      }
    } finally {
      this.#endPending("The program ended before answering");
      this.#ended = true;
      this.#out.end();
    }
  }

  /** An engine event as the protocol describes it, or an internal error saying what was wrong. */
  #checked(event: Message): TracerMessage {
    try {
      return checkTracerMessage(event);
    } catch (error) {
      const text = error instanceof ProtocolError ? error.message : String(error);
      return errorEvent(
        new ProtocolError("internal", `The engine sent a malformed event: ${text}`, {
          ...(event.id !== undefined ? { id: event.id } : {}),
        }),
      ) as TracerMessage;
    }
  }

  #answer(pending: Pending, p: unknown): void {
    const body = (typeof p === "object" && p !== null ? p : {}) as Record<string, unknown>;
    if ("error" in body) return this.#answerError(pending, body.error);
    try {
      const result = RESULTS[pending.command].check(body.result, "result");
      const reply: TracerMessage = { e: "ok", p: result };
      if (pending.id !== undefined) reply.id = pending.id;
      this.#out.push(reply);
    } catch (error) {
      const text = error instanceof SchemaError ? error.message : String(error);
      this.#fail(
        pending.command,
        pending.id,
        "internal",
        `The engine's answer to "${pending.command}" is not valid: ${text}`,
      );
    }
  }

  #answerError(pending: Pending, p: unknown): void {
    const error = (typeof p === "object" && p !== null ? p : {}) as {
      type?: unknown;
      data?: unknown;
    };
    const type = typeof error.type === "string" && Object.hasOwn(ERROR_TYPES, error.type)
      ? error.type as ErrorType
      : "internal";
    const data = typeof error.data === "string"
      ? error.data
      : `The engine failed to answer "${pending.command}"`;
    this.#fail(pending.command, pending.id, type, data);
  }

  #fail(command: string, id: MessageId | undefined, type: ErrorType, text: string): void {
    this.#out.push(errorEvent(new ProtocolError(type, text, { command, id })) as TracerMessage);
  }

  #endPending(why: string): void {
    for (const pending of this.#pending.values()) {
      this.#fail(pending.command, pending.id, "tracer", why);
    }
    this.#pending.clear();
  }
}
