/**
 * A backend-neutral driver for debugger scenarios: a test opens a program under a backend,
 * sends commands and waits for events. The same scenario suite runs through every backend:
 * `engineBackend` drives the Python engine through the core, in this process; a backend going through the real
 * `qdb serve` and `qdb trace` processes can implement the same two interfaces.
 *
 * Every event a session receives is checked against the protocol's schemas (strict: unknown
 * fields are refused); a mismatch fails the next `expect` and the session's disposal.
 *
 * @module
 */

import { DebugCore } from "../../core/core.ts";
import type { Engine, ExitStatus, LaunchOptions } from "../../engine/engine.ts";
import { pythonEngine } from "../../engine/python/python_engine.ts";
import type { Message, MessageId } from "../../protocol/envelope.ts";
import { TRACER_EVENTS } from "../../protocol/events.ts";

/** How long `expect` waits before failing with what it saw: a hang guard, not a speed test. */
export const HANG_GUARD_MS = 60_000;

/** A received event, its payload loosely typed for assertions. */
export interface Received {
  /** Event name. */
  e: string;
  /** Payload. */
  // deno-lint-ignore no-explicit-any
  p?: any;
  /** Echoed command id. */
  id?: MessageId;
}

/** How a scenario's program is started (what every backend can honour). */
export type ScenarioOptions = Omit<LaunchOptions, "program" | "interpreter" | "signal">;

/** One program under the debugger, as a scenario sees it. */
export interface ScenarioSession extends AsyncDisposable {
  /** Sends a command; returns the id it carries. */
  send(e: string, p?: unknown): number;
  /**
   * The next event named `e` (and matching `where`) after the cursor; moves the cursor past it.
   * Rejects, with what was seen, if the session ends first or after {@linkcode HANG_GUARD_MS}.
   */
  // deno-lint-ignore no-explicit-any
  expect(e: string, where?: (p: any, msg: Received) => boolean): Promise<Received>;
  /** Every event received so far, in order. */
  readonly seen: Received[];
  /** The program's standard output received so far (from `print` events). */
  stdout(): string;
  /** The program's standard error received so far. */
  stderr(): string;
  /** Resolves once the program ended and the last event arrived. */
  readonly exited: Promise<ExitStatus>;
}

/** A way to run scenarios: directly on an engine, or through server and tracer processes. */
export interface ScenarioBackend {
  /** Shown in test names. */
  name: string;
  /** Starts `program` with the interpreter `python`. */
  open(python: string, program: string, options?: ScenarioOptions): Promise<ScenarioSession>;
}

/** Checks one tracer event against the protocol; returns the problem, if any. */
export function checkTracerEvent(msg: Message): string | undefined {
  const spec =
    (TRACER_EVENTS as Record<string, { payload: { check(v: unknown, at: string): unknown } }>)[
      msg.e
    ];
  if (!spec) return `unknown event ${JSON.stringify(msg.e)}`;
  const keys = Object.keys(msg).filter((k) => k !== "e" && k !== "p" && k !== "id");
  if (keys.length > 0) return `${msg.e}: unknown envelope fields ${keys.join(", ")}`;
  if (msg.id !== undefined && typeof msg.id !== "string" && typeof msg.id !== "number") {
    return `${msg.e}: bad id ${JSON.stringify(msg.id)}`;
  }
  try {
    spec.payload.check(msg.p, `${msg.e}.p`);
  } catch (error) {
    return `${msg.e}: ${error instanceof Error ? error.message : String(error)} in ${
      JSON.stringify(msg).slice(0, 300)
    }`;
  }
  return undefined;
}

/**
 * The common part of every backend's session: collects events, validates them, and serves
 * `expect`. A backend feeds it with `receive` and `end`.
 */
export class EventLog {
  readonly seen: Received[] = [];
  readonly violations: string[] = [];
  #cursor = 0;
  #ended = false;
  #wake: (() => void) | undefined;

  /** Records one event. */
  receive(msg: Message): void {
    const problem = checkTracerEvent(msg);
    if (problem) this.violations.push(problem);
    this.seen.push(msg as Received);
    this.#wake?.();
  }

  /** No more events will come. */
  end(): void {
    this.#ended = true;
    this.#wake?.();
  }

  /** See {@linkcode ScenarioSession.expect}. */
  async expect(
    e: string,
    // deno-lint-ignore no-explicit-any
    where: (p: any, msg: Received) => boolean = () => true,
  ): Promise<Received> {
    const deadline = Date.now() + HANG_GUARD_MS;
    while (true) {
      if (this.violations.length > 0) {
        throw new Error(`Protocol violation: ${this.violations.join("; ")}`);
      }
      for (let i = this.#cursor; i < this.seen.length; i++) {
        const msg = this.seen[i]!;
        if (msg.e === e && where(msg.p, msg)) {
          this.#cursor = i + 1;
          return msg;
        }
      }
      const left = deadline - Date.now();
      if (this.#ended || left <= 0) {
        const recent = this.seen.slice(this.#cursor).map((m) => JSON.stringify(m).slice(0, 400));
        throw new Error(
          `Expected "${e}" ${this.#ended ? "but the session ended" : "within the hang guard"}; ` +
            `seen since the cursor:\n  ${recent.join("\n  ") || "(nothing)"}`,
        );
      }
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
        timer = setTimeout(resolve, left);
      });
      clearTimeout(timer);
      this.#wake = undefined;
    }
  }

  /** Program output of one stream. */
  output(stream: "<stdout>" | "<stderr>"): string {
    return this.seen
      .filter((m) => m.e === "print" && m.p?.input === stream)
      .map((m) => m.p.output as string)
      .join("");
  }
}

/**
 * `exited` with a hang guard: once a test waits on it, a program still running after
 * {@linkcode HANG_GUARD_MS} is ended with `end`, so that the test fails on what it expected
 * instead of stalling the suite (not a speed test).
 */
export function guardExit<T>(exited: Promise<T>, end: () => unknown): () => Promise<T> {
  let armed = false;
  return () => {
    if (!armed) {
      armed = true;
      const timer = setTimeout(() => void end(), HANG_GUARD_MS);
      exited.finally(() => clearTimeout(timer)).catch(() => {});
    }
    return exited;
  };
}

/**
 * Runs programs through an engine and the core in this process (no server); `open`'s first
 * argument is the engine's runtime (a Python, `node`, `deno`).
 */
export function engineBackendFor(engine: Engine, name = "engine"): ScenarioBackend {
  return {
    name,
    open: (runtime, program, options = {}) => openOnEngine(engine, runtime, program, options),
  };
}

async function openOnEngine(
  engine: Engine,
  runtime: string,
  program: string,
  options: ScenarioOptions,
): Promise<ScenarioSession> {
  const session = await engine.launch({ ...options, program, interpreter: runtime });
  const core = new DebugCore(session);
  const log = new EventLog();
  const pump = (async () => {
    for await (const msg of core.events) log.receive(msg);
    log.end();
  })();
  let nextId = 1;
  const exited = (async () => {
    const status = await session.exited;
    await pump;
    return status;
  })();
  const waitExit = guardExit(exited, () => session.dispose());
  return {
    send(e, p) {
      const id = nextId++;
      const msg: Message = { e, id };
      if (p !== undefined) msg.p = p;
      core.send(msg);
      return id;
    },
    expect: (e, where) => log.expect(e, where),
    seen: log.seen,
    stdout: () => log.output("<stdout>"),
    stderr: () => log.output("<stderr>"),
    get exited() {
      return waitExit();
    },
    async [Symbol.asyncDispose]() {
      await session.dispose();
      await pump;
      if (log.violations.length > 0) {
        throw new Error(`Protocol violations: ${log.violations.join("; ")}`);
      }
    },
  };
}

/** Runs programs through the Python engine and the core in this process (no server). */
export const engineBackend: ScenarioBackend = engineBackendFor(pythonEngine);

/** Waits for the next stop (a `stack` that is not a frame selection), of `reason` if given. */
export function stopped(s: ScenarioSession, reason?: string): Promise<Received> {
  return s.expect("stack", (p) => p.reason !== "select" && (!reason || p.reason === reason));
}

/** The selected frame of a stop's `stack`. */
// deno-lint-ignore no-explicit-any
export function topFrame(stack: Received): any {
  return stack.p.stack[stack.p.index];
}
