/**
 * `qdb dap`: a Debug Adapter Protocol front end for editors. It is a client of a qdb server
 * (protocol 2), like the terminal client: `attach` joins a session on any server, `launch`
 * starts a server and a tracer in this process, as `qdb run` does, so that others can attach to
 * the same session.
 *
 * {@linkcode CAPABILITIES} says what it supports; the README lists every request, and those it
 * does not support and why (restart of a frame, goto, loaded sources, cancel). Thread ids are
 * the editor's own small numbers; paths are mapped between the machines by {@linkcode PathMapper}.
 *
 * @module
 */

import { CommandError, listSessions } from "../client/client.ts";
import { type LinkState, ReconnectingSession } from "../client/reconnect.ts";
import { SessionModel } from "../client/session.ts";
import { engineFor, ENGINES } from "../engine/registry.ts";
import type { Breakpoint, ChildInfo, ClientEvent, StackPayload } from "../protocol/mod.ts";
import { type RunningServer, serve } from "../server.ts";
import { type RunningTracer, startTracer } from "../tracer.ts";
import { PathMapper, type PathMapping } from "./paths.ts";
import { DapGroup } from "./group.ts";
import type { DapMessage } from "./wire.ts";

export type { DapMessage };

/** What the adapter tells the editor it supports (`initialize`'s answer). */
export const CAPABILITIES = {
  supportsConfigurationDoneRequest: true,
  supportsConditionalBreakpoints: true,
  supportsHitConditionalBreakpoints: true,
  supportsLogPoints: true,
  supportsEvaluateForHovers: true,
  supportsDelayedStackTraceLoading: true,
  supportsExceptionInfoRequest: true,
  supportsTerminateRequest: true,
  supportsSetVariable: true,
  supportsGotoTargetsRequest: true,
  supportsLoadedSourcesRequest: false,
  supportsCompletionsRequest: true,
  supportsFunctionBreakpoints: true,
  supportTerminateDebuggee: true,
  supportSuspendDebuggee: true,
  exceptionBreakpointFilters: [
    { filter: "raised", label: "Raised Exceptions", default: false },
    { filter: "uncaught", label: "Uncaught Exceptions", default: true },
  ],
} as const;

/** A DAP request as the editor sends it. */
interface Request extends DapMessage {
  command: string;
  arguments?: Record<string, unknown>;
}

/** Why a request failed, as the editor shows it. */
class RequestFailed extends Error {}

/** qdb's stop reasons as DAP's. */
const REASONS: Record<string, string> = {
  entry: "entry",
  step: "step",
  return: "step",
  breakpoint: "breakpoint",
  set_trace: "breakpoint",
  exception: "exception",
  pause: "pause",
  goto: "goto",
};

/** One editor's debug session. */
export class DapAdapter implements AsyncDisposable {
  readonly #send: (message: object) => void;
  #seq = 1;
  #client: ReconnectingSession | undefined;
  #server: RunningServer | undefined;
  #tracer: RunningTracer | undefined;
  #stopOnEntry = true;
  #launched = false;
  /** Attached to a running process (`processId`): leaving detaches, never ends it. */
  #processAttached = false;
  #configured = false;
  /** Paths between the tracer's machine and the editor's. */
  #paths = new PathMapper(undefined, [], () => Promise.resolve(undefined));
  /** The session as every client sees it (who else is attached, whether it is stopped). */
  #model = new SessionModel();
  /** The ids of the breakpoints the editor set, per file (replaced as a whole, as DAP does). */
  #own = new Map<string, number[]>();
  /** The targets of the last `gotoTargets`: a line of a file on the tracer's machine. */
  #gotoTargets = new Map<number, { file: string; line: number }>();
  #nextGotoTarget = 1;
  /** The session's breakpoints as the editor knows them (id to what it was told). */
  #known = new Map<number, string>();
  /** The session's latest breakpoint table. */
  #table: Breakpoint[] = [];
  /** How many of the editor's own breakpoint requests run (their changes are not told). */
  #changingBreakpoints = 0;
  /** The program's threads the editor was told of (`thread` events). */
  #threads = new Set<number>();
  /** The ids of the editor's function breakpoints (replaced as a whole, as DAP does). */
  #functionIds: number[] = [];
  /** Resolves at the session's first stop, or its end. */
  #firstStop = Promise.withResolvers<void>();
  /**
   * The editor's thread ids (1, 2, ...) for the program's (as large as 2^64 in CPython): an
   * editor may keep 14 digits of a number (Neovim's JSON) or an int32 (Java's DAP clients).
   */
  #dapThreads = new Map<number, number>();
  #qdbThreads = new Map<number, number>();
  /** A launched program's first stop, shown once the editor is configured (if it asked). */
  #entry: Record<string, unknown> | undefined;
  #terminated = false;
  /** The editor starts a debug session when asked (`startDebugging`): for child processes. */
  #startsDebugging = false;
  /** How to attach to another session of this one's server (for a child's configuration). */
  #attachArgs: Record<string, unknown> | undefined;
  /** This session's id. */
  #sessionId: string | undefined;
  /** The launch or attach arguments that say how paths map. */
  #pathArgs: Record<string, unknown> = {};
  /** With `"group"` in the attach configuration: the group's debug session. */
  #group: DapGroup | undefined;
  /** Children the editor was asked to debug. */
  readonly #childrenStarted = new Set<string>();
  /** Resolves when the editor or the program ended the session. */
  readonly done: Promise<void>;
  #finish!: () => void;

  /** Sends DAP messages with `send`. */
  constructor(send: (message: object) => void) {
    this.#send = send;
    this.done = new Promise((resolve) => this.#finish = resolve);
  }

  /** Handles one message from the editor; a request always gets its response. */
  async handle(message: DapMessage): Promise<void> {
    if (message.type !== "request") return;
    const request = message as Request;
    try {
      const body = await this.#dispatch(request);
      this.#respond(request, true, body);
    } catch (error) {
      this.#respond(request, false, undefined, errorText(error));
    }
    if (request.command === "disconnect") await this.close();
  }

  async #dispatch(request: Request): Promise<unknown> {
    const args = request.arguments ?? {};
    if (this.#group) {
      const body = await this.#group.dispatch(request.command, args);
      if (request.command === "disconnect" || request.command === "terminate") this.#end();
      return body;
    }
    switch (request.command) {
      case "initialize":
        this.#startsDebugging = args.supportsStartDebuggingRequest === true;
        return CAPABILITIES;
      case "launch":
        await this.#launch(args);
        this.#event("initialized");
        return undefined;
      case "attach":
        if (typeof args.group === "string" && args.group !== "") {
          await this.#attachGroup(args);
          this.#event("initialized");
          return undefined;
        }
        if (args.processId !== undefined) {
          await this.#attachProcess(args);
          this.#event("initialized");
          return undefined;
        }
        await this.#attach(args);
        this.#event("initialized");
        // Children that started before the editor came are its to debug too (asked once the
        // editor has its answer to attach).
        setTimeout(() => {
          for (const child of this.#model.children.values()) this.#startChild(child);
        }, 0);
        return undefined;
      case "configurationDone": {
        // A launched program waits at its first line for the breakpoints; now it may run.
        this.#configured = true;
        const entry = this.#entry;
        this.#entry = undefined;
        if (entry && this.#stopOnEntry) queueMicrotask(() => this.#event("stopped", entry));
        else if (entry) this.#session().send("continue");
        return undefined;
      }
      case "setBreakpoints":
        return await this.#ownBreakpoints(() => this.#setBreakpoints(args));
      case "setFunctionBreakpoints":
        return await this.#ownBreakpoints(() => this.#setFunctionBreakpoints(args));
      case "source": {
        const ref = Number(
          args.sourceReference ?? (args.source as { sourceReference?: number })
            ?.sourceReference,
        );
        const remote = this.#paths.reference(ref);
        if (!remote) throw new RequestFailed(`No source ${ref}`);
        const { text } = await this.#session().request("source", { path: remote });
        const engine = ENGINES.get(this.#model.tracer?.engine ?? "");
        return { content: text, mimeType: engine?.traits.sourceMimeType(remote) ?? "text/plain" };
      }
      case "setVariable": {
        const params: { ref: number; name: string; value: string; frame?: number } = {
          ref: Number(args.variablesReference),
          name: String(args.name ?? ""),
          value: String(args.value ?? ""),
        };
        if (args.frameId !== undefined) params.frame = Number(args.frameId);
        const { value, ...rest } = toDapValue(
          await this.#session().request("set_variable", params),
        );
        return { value, ...rest };
      }
      case "gotoTargets": {
        // Any line of the file: the engine says, at `goto`, whether it can jump there.
        const source = (args.source ?? {}) as { path?: string; sourceReference?: number };
        const line = Number(args.line);
        const file = source.sourceReference
          ? this.#paths.reference(Number(source.sourceReference))
          : typeof source.path === "string"
          ? await this.#paths.find(
            source.path,
            async (tail) => (await this.#session().request("find_source", { tail })).paths,
          )
          : undefined;
        if (file === undefined || !Number.isInteger(line) || line < 1) return { targets: [] };
        const id = this.#nextGotoTarget++;
        this.#gotoTargets.clear();
        this.#gotoTargets.set(id, { file, line });
        return { targets: [{ id, label: `Line ${line}`, line }] };
      }
      case "goto": {
        const target = this.#gotoTargets.get(Number(args.targetId));
        if (!target) throw new RequestFailed(`No goto target ${args.targetId}`);
        const thread = this.#qdbThread(args.threadId);
        const { frames } = await this.#session().request("stack_trace", { thread, levels: 1 });
        const newest = frames[0];
        if (!newest || newest.file !== target.file) {
          throw new RequestFailed(
            `Jumps stay in the newest frame's file (${newest?.file ?? "none"})`,
          );
        }
        // The stop comes again at the line: a `stopped` event with reason "goto".
        await this.#session().request("jump", { line: target.line, thread, frame: newest.id });
        return undefined;
      }
      case "completions": {
        // The word before the cursor (a dotted name) is what a match replaces.
        const text = String(args.text ?? "");
        const column = Number(args.column ?? text.length + 1);
        const before = text.slice(0, Math.max(0, column - 1));
        const word = /[\w.]*$/.exec(before)?.[0] ?? "";
        const params: { text: string; frame?: number } = { text: word };
        if (args.frameId !== undefined) params.frame = Number(args.frameId);
        const { matches } = await this.#session().request("completions", params);
        return {
          targets: matches.map((label) => ({
            label,
            start: column - 1 - word.length,
            length: word.length,
          })),
        };
      }
      case "setExceptionBreakpoints": {
        const filters = (args.filters as string[] | undefined) ?? [];
        const mode = filters.includes("raised")
          ? "raised"
          : filters.includes("uncaught")
          ? "uncaught"
          : "never";
        this.#session().send("set_exception_break", mode);
        return undefined;
      }
      case "threads": {
        const { threads } = await this.#session().request("threads");
        return { threads: threads.map((t) => ({ id: this.#dapThread(t.id), name: t.name })) };
      }
      case "stackTrace": {
        const start = Number(args.startFrame ?? 0);
        const levels = Number(args.levels ?? 0) || 1000;
        const { frames, total } = await this.#session().request("stack_trace", {
          thread: this.#qdbThread(args.threadId),
          start,
          levels: Math.min(levels, 1000),
        });
        const sources = await Promise.all(frames.map((f) => this.#paths.source(f.file)));
        return {
          stackFrames: frames.map((f, i) => ({
            id: f.id,
            name: f.func,
            source: sources[i],
            line: f.line,
            column: 1,
          })),
          totalFrames: total,
        };
      }
      case "scopes": {
        const { scopes } = await this.#session().request("scopes", {
          frame: Number(args.frameId),
        });
        return {
          scopes: scopes.map((s) => ({
            name: s.name,
            presentationHint: s.kind === "locals" ? "locals" : undefined,
            variablesReference: s.ref,
            namedVariables: s.named,
            expensive: s.kind === "globals",
          })),
        };
      }
      case "variables": {
        const params: {
          ref: number;
          start?: number;
          count?: number;
          filter?: "named" | "indexed";
        } = {
          ref: Number(args.variablesReference),
        };
        if (args.start !== undefined) params.start = Number(args.start);
        if (args.count !== undefined && Number(args.count) > 0) params.count = Number(args.count);
        if (args.filter === "named" || args.filter === "indexed") params.filter = args.filter;
        const { variables } = await this.#session().request("variables", params);
        return { variables: variables.map((v) => ({ name: v.name, ...toDapValue(v) })) };
      }
      case "evaluate": {
        const context = args.context === "hover" || args.context === "watch"
          ? args.context
          : "repl";
        const params: { expr: string; frame?: number; context: "repl" | "watch" | "hover" } = {
          expr: String(args.expression ?? ""),
          context,
        };
        if (args.frameId !== undefined) params.frame = Number(args.frameId);
        const { value, ...rest } = toDapValue(await this.#session().request("evaluate", params));
        return { result: value, ...rest };
      }
      case "exceptionInfo": {
        const info = await this.#session().request("exception_info", {
          thread: this.#qdbThread(args.threadId),
        });
        return {
          exceptionId: info.type,
          description: info.message,
          breakMode: info.uncaught ? "unhandled" : "always",
          details: { typeName: info.type, message: info.message, stackTrace: info.traceback },
        };
      }
      case "continue":
      case "next":
      case "stepIn":
      case "stepOut": {
        const command = { continue: "continue", next: "next", stepIn: "step", stepOut: "return" }[
          request.command
        ];
        const thread = this.#qdbThread(args.threadId);
        // An editor's step out stops in the caller, at the call (pdb's return stops before).
        const payload = request.command === "stepOut" ? { thread, caller: true } : { thread };
        this.#session().send(command, payload);
        return request.command === "continue" ? { allThreadsContinued: true } : undefined;
      }
      case "pause":
        this.#session().send("pause");
        return undefined;
      case "terminate":
        // A program that ran before the editor came is not the editor's to end: detached.
        this.#session().send("disable", this.#processAttached ? "soft" : "hard");
        return undefined;
      case "disconnect": {
        const client = this.#client;
        if (client && !this.#terminated) {
          const end = args.terminateDebuggee ?? (this.#launched && !this.#processAttached);
          if (end) client.send("disable", "hard");
          else if (this.#launched) client.send("disable", "soft");
          else if (args.suspendDebuggee !== true) await this.#leave(client);
        }
        return undefined;
      }
    }
    throw new RequestFailed(`qdb dap does not support "${request.command}" yet`);
  }

  /**
   * The editor leaves a session it attached to. When nobody else is attached, the program goes
   * on without the editor's breakpoints, as under debugpy (a program stopped with nobody to
   * resume it looks hung); with others attached, the session stays as it is: theirs.
   */
  async #leave(client: ReconnectingSession): Promise<void> {
    const others = [...this.#model.clients.keys()].filter((id) => id !== this.#model.you);
    if (others.length > 0) return;
    const own = [...this.#own.values(), this.#functionIds].flat();
    await this.#ownBreakpoints(async () => {
      for (const id of own) {
        await client.requestEvent("clear_break", { id }, "breakpoints").catch(() => {});
      }
      return { breakpoints: [] };
    });
    if (this.#model.running === false && this.#model.stop) {
      await client.requestEvent("continue", undefined, "running").catch(() => {});
    }
  }

  /**
   * A server in this process (loopback, a random token, sessions that last) and this adapter
   * connected to a new session on it, for `launch` and an attach by `processId`.
   */
  async #localSession(): Promise<{ server: RunningServer; token: string; session: string }> {
    const token = crypto.randomUUID().replaceAll("-", "");
    const server = this.#server = await serve({
      hostname: "127.0.0.1",
      clientPort: 0,
      tracerPort: 0,
      token,
      inactivityTimeout: 0,
    });
    const session = crypto.randomUUID();
    await this.#connect(server.clientUrl, session, token);
    return { server, token, session };
  }

  /** A program on this machine: a server and a tracer in this process, as `qdb run`. */
  async #launch(args: Record<string, unknown>): Promise<void> {
    if (typeof args.program !== "string") throw new RequestFailed('launch needs a "program"');
    this.#mapPaths(args);
    this.#stopOnEntry = args.stopOnEntry === true;
    const { server, token, session } = await this.#localSession();
    // From now on its first stop waits for configurationDone.
    this.#launched = true;
    const skip = Array.isArray(args.skip) ? args.skip.map(String) : [];
    // The runtime: "runtime", or the engine's own name for it ("python", as debugpy's).
    const named = typeof args.engine === "string" ? args.engine : undefined;
    const runtimeOf = (key: string) => typeof args[key] === "string" ? args[key] : undefined;
    const runtime = runtimeOf("runtime") ??
      [...ENGINES.values()].map((e) => runtimeOf(e.traits.runtimeOption.name)).find(Boolean);
    const engine = engineFor({ engine: named, runtime, program: String(args.program) });
    // justMyCode, as debugpy: the runtime's libraries and installed packages are not stepped in.
    if (args.justMyCode === true) skip.push(...await engine.traits.libraryPatterns(runtime));
    this.#tracer = await startTracer({
      engine,
      program: args.program,
      ...(skip.length > 0 ? { skip } : {}),
      ...(typeof args.evalPolicy === "string" ? { evalPolicy: args.evalPolicy } : {}),
      args: Array.isArray(args.args) ? args.args.map(String) : [],
      ...(typeof args.cwd === "string" ? { cwd: args.cwd } : {}),
      ...(runtime !== undefined ? { interpreter: runtime } : {}),
      ...(typeof args.env === "object" && args.env !== null
        ? { env: args.env as Record<string, string> }
        : {}),
      // Child processes are debugged too unless "subProcess": false (debugpy's name).
      followChildren: args.subProcess !== false,
      // It waits at its first line until the editor has set its breakpoints.
      stopOnEntry: true,
      stdin: "null",
      server: server.tracerUrl,
      session,
      token,
      retries: 0,
      reconnectFor: 0,
    });
    // The editor configures a program that waits at its first line.
    await this.#firstStop.promise;
    this.#event("output", {
      category: "console",
      output: `qdb: session ${session} at ${server.clientUrl} (others can \`qdb attach ` +
        `--server ${server.clientUrl} --token ${token} ${session}\`)\n`,
    });
  }

  /**
   * A running process (`"processId"`, as VS Code's process picker gives it): a server and a
   * tracer attached to it in this process, as `qdb run --pid`. Leaving detaches; the program
   * runs on.
   */
  async #attachProcess(args: Record<string, unknown>): Promise<void> {
    const pid = Number(args.processId);
    if (!Number.isSafeInteger(pid) || pid <= 0) {
      throw new RequestFailed(
        `"processId" must be a process id, got ${JSON.stringify(args.processId)}`,
      );
    }
    const engine = engineFor({ engine: typeof args.engine === "string" ? args.engine : "python" });
    if (!engine.attach) {
      throw new RequestFailed(`The ${engine.name} engine cannot attach to a running process`);
    }
    this.#mapPaths(args);
    const { server, token, session } = await this.#localSession();
    this.#launched = true;
    this.#processAttached = true;
    this.#stopOnEntry = args.stopOnEntry === true;
    try {
      this.#tracer = await startTracer({
        engine,
        program: `pid ${pid}`,
        attachPid: pid,
        ...(Array.isArray(args.skip) ? { skip: args.skip.map(String) } : {}),
        ...(typeof args.evalPolicy === "string" ? { evalPolicy: args.evalPolicy } : {}),
        stopOnEntry: args.stopOnEntry === true,
        server: server.tracerUrl,
        session,
        token,
        retries: 0,
        reconnectFor: 0,
      });
    } catch (error) {
      throw new RequestFailed(error instanceof Error ? error.message : String(error));
    }
    this.#event("output", {
      category: "console",
      output: `qdb: attached to process ${pid}; session ${session} at ${server.clientUrl}\n`,
    });
  }

  /** A session that `qdb trace` started, on any server. */
  /** Paths as the launch or attach arguments say (the editor's folder, `pathMappings`). */
  #mapPaths(args: Record<string, unknown>): void {
    // A child's debug session maps its paths as this one does.
    this.#pathArgs = Object.fromEntries(
      ["workspaceFolder", "cwd", "pathMappings"].filter((k) => args[k] !== undefined)
        .map((k) => [k, args[k]]),
    );
    const workspace = [args.workspaceFolder, args.cwd].find((v) => typeof v === "string") as
      | string
      | undefined;
    const mappings = Array.isArray(args.pathMappings)
      ? (args.pathMappings as PathMapping[]).filter((m) =>
        typeof m?.localRoot === "string" && typeof m?.remoteRoot === "string"
      )
      : [];
    this.#paths = new PathMapper(workspace ?? Deno.cwd(), mappings, async (remote) => {
      try {
        return (await this.#session().request("source", { path: remote })).hash;
      } catch {
        return undefined;
      }
    });
  }

  async #attach(args: Record<string, unknown>): Promise<void> {
    this.#mapPaths(args);
    const server = typeof args.server === "string" ? args.server : "ws://127.0.0.1:8002";
    const token = typeof args.token === "string" ? args.token : undefined;
    let session = typeof args.session === "string" && args.session ? args.session : undefined;
    // The live sessions with a program: an unknown one is an error naming them, not a wait.
    const { sessions } = await listSessions(server, { token });
    const live = sessions.filter((s) => s.tracer !== null);
    const names = () => live.map((s) => `${s.id} (${s.tracer?.program})`).join(", ") || "none";
    if (session !== undefined && !live.some((s) => s.id === session)) {
      throw new RequestFailed(`No session ${session} on ${server}; live sessions: ${names()}`);
    }
    if (session === undefined) {
      // None given: the one live session with a program, or say which there are.
      if (live.length !== 1) {
        throw new RequestFailed(
          live.length === 0
            ? `No session with a program on ${server}: start one with qdb trace`
            : `${live.length} sessions on ${server}: say which in "session": ${names()}`,
        );
      }
      session = live[0]!.id;
    }
    await this.#connect(server, session, token);
  }

  /** `"group": NAME`: the editor's breakpoints go to every member (see `group.ts`). */
  async #attachGroup(args: Record<string, unknown>): Promise<void> {
    this.#mapPaths(args);
    const server = typeof args.server === "string" ? args.server : "ws://127.0.0.1:8002";
    const token = typeof args.token === "string" ? args.token : undefined;
    this.#attachArgs = { server, ...(token !== undefined ? { token } : {}) };
    this.#group = await DapGroup.attach(args, {
      event: (event, body) => this.#event(event, body),
      startMember: (session, name) => this.#startSession(session, name),
      paths: this.#paths,
      ended: () => this.#end(),
    });
  }

  /**
   * Asks the editor to debug `session` (a member of the group that stopped) as a debug session
   * of its own; an editor that cannot is told how to attach to it.
   */
  #startSession(session: string, name: string): void {
    if (!this.#startsDebugging) {
      this.#event("output", {
        category: "console",
        output:
          `qdb: ${session} stopped; debug it with an attach configuration "session": "${session}"\n`,
      });
      return;
    }
    this.#send({
      seq: this.#seq++,
      type: "request",
      command: "startDebugging",
      arguments: {
        request: "attach",
        configuration: { name, ...this.#attachArgs, ...this.#pathArgs, session },
      },
    });
  }

  async #connect(server: string, session: string, token: string | undefined): Promise<void> {
    // It attaches again by itself after a network blip or a server restart (as qdb attach).
    const client = await ReconnectingSession.connect(server, { session, auth: token, name: "dap" });
    this.#sessionId = session;
    this.#attachArgs = {
      server,
      ...(token !== undefined ? { token } : {}),
    };
    if (client.attached.protocol < 2) {
      client.close();
      throw new RequestFailed("The server speaks protocol 1: qdb dap needs protocol 2");
    }
    this.#client = client;
    this.#model = new SessionModel({ tracer: client.attached.tracer });
    this.#model.apply({ e: "attached", p: client.attached });
    void this.#pump(client);
  }

  /** The session's events, as DAP events. */
  async #pump(client: ReconnectingSession): Promise<void> {
    let lastStop: StackPayload | undefined;
    for await (const event of client.events) {
      if (event.e === "link") {
        this.#onLink(event.p);
        continue;
      }
      this.#model.apply(event);
      this.#onEvent(event, lastStop);
      if (event.e === "stack" && event.p.reason !== "select") lastStop = event.p;
      if (event.e === "running") lastStop = undefined;
    }
    this.#end();
  }

  /** The link to the server was lost, came back, or was given up: said in the debug console. */
  #onLink(state: LinkState): void {
    const said = state.state === "lost"
      ? `qdb: lost the server (${state.reason}); attaching again for up to ${
        Math.round(state.retryFor / 1000)
      } s`
      : state.state === "back"
      ? "qdb: attached again"
      : `qdb: gave up on the server: ${state.reason}`;
    this.#event("output", { category: "console", output: `${said}\n` });
  }

  #onEvent(event: ClientEvent, lastStop: StackPayload | undefined): void {
    if (event.e === "stack" || event.e === "exited") this.#firstStop.resolve();
    switch (event.e) {
      case "attached":
        for (const child of event.p.children ?? []) this.#startChild(child);
        return;
      case "child":
        this.#startChild(event.p);
        return;
      case "breakpoints":
        this.#table = event.p;
        if (this.#changingBreakpoints === 0) this.#tellBreakpoints();
        return;
      case "stack": {
        const p = event.p;
        if (p.reason === "select" || (lastStop !== undefined && p.reason !== "goto")) return;
        const body: Record<string, unknown> = {
          reason: REASONS[p.reason ?? "pause"] ?? "pause",
          threadId: this.#dapThread(p.thread?.id ?? 0),
          allThreadsStopped: true,
        };
        if (p.breakpoint !== undefined) body.hitBreakpointIds = [p.breakpoint];
        if (this.#launched && !this.#configured && p.reason === "entry") {
          this.#entry = body;
          return;
        }
        this.#event("stopped", body);
        void this.#tellThreads();
        return;
      }
      case "running":
        this.#event("continued", {
          threadId: this.#dapThread(event.p?.thread?.id ?? 0),
          allThreadsContinued: true,
        });
        return;
      case "print": {
        const p = event.p;
        const category = p.input === "<stdout>"
          ? "stdout"
          : p.input === "<stderr>"
          ? "stderr"
          : p.input === "<log>"
          ? "console"
          : undefined;
        if (category) this.#event("output", { category, output: p.output });
        return;
      }
      case "exited":
        this.#event("exited", { exitCode: event.p.code ?? 128 });
        this.#end();
        return;
    }
  }

  /**
   * A child process of this session's program: the editor is asked to debug it as a debug
   * session of its own (`startDebugging`, as js-debug does for workers), attached to the
   * child's session with this one's server, token and paths. Only this session's own children:
   * a grandchild is its parent's to start.
   */
  #startChild(child: ChildInfo): void {
    if (!this.#startsDebugging || child.parent !== this.#sessionId) return;
    if (child.state === "ended" || this.#childrenStarted.has(child.session)) return;
    this.#childrenStarted.add(child.session);
    this.#startSession(child.session, `${child.argv.join(" ")} (pid ${child.pid})`);
  }

  /**
   * Runs one of the editor's own breakpoint requests. Its answer says what became of them, so
   * the table events it causes are not told again; breakpoints of other clients are.
   */
  async #ownBreakpoints(
    run: () => Promise<{ breakpoints: Record<string, unknown>[] }>,
  ): Promise<unknown> {
    this.#changingBreakpoints++;
    try {
      const body = await run();
      for (const bp of body.breakpoints) {
        if (typeof bp.id === "number" && bp.id > 0) this.#known.set(bp.id, describe(bp));
      }
      return body;
    } finally {
      this.#changingBreakpoints--;
    }
  }

  /** `thread` events: the threads started and ended since the last stop. */
  async #tellThreads(): Promise<void> {
    let threads;
    try {
      ({ threads } = await this.#session().request("threads"));
    } catch {
      return; // Running again, or gone: the next stop tells.
    }
    const now = new Set(threads.map((t) => t.id));
    for (const id of now) {
      if (!this.#threads.has(id)) {
        this.#event("thread", { reason: "started", threadId: this.#dapThread(id) });
      }
    }
    for (const id of this.#threads) {
      if (!now.has(id)) this.#event("thread", { reason: "exited", threadId: this.#dapThread(id) });
    }
    this.#threads = now;
  }

  /** `breakpoint` events: what other clients of the session set, changed or removed. */
  #tellBreakpoints(): void {
    const now = new Map(this.#table.map((b) => [b.id, b]));
    for (const [id, bp] of now) {
      const told = this.#known.get(id);
      const shown = toDap(bp, this.#paths);
      const desc = describe(shown);
      if (told === desc) continue;
      this.#known.set(id, desc);
      this.#event("breakpoint", {
        reason: told === undefined ? "new" : "changed",
        breakpoint: shown,
      });
    }
    for (const id of [...this.#known.keys()]) {
      if (now.has(id)) continue;
      this.#known.delete(id);
      this.#event("breakpoint", { reason: "removed", breakpoint: { id, verified: false } });
    }
  }

  async #setFunctionBreakpoints(args: Record<string, unknown>) {
    const client = this.#session();
    for (const id of this.#functionIds) {
      await client.requestEvent("clear_break", { id }, "breakpoints").catch(() => {});
    }
    this.#functionIds = [];
    const wanted = (args.breakpoints as Record<string, unknown>[] | undefined) ?? [];
    const out: Record<string, unknown>[] = [];
    for (const b of wanted) {
      const p: Record<string, unknown> = { func: String(b.name ?? "") };
      if (typeof b.condition === "string" && b.condition) p.cond = b.condition;
      if (typeof b.hitCondition === "string" && b.hitCondition) p.hit_condition = b.hitCondition;
      try {
        const before = new Set(this.#table.map((t) => t.id));
        const reply = await client.requestEvent("set_break", p, "breakpoints");
        const table = reply.p;
        this.#table = table;
        const added = table.find((t) => !before.has(t.id) && t.func === p.func) ??
          table.filter((t) => t.func === p.func).at(-1);
        if (!added) throw new RequestFailed(`No breakpoint on ${p.func}`);
        this.#functionIds.push(added.id);
        out.push(toDap(added, this.#paths));
      } catch (error) {
        out.push({ verified: false, message: errorText(error) });
      }
    }
    return { breakpoints: out };
  }

  async #setBreakpoints(
    args: Record<string, unknown>,
  ): Promise<{ breakpoints: Record<string, unknown>[] }> {
    const source = (args.source ?? {}) as { path?: string };
    if (typeof source.path !== "string") throw new RequestFailed("setBreakpoints needs a path");
    const wanted = (args.breakpoints as Record<string, unknown>[] | undefined) ?? [];
    const specs = wanted.map((b) => {
      const spec: { line: number; cond?: string; hit_condition?: string; log?: string } = {
        line: Number(b.line),
      };
      if (typeof b.condition === "string" && b.condition) spec.cond = b.condition;
      if (typeof b.hitCondition === "string" && b.hitCondition) {
        spec.hit_condition = b.hitCondition;
      }
      if (typeof b.logMessage === "string") spec.log = b.logMessage;
      return spec;
    });
    const { breakpoints } = await this.#session().request("set_breakpoints", {
      file: await this.#paths.find(
        source.path,
        async (tail) => (await this.#session().request("find_source", { tail })).paths,
      ),
      breakpoints: specs,
    });
    this.#own.set(source.path, breakpoints.map((b) => b.id).filter((id) => id > 0));
    return {
      breakpoints: breakpoints.map((b) => ({
        ...(b.id ? { id: b.id } : {}),
        verified: b.verified ?? b.id > 0,
        line: b.line,
        // The editor's own file, whatever the tracer calls it.
        source: { path: source.path },
        ...(b.message ? { message: b.message } : {}),
      })),
    };
  }

  /** The editor's id of a program's thread (given on first sight, kept for the session). */
  #dapThread(thread: number): number {
    let id = this.#dapThreads.get(thread);
    if (id === undefined) {
      id = this.#dapThreads.size + 1;
      this.#dapThreads.set(thread, id);
      this.#qdbThreads.set(id, thread);
    }
    return id;
  }

  /** The program's thread behind an editor's thread id. */
  #qdbThread(threadId: unknown): number {
    const thread = this.#qdbThreads.get(Number(threadId));
    if (thread === undefined) throw new RequestFailed(`No thread ${threadId} in this session`);
    return thread;
  }

  #session(): ReconnectingSession {
    if (!this.#client) throw new RequestFailed("Not attached: send launch or attach first");
    return this.#client;
  }

  #end(): void {
    this.#firstStop.resolve();
    if (this.#terminated) return;
    this.#terminated = true;
    this.#event("terminated");
    this.#finish();
  }

  #respond(request: Request, success: boolean, body?: unknown, message?: string): void {
    const response: Record<string, unknown> = {
      seq: this.#seq++,
      type: "response",
      request_seq: request.seq,
      command: request.command,
      success,
    };
    if (body !== undefined) response.body = body;
    if (message !== undefined) response.message = message;
    this.#send(response);
  }

  #event(event: string, body?: unknown): void {
    const message: Record<string, unknown> = { seq: this.#seq++, type: "event", event };
    if (body !== undefined) message.body = body;
    this.#send(message);
  }

  /** Leaves the session, and ends what `launch` started. Idempotent. */
  async close(): Promise<void> {
    this.#client?.close();
    this.#client = undefined;
    const tracer = this.#tracer;
    this.#tracer = undefined;
    await tracer?.close();
    const server = this.#server;
    this.#server = undefined;
    await server?.close();
    this.#finish();
  }

  /** Same as {@linkcode DapAdapter.close}. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/** What the editor was shown of a breakpoint (DAP's shape), to tell a change from none. */
function describe(bp: Record<string, unknown>): string {
  return JSON.stringify([(bp.source as { path?: string } | undefined)?.path, bp.line, bp.verified]);
}

/** A qdb breakpoint as DAP's. */
function toDap(bp: Breakpoint, paths: PathMapper): Record<string, unknown> {
  const out: Record<string, unknown> = {
    id: bp.id,
    verified: bp.verified ?? !bp.pending,
    line: bp.line,
  };
  if (bp.file) out.source = paths.known(bp.file);
  if (bp.message) out.message = bp.message;
  return out;
}

/** A protocol 2 value as DAP's fields. */
function toDapValue(
  v: { value: string; type: string; ref: number; named: number; indexed: number },
) {
  return {
    value: v.value,
    type: v.type,
    variablesReference: v.ref,
    namedVariables: v.named,
    indexedVariables: v.indexed,
  };
}

/** What an editor is told of a failure: the session's own words for a refused command. */
function errorText(error: unknown): string {
  if (error instanceof CommandError) return String(error.error.data);
  return error instanceof Error ? error.message : String(error);
}
