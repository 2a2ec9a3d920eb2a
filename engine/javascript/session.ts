/**
 * One JavaScript program under the V8 inspector, as an engine session: the engine interface's
 * requests and commands become Chrome DevTools Protocol commands, and V8's events the engine's
 * (`stopped`, `running`, `print`, `exception`, `breakpoint_state`, `exited`).
 *
 * @module
 */

import type { EngineInfo, EngineSession, ExitStatus, LaunchOptions } from "../engine.ts";
import type { Breakpoint, Message, MessageId } from "../../protocol/mod.ts";
import { AsyncQueue } from "../../transport/async_queue.ts";
import { exitEvents, KILL_GRACE_MS, ProgramProcess } from "../process.ts";
import { CdpClient, type CdpEvent } from "./cdp.ts";
import { BreakpointRefused, JsBreakpoints } from "./breakpoints.ts";
import { INSPECTOR_NOISE, startRuntime } from "./inspector.ts";
import { JsRequests, type Paused, RequestFailed } from "./requests.ts";
import { breakpointResolved, evaluated, pausedEvent, read } from "./cdp_types.ts";

/** The one thread of a JavaScript program, as the protocol names it. */
export const MAIN_THREAD = { id: 1, name: "MainThread" };

/** After the program ended, how long its pipes may take to close. */
const DRAIN_GRACE_MS = 2_000;

/** Starts `options.program` under its runtime's inspector; resolves once qdb is connected. */
export async function launchJavaScript(options: LaunchOptions): Promise<EngineSession> {
  const runtime = options.interpreter ?? "node";
  const cwd = options.cwd ?? Deno.cwd();
  const policy = options.evalPolicy ?? "full";
  if (policy !== "full" && policy !== "none") {
    // A hook is Python code: no JavaScript program can be held to it.
    throw new Error(`The JavaScript engine takes eval policy full or none, not ${policy}`);
  }
  if (options.run !== undefined && options.run !== "file") {
    throw new Error("The JavaScript engine runs files (-m and -c are Python's)");
  }
  const started = await startRuntime({
    runtime,
    program: options.program,
    args: options.args ?? [],
    runtimeArgs: options.runtimeArgs,
    cwd,
    env: options.env,
    stdin: options.stdin ?? "inherit",
    signal: options.signal,
  });
  const session = new JsSession(options, runtime, cwd, started.process);
  try {
    await session.connect(started.url, started.early, started.stderr);
  } catch (error) {
    await session.dispose();
    throw error;
  }
  return session;
}

class JsSession implements EngineSession {
  readonly events: AsyncQueue<Message> = new AsyncQueue();
  readonly exited: Promise<ExitStatus>;
  readonly #options: LaunchOptions;
  readonly #process: ProgramProcess;
  readonly #program: string;
  #info: EngineInfo;
  #cdp: CdpClient | undefined;
  #paused: Paused | undefined;
  /** The id of the command that resumed the program (its stop carries it). */
  #pendingId: MessageId | undefined;
  #reason: "step" | "pause" | undefined;
  #started = false;
  #detached = false;
  readonly #breakpoints: JsBreakpoints;
  readonly #requests: JsRequests;
  #stopWatches: string[] = [];
  /** Source maps being read, in the order scripts loaded: a pause waits for them. */
  #mapping: Promise<void> = Promise.resolve();
  #disposed: Promise<void> | undefined;
  /** Output still being read; the end waits for it. */
  readonly #readers: Promise<void>[] = [];

  constructor(options: LaunchOptions, runtime: string, cwd: string, process: ProgramProcess) {
    this.#options = options;
    this.#process = process;
    this.#program = options.program.startsWith("/")
      ? options.program
      : `${cwd.replace(/\/$/, "")}/${options.program}`;
    this.#info = {
      engine: "javascript",
      program: options.program,
      argv: [options.program, ...(options.args ?? [])],
      pid: process.pid,
      runtime,
      cwd,
      capabilities: [
        "pause",
        "exception_break",
        "conditional_breakpoints",
        "hit_conditions",
        "logpoints",
        "watches",
        "eval_policy",
        "complete",
        ...(options.stdin === "piped" ? ["input"] : []),
      ],
    };
    const policyNone = options.evalPolicy === "none";
    this.#breakpoints = new JsBreakpoints(() => this.#cdp, policyNone);
    this.#requests = new JsRequests({
      cdp: () => this.#cdp,
      paused: () => this.#paused,
      program: this.#program,
      cwd,
      policyNone,
      evalTimeoutMs: (options.evalTimeout ?? 0) * 1000,
      breakpoints: this.#breakpoints,
    });
    this.#breakpoints.mapping = this.#requests;
    this.exited = process.status;
  }

  get info(): EngineInfo {
    return this.#info;
  }

  /** Connects to the inspector, sets everything up, and lets the program start. */
  async connect(url: string, early: string, stderr: ReadableStream<Uint8Array>): Promise<void> {
    if (early) this.#print("<stderr>", early);
    this.#readers.push(this.#pump(this.#process.child.stdout, "<stdout>"));
    this.#readers.push(this.#pump(stderr, "<stderr>", true));
    const cdp = await CdpClient.connect(url, (event) => this.#onEvent(event));
    this.#cdp = cdp;
    await cdp.send("Runtime.enable");
    await cdp.send("Debugger.enable");
    const version = await cdp.send("Runtime.evaluate", {
      expression: "typeof Deno === 'object' ? 'Deno ' + Deno.version.deno : " +
        "'Node ' + process.version",
      returnByValue: true,
    }).catch(() => undefined);
    const said = read(evaluated, version, "Runtime.evaluate")?.result.value;
    if (typeof said === "string") this.#info = { ...this.#info, runtime: said };
    await this.#setExceptionBreak(this.#options.breakOn ?? "uncaught");
    // The runtime's own code is never stepped into or stopped in; nor what --skip names.
    const skip = (this.#options.skip ?? []).map((glob) =>
      glob.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".")
    );
    await cdp.send("Debugger.setBlackboxPatterns", { patterns: ["^node:", "^ext:", ...skip] })
      .catch(() => {});
    await this.#initialBreakpoints();
    await this.#requests.learnBuiltins();
    await cdp.send("Runtime.runIfWaitingForDebugger");
    void this.#watchEnd();
  }

  async #initialBreakpoints(): Promise<void> {
    const added: Breakpoint[] = [];
    let id = 1;
    for (const spec of this.#options.breakpoints ?? []) {
      const m = /^(?:(.*):)?(\d+)$/.exec(spec.split(",")[0]!.trim());
      if (!m) continue;
      const file = m[1] ? this.#requests.resolve(m[1]) : this.#program;
      if (!file) continue;
      const cond = spec.includes(",") ? spec.slice(spec.indexOf(",") + 1).trim() : null;
      try {
        added.push(
          await this.#breakpoints.set({
            id: id++,
            file,
            line: Number(m[2]),
            temp: false,
            cond: cond || null,
            func: null,
            enabled: true,
            ignore: 0,
            hits: 0,
          }),
        );
      } catch (error) {
        this.#options.onStatus?.(
          `--break ${spec}: ${error instanceof Error ? error.message : error}`,
        );
      }
    }
    if (added.length > 0) {
      this.events.push({ e: "breakpoint_state", p: { changed: [], removed: [], added } });
    }
  }

  send(msg: Message): void {
    void this.#command(msg).catch((error) => {
      const type = error instanceof RequestFailed || error instanceof BreakpointRefused
        ? error.type
        : "internal";
      this.#error(type, error instanceof Error ? error.message : String(error), msg);
    });
  }

  async #command(msg: Message): Promise<void> {
    const cdp = this.#cdp;
    if (msg.e === "request") return await this.#request(msg);
    if (this.#detached || !cdp) return this.#error("tracer", "qdb is no longer attached", msg);
    const paused = this.#paused;
    switch (msg.e) {
      case "start":
        if (paused) return this.#sendStopped(paused, msg.id);
        if (this.#started || this.#options.stopOnEntry === false) {
          this.#push("running", undefined, msg.id);
        }
        return;
      case "continue":
      case "step":
      case "next":
      case "return":
      case "until": {
        if (!paused) throw new RequestFailed("running", `${msg.e} needs a stopped program`);
        this.#pendingId = msg.id;
        this.#reason = msg.e === "continue" ? undefined : "step";
        this.#push("running", { thread: MAIN_THREAD }, msg.id);
        const p: unknown = msg.p;
        const line = typeof p === "number"
          ? p
          : p && typeof p === "object" && "line" in p && typeof p.line === "number"
          ? p.line
          : undefined;
        if (msg.e === "until" && line !== undefined) {
          const top = paused.callFrames[0]!;
          const here = this.#requests.original(top.location.scriptId, top.location.lineNumber + 1);
          const there = this.#requests.generated(here.path, line);
          await cdp.send("Debugger.continueToLocation", {
            location: { scriptId: top.location.scriptId, lineNumber: there.line - 1 },
          });
          return;
        }
        const method = {
          continue: "Debugger.resume",
          step: "Debugger.stepInto",
          next: "Debugger.stepOver",
          return: "Debugger.stepOut",
          until: "Debugger.stepOver",
        }[msg.e];
        await cdp.send(method);
        return;
      }
      case "pause":
        if (paused) return this.#sendStopped(paused, msg.id);
        this.#pendingId = msg.id;
        this.#reason = "pause";
        await cdp.send("Debugger.pause");
        return;
      case "set_exception_break":
        return await this.#setExceptionBreak(String(msg.p));
      case "input": {
        const refused = await this.#process.input(msg.p);
        if (refused) throw new RequestFailed(refused.type, refused.data);
        return;
      }
      case "disable":
        return await this.#disable(msg.p === "hard" ? "hard" : "soft", msg.id);
      case "debug":
        throw new RequestFailed(
          "eval",
          "debug is pdb's (Python's): the JavaScript engine has no " +
            "nested debugger yet",
        );
    }
    throw new RequestFailed("event", `The JavaScript engine does not take "${msg.e}"`);
  }

  async #request(msg: Message): Promise<void> {
    const p = (msg.p ?? {}) as { command?: string; args?: Record<string, unknown> };
    const command = String(p.command);
    const args = p.args ?? {};
    try {
      let result: unknown;
      if (command === "set_stop_watches") {
        this.#stopWatches = ((args.exprs as string[] | undefined) ?? []).slice(0, 1000);
        result = {};
      } else result = await this.#requests.answer(command, args);
      this.events.push({ e: "response", id: msg.id!, p: { result } });
    } catch (error) {
      const type = error instanceof RequestFailed || error instanceof BreakpointRefused
        ? error.type
        : "internal";
      const data = error instanceof Error ? error.message : String(error);
      this.events.push({ e: "response", id: msg.id!, p: { error: { type, data } } });
    }
  }

  #onEvent(event: CdpEvent): void {
    switch (event.method) {
      case "Debugger.paused": {
        const paused = read(pausedEvent, event.params, "Debugger.paused");
        if (!paused) {
          // Not a pause qdb can show: the program goes on rather than waiting unseen.
          this.#error("internal", "The runtime's pause is not valid: the program runs on");
          return void this.#cdp?.send("Debugger.resume").catch(() => {});
        }
        void this.#onPaused(paused).catch((error) =>
          this.#error("internal", `qdb failed at a pause: ${error}`)
        );
        return;
      }
      case "Debugger.resumed":
        this.#paused = undefined;
        this.#requests.resumed();
        return;
      case "Debugger.scriptParsed":
        // Its source map (TypeScript) may move breakpoints to the file's own lines.
        this.#mapping = this.#mapping.then(async () => {
          const mapped = await this.#requests.scriptParsed(event.params);
          if (mapped.length > 0 && await this.#breakpoints.remap(mapped)) {
            this.events.push({ e: "breakpoint_state", p: this.#breakpoints.state() });
          }
        }).catch(() => {});
        return;
      case "Debugger.breakpointResolved": {
        const resolved = read(breakpointResolved, event.params, "Debugger.breakpointResolved");
        if (
          resolved &&
          this.#breakpoints.resolved(resolved.breakpointId, resolved.location.lineNumber + 1)
        ) {
          this.events.push({ e: "breakpoint_state", p: this.#breakpoints.state() });
        }
        return;
      }
      case "Runtime.executionContextDestroyed":
        // The program is over: the runtime waits for the debugger to go before it exits.
        this.#cdp?.close();
        return;
    }
  }

  async #onPaused(paused: Paused): Promise<void> {
    this.#paused = paused;
    await this.#mapping;
    const first = !this.#started;
    this.#started = true;
    let reason: string;
    let breakpoint: number | undefined;
    if (paused.hitBreakpoints?.length) {
      const hit = this.#breakpoints.hit(paused.hitBreakpoints);
      for (const log of hit.logs) {
        this.#print("<log>", `${await this.#requests.logMessage(log.message)}\n`);
      }
      this.events.push({ e: "breakpoint_state", p: this.#breakpoints.state() });
      if (hit.stop === undefined && this.#reason === undefined) {
        return void this.#cdp?.send("Debugger.resume").catch(() => {});
      }
      breakpoint = hit.stop;
      reason = hit.stop !== undefined ? "breakpoint" : this.#reason!;
    } else if (paused.reason === "exception" || paused.reason === "promiseRejection") {
      reason = "exception";
      this.events.push({ e: "exception", p: this.#requests.exceptionPayload(paused) });
    } else if (first || paused.reason === "Break on start") {
      if (this.#options.stopOnEntry === false) {
        return void this.#cdp?.send("Debugger.resume").catch(() => {});
      }
      reason = "entry";
    } else reason = this.#reason ?? "pause";
    this.#reason = undefined;
    const id = this.#pendingId;
    this.#pendingId = undefined;
    if (this.#stopWatches.length > 0) {
      const values = await this.#requests.watch(this.#stopWatches);
      this.events.push({ e: "watch_values", p: { exprs: this.#stopWatches, values } });
    }
    this.#sendStopped(paused, id, reason, breakpoint);
  }

  #sendStopped(paused: Paused, id: MessageId | undefined, reason?: string, bp?: number): void {
    paused.qdbReason = reason ?? paused.qdbReason ?? "pause";
    if (bp !== undefined) paused.qdbBreakpoint = bp;
    const p: Record<string, unknown> = { thread: MAIN_THREAD, reason: paused.qdbReason };
    if (paused.qdbBreakpoint !== undefined && paused.qdbReason === "breakpoint") {
      p.breakpoint = paused.qdbBreakpoint;
    }
    this.#push("stopped", p, id);
  }

  async #setExceptionBreak(mode: string): Promise<void> {
    const state = mode === "raised" ? "all" : mode === "never" ? "none" : "uncaught";
    await this.#cdp?.send("Debugger.setPauseOnExceptions", { state });
  }

  async #disable(mode: "soft" | "hard", id: MessageId | undefined): Promise<void> {
    if (mode === "hard") {
      this.#push("disabled", { mode: "hard" }, id);
      this.kill("SIGKILL");
      return;
    }
    // Soft: no breakpoint, no pause on exceptions, running, and the inspector let go.
    this.#detached = true;
    const cdp = this.#cdp;
    if (cdp) {
      await cdp.send("Debugger.setPauseOnExceptions", { state: "none" }).catch(() => {});
      await cdp.send("Debugger.setBreakpointsActive", { active: false }).catch(() => {});
      if (this.#paused) await cdp.send("Debugger.resume").catch(() => {});
      cdp.close();
    }
    this.#push("disabled", { mode: "soft" }, id);
  }

  async #pump(stream: ReadableStream<Uint8Array>, name: string, filter = false): Promise<void> {
    const decoder = new TextDecoder();
    let partial = "";
    try {
      for await (const chunk of stream) {
        await this.#options.flow?.();
        let text = decoder.decode(chunk, { stream: true });
        if (filter) {
          // The runtime's own lines about its inspector are not the program's.
          const lines = (partial + text).split("\n");
          partial = lines.pop()!;
          text = lines.filter((l) => !INSPECTOR_NOISE.test(l)).map((l) => `${l}\n`).join("");
          if (INSPECTOR_NOISE.test(partial)) partial = "";
        }
        if (text) this.#print(name, text);
      }
    } catch {
      // The pipe went with the program.
    }
    if (partial && !INSPECTOR_NOISE.test(partial)) this.#print(name, partial);
  }

  #print(input: string, output: string): void {
    if (this.#detached && input !== "<log>") {
      const stream = input === "<stderr>" ? "stderr" : "stdout";
      return this.#options.onLateOutput?.(stream, output);
    }
    this.events.push({ e: "print", p: { input, exc: false, output } });
  }

  async #watchEnd(): Promise<void> {
    const status = await this.exited;
    this.#cdp?.close();
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      Promise.allSettled(this.#readers),
      new Promise<void>((resolve) => timer = setTimeout(resolve, DRAIN_GRACE_MS)),
    ]);
    clearTimeout(timer);
    if (!this.#detached) { for (const event of exitEvents(status)) this.events.push(event); }
    this.events.end();
  }

  #push(e: string, p: unknown, id: MessageId | undefined): void {
    const msg: Message = p === undefined ? { e } : { e, p };
    if (id !== undefined) msg.id = id;
    this.events.push(msg);
  }

  #error(type: string, data: string, msg?: Message): void {
    const p: Record<string, unknown> = { type, data };
    if (msg) p.command = msg.e;
    this.#push("error", p, msg?.id);
  }

  kill(signal: Deno.Signal): void {
    this.#process.kill(signal);
  }

  dispose(): Promise<void> {
    return this.#disposed ??= (async () => {
      await this.#process.stop(KILL_GRACE_MS).catch(() => {});
      this.#cdp?.close();
      await this.exited.catch(() => {});
    })();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.dispose();
  }
}
