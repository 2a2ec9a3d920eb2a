/**
 * The engine interface's requests for a JavaScript program, answered through the V8
 * inspector: threads, stack_trace, scopes, variables (paged), evaluate (with the REPL's echo),
 * set_variable, completions, source, find_source, exception_info, watch and the breakpoint
 * requests. Frame ids and references are numbers handed out at a stop, valid until the program
 * resumes.
 *
 * @module
 */

import type { CdpClient } from "./cdp.ts";
import { fileUrl, type JsBreakpoints } from "./breakpoints.ts";
import { References, type RemoteObject, repr, toValue } from "./values.ts";
import {
  type CallFrame,
  evaluated,
  type pausedEvent,
  properties,
  read,
  scriptParsed,
  scriptSource,
} from "./cdp_types.ts";
import { pathOrUrl, readSourceMap, SourceMap } from "./sourcemap.ts";
import {
  array,
  boolean,
  type Infer,
  integer,
  loose,
  nullable,
  string,
  updateBreak,
  type Value,
} from "../../protocol/mod.ts";

/**
 * The core's `set_breakpoint` arguments: `set_break`'s fields and the core's id (the engine
 * interface, engine/engine.ts); what is not given defaults here.
 */
const SET_BREAKPOINT_ARGS = loose({
  breakpoint: loose({ id: integer({ min: 1 }) }, {
    file: nullable(string()),
    line: integer({ min: 0 }),
    func: nullable(string()),
    cond: nullable(string()),
    hit_condition: nullable(string()),
    log: nullable(string()),
    temp: boolean(),
    enabled: boolean(),
    ignore: integer({ min: 0 }),
    snapshot: boolean(),
    max: integer({ min: 1 }),
    rule: string(),
  }),
}, { adjust: boolean() });

/** The core's `remove_breakpoints` arguments. */
const REMOVE_BREAKPOINTS_ARGS = loose({ ids: array(integer()) });

/** A request the engine refuses: an error of `type` for the client. */
export class RequestFailed extends Error {
  /** The protocol error type and the sentence. */
  constructor(readonly type: string, message: string) {
    super(message);
    this.name = "RequestFailed";
  }
}

/** V8's `Debugger.paused`, and what qdb made of it. */
export type Paused = Infer<typeof pausedEvent> & { qdbReason?: string; qdbBreakpoint?: number };

/** What the requests need of their session. */
export interface RequestContext {
  cdp: () => CdpClient | undefined;
  paused: () => Paused | undefined;
  program: string;
  cwd: string;
  policyNone: boolean;
  /** How long an evaluation may run, in ms (0: no limit). */
  evalTimeoutMs: number;
  breakpoints: JsBreakpoints;
}

const MAX_PAGE = 1000;
const REFUSED = 'Eval policy "none" refuses to run code';

async function sha256(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** The requests of one JavaScript session. */
export class JsRequests {
  readonly #ctx: RequestContext;
  readonly #refs = new References();
  /** Frame ids: a number per call frame id, at this stop. */
  #frames = new Map<number, CallFrame>();
  #nextFrame = 1;
  /** Scripts V8 loaded: id -> path; and the sources read so far. */
  readonly #scripts = new Map<string, string>();
  readonly #sources = new Map<string, string>();
  /** The source maps of scripts that have one (TypeScript): by script id. */
  readonly #maps = new Map<string, SourceMap>();
  /** The original texts of mapped sources, by path. */
  readonly #originals = new Map<string, string>();
  /** The runtime's own globals, found before the program ran: not shown as its globals. */
  #builtins = new Set<string>();

  constructor(ctx: RequestContext) {
    this.#ctx = ctx;
  }

  /** Learns the runtime's own global names (before the program runs). */
  async learnBuiltins(): Promise<void> {
    const answer = await this.#cdp().send("Runtime.evaluate", {
      expression: "Object.getOwnPropertyNames(globalThis)",
      returnByValue: true,
    }).catch(() => undefined);
    const names = read(evaluated, answer, "Runtime.evaluate")?.result.value;
    if (Array.isArray(names)) this.#builtins = new Set(names.map(String));
  }

  /** A function's parameter names, from its source (simple names; none when unclear). */
  async #params(frame: CallFrame): Promise<string[]> {
    const at = frame.functionLocation;
    if (!at) return [];
    const text = await this.#source(at.scriptId).catch(() => "");
    const lines = text.split("\n");
    const from = (lines.slice(0, at.lineNumber).join("\n").length + (at.lineNumber > 0 ? 1 : 0)) +
      (at.columnNumber ?? 0);
    const head = text.slice(from, from + 2000);
    const m = /^\s*(?:async\s+)?(?:function\s*\*?\s*[\w$]*\s*|[\w$]+\s*)?\(([^)]*)\)/.exec(head) ??
      /^\s*(?:async\s+)?([\w$]+)\s*=>/.exec(head);
    if (!m) return [];
    return m[1]!.split(",").map((p) => p.trim().replace(/^\.\.\./, "").replace(/\s*=[\s\S]*$/, ""))
      .filter((p) => /^[\w$]+$/.test(p));
  }

  /** The program resumed: frame ids and references go. */
  resumed(): void {
    this.#frames.clear();
    this.#refs.reset();
    this.#globalRefs.clear();
  }

  /**
   * V8 loaded a script; with a source map, resolves with the original sources it maps (whose
   * breakpoints are then placed again, by their own lines).
   */
  async scriptParsed(event: Record<string, unknown>): Promise<string[]> {
    const params = read(scriptParsed, event, "Debugger.scriptParsed");
    const url = params?.url ?? "";
    if (!params || !url) return [];
    const scriptId = params.scriptId;
    this.#scripts.set(scriptId, pathOrUrl(url));
    const mapUrl = params.sourceMapURL ?? "";
    if (!mapUrl) return [];
    const json = await readSourceMap(mapUrl, url);
    if (json === undefined) return [];
    try {
      const map = new SourceMap(json, url);
      this.#maps.set(scriptId, map);
      map.sources.forEach((path, i) => {
        const text = map.contents[i];
        if (typeof text === "string") this.#originals.set(path, text);
      });
      return map.sources;
    } catch {
      return []; // A map that does not decode: the script's own lines.
    }
  }

  /** Where a generated place of a script is in its original source (itself without a map). */
  original(scriptId: string, line: number): { path: string; line: number } {
    const mapped = this.#maps.get(scriptId)?.original(line);
    return mapped ?? { path: this.#scripts.get(scriptId) ?? "", line };
  }

  /**
   * Where to place a breakpoint for an original file's line: the URL of the script that holds
   * it and its line there (a TypeScript file's line in the code V8 runs).
   */
  generated(path: string, line: number): { url: string; line: number; scriptId?: string } {
    for (const [scriptId, map] of this.#maps) {
      const at = map.generated(path, line);
      if (at !== undefined) {
        return { url: fileUrl(this.#scripts.get(scriptId)!), line: at, scriptId };
      }
    }
    return { url: fileUrl(path), line };
  }

  /** A mapped source's text (the map's copy, or the file). */
  async #original(path: string): Promise<string | undefined> {
    const known = this.#originals.get(path);
    if (known !== undefined) return known;
    const text = await Deno.readTextFile(path).catch(() => undefined);
    if (text !== undefined) this.#originals.set(path, text);
    return text;
  }

  #mapped(path: string): boolean {
    return [...this.#maps.values()].some((map) => map.sources.includes(path));
  }

  /** A file name as the user gave it, resolved as breakpoints name files; null if none. */
  resolve(name: string): string | null {
    const candidates = name.startsWith("/")
      ? [name]
      : [`${this.#ctx.cwd}/${name}`, `${this.#ctx.program.replace(/\/[^/]*$/, "")}/${name}`];
    for (const path of candidates) {
      try {
        if (Deno.statSync(path).isFile) return Deno.realPathSync(path);
      } catch {
        // Not this one.
      }
    }
    return null;
  }

  #cdp(): CdpClient {
    const cdp = this.#ctx.cdp();
    if (!cdp) throw new RequestFailed("tracer", "The inspector is not connected");
    return cdp;
  }

  #stopped(what: string): Paused {
    const paused = this.#ctx.paused();
    if (!paused) {
      throw new RequestFailed(
        "running",
        `${what} needs a stopped program, and it is running ` +
          "(send pause first)",
      );
    }
    return paused;
  }

  /** The frames of a pause that are the program's: the runtime's own (`node:`) are hidden. */
  #visible(paused: Paused): CallFrame[] {
    const mine = paused.callFrames.filter((f) =>
      !/^(node|ext):/.test(f.url || this.#scripts.get(f.location.scriptId) || "")
    );
    return mine.length > 0 ? mine : paused.callFrames;
  }

  #frameIds(paused: Paused): number[] {
    return this.#visible(paused).map((frame) => {
      for (const [id, known] of this.#frames) {
        if (known.callFrameId === frame.callFrameId) return id;
      }
      const id = this.#nextFrame++;
      this.#frames.set(id, frame);
      return id;
    });
  }

  #frame(id: unknown, what: string): CallFrame {
    const paused = this.#stopped(what);
    if (id === undefined) return this.#visible(paused)[0]!;
    this.#frameIds(paused);
    const frame = this.#frames.get(Number(id));
    if (!frame) {
      throw new RequestFailed(
        "reference",
        `No frame ${id} at this stop (frame ids last until ` +
          "the program resumes; ask stack_trace for new ones)",
      );
    }
    return frame;
  }

  async #source(scriptId: string): Promise<string> {
    const known = this.#sources.get(scriptId);
    if (known !== undefined) return known;
    const answer = await this.#cdp().send("Debugger.getScriptSource", { scriptId });
    const text = read(scriptSource, answer, "Debugger.getScriptSource")?.scriptSource ?? "";
    this.#sources.set(scriptId, text);
    return text;
  }

  /** Answers one request. @throws {RequestFailed} with the protocol's error type. */
  async answer(command: string, args: Record<string, unknown>): Promise<unknown> {
    switch (command) {
      case "threads": {
        const state = this.#ctx.paused() ? "stopped" : "running";
        return { threads: [{ id: 1, name: "MainThread", state }] };
      }
      case "stack_trace":
        return await this.#stackTrace(args);
      case "scopes":
        return await this.#scopes(args);
      case "variables":
        return await this.#variables(args);
      case "evaluate":
        return await this.#evaluate(args);
      case "watch":
        return { values: await this.watch((args.exprs as string[]) ?? [], args.frame) };
      case "set_variable":
        return await this.#setVariable(args);
      case "completions":
        return { matches: await this.#completions(String(args.text ?? ""), args.frame) };
      case "source":
        return await this.#sourceOf(String(args.path));
      case "find_source":
        return { paths: this.#find(String(args.tail)) };
      case "exception_info":
        return this.#exceptionInfo();
      case "locate": {
        const file = args.file === undefined || args.file === null ? undefined : String(args.file);
        return {
          path: file === undefined ? this.#ctx.program : this.resolve(file),
          name: file ?? this.#ctx.program,
        };
      }
      case "set_breakpoint": {
        // `set_break`'s fields and the core's id: the rest defaults here.
        const { breakpoint: bp } = SET_BREAKPOINT_ARGS.check(args, "args");
        const file = bp.file ? this.resolve(bp.file) : this.#ctx.program;
        if (!bp.func && !file) {
          throw new RequestFailed(
            "set_break",
            `Cannot set a breakpoint in ${bp.file}: no such file`,
          );
        }
        if (file && !bp.func) await this.#checkLine(file, bp.line ?? 0, bp.file ?? file);
        const placed = await this.#ctx.breakpoints.set({
          temp: false,
          cond: null,
          func: null,
          enabled: true,
          ignore: 0,
          hits: 0,
          ...bp,
          file: file ?? "",
          line: bp.line ?? 0,
        });
        return { breakpoint: placed };
      }
      case "update_breakpoint":
        return {
          breakpoint: await this.#ctx.breakpoints.update(updateBreak.check(args, "args")),
        };
      case "remove_breakpoints":
        await this.#ctx.breakpoints.remove(REMOVE_BREAKPOINTS_ARGS.check(args, "args").ids);
        return {};
      case "jump":
        throw new RequestFailed("jump", "V8 cannot move a frame to another line: jump is pdb's");
    }
    throw new RequestFailed("event", `Unknown request ${command}`);
  }

  /** A line past the end of its file is refused (V8 would keep it pending for ever). */
  async #checkLine(path: string, line: number, name: string): Promise<void> {
    // The file as its author wrote it (a TypeScript file's own lines), else what V8 loaded.
    let text = await Deno.readTextFile(path).catch(() => undefined);
    for (const [scriptId, known] of this.#scripts) {
      if (text === undefined && known === path) {
        text = await this.#source(scriptId).catch(() => undefined);
      }
    }
    if (text === undefined) return;
    const lines = text.split("\n").length - (text.endsWith("\n") ? 1 : 0);
    if (line < 1 || line > lines) {
      throw new RequestFailed(
        "set_break",
        `Cannot set a breakpoint at "${name}:${line}": the file has ${lines} lines`,
      );
    }
  }

  async #stackTrace(args: Record<string, unknown>) {
    if (args.thread !== 1) {
      throw new RequestFailed("thread", `No thread ${args.thread} in the program`);
    }
    const paused = this.#stopped("stack_trace");
    const ids = this.#frameIds(paused);
    const start = Number(args.start ?? 0);
    const levels = Math.min(Number(args.levels ?? MAX_PAGE), MAX_PAGE);
    const frames = [];
    const visible = this.#visible(paused);
    for (const [i, frame] of visible.slice(start, start + levels).entries()) {
      const scriptId = frame.location.scriptId;
      // A TypeScript frame is shown by its own file and line (through the source map).
      const place = this.#maps.has(scriptId)
        ? this.original(scriptId, frame.location.lineNumber + 1)
        : {
          path: pathOrUrl(frame.url || this.#scripts.get(scriptId) || ""),
          line: frame.location.lineNumber + 1,
        };
      const text = this.#maps.has(scriptId)
        ? await this.#original(place.path) ?? ""
        : await this.#source(scriptId).catch(() => "");
      frames.push({
        id: ids[start + i]!,
        func: frame.functionName || "<module>",
        file: place.path,
        line: place.line,
        code: (text.split("\n")[place.line - 1] ?? "").replace(/\r$/, ""),
      });
    }
    return { frames, total: visible.length };
  }

  async #scopes(args: Record<string, unknown>) {
    const frame = this.#frame(args.frame, "scopes");
    const scopes = [];
    for (const scope of frame.scopeChain) {
      if (!scope.object.objectId) continue;
      const kind = scope.type === "global" || scope.type === "script" || scope.type === "module"
        ? "globals"
        : scope.type === "closure"
        ? "closure"
        : "locals";
      const named = (await this.#properties(scope.object.objectId, kind === "globals")).length;
      const name = scope.type[0]!.toUpperCase() + scope.type.slice(1);
      const ref = this.#refs.ref(scope.object.objectId);
      if (scope.type === "global") this.#globalRefs.add(ref);
      const entry: Record<string, unknown> = { name, kind, ref, named };
      if (scope.type === "local") entry.args = await this.#params(frame);
      scopes.push(entry);
    }
    return { scopes };
  }

  /** The references of global objects: their variables leave out the runtime's own. */
  readonly #globalRefs = new Set<number>();

  async #properties(
    objectId: string,
    program = false,
  ): Promise<{ name: string; value: RemoteObject }[]> {
    const answer = await this.#cdp().send("Runtime.getProperties", {
      objectId,
      ownProperties: true,
      generatePreview: true,
    });
    const props = read(properties, answer, "Runtime.getProperties")?.result ?? [];
    return props.filter((p) =>
      p.value !== undefined && p.name !== "__proto__" &&
      !(program && (this.#builtins.has(p.name) || p.name.startsWith("Symbol(")))
    ).map((p) => ({ name: p.name, value: p.value! }));
  }

  async #variables(args: Record<string, unknown>) {
    this.#stopped("variables");
    const objectId = this.#refs.objectId(Number(args.ref));
    if (!objectId) {
      throw new RequestFailed(
        "reference",
        `No variables reference ${args.ref} at this stop ` +
          "(references last until the program resumes)",
      );
    }
    const all = await this.#properties(objectId, this.#globalRefs.has(Number(args.ref)));
    const indexed = all.filter((p) => /^\d+$/.test(p.name));
    const named = all.filter((p) => !/^\d+$/.test(p.name) && p.name !== "length");
    const which = args.filter === "indexed" ? indexed : args.filter === "named" ? named : [
      ...named,
      ...indexed,
    ];
    const start = Number(args.start ?? 0);
    const count = Math.min(Number(args.count ?? MAX_PAGE), MAX_PAGE);
    return {
      variables: which.slice(start, start + count).map((p) => ({
        name: /^\d+$/.test(p.name) ? `[${p.name}]` : p.name,
        ...toValue(p.value, this.#refs),
      })),
    };
  }

  /** Evaluates in a frame: the value, or the exception's text. */
  async #run(expr: string, frameId: unknown, what: string): Promise<RemoteObject> {
    if (this.#ctx.policyNone) throw new RequestFailed("policy", REFUSED);
    const frame = this.#frame(frameId, what);
    const answer = await this.#cdp().send("Debugger.evaluateOnCallFrame", {
      callFrameId: frame.callFrameId,
      expression: expr,
      generatePreview: true,
      // V8 ends an evaluation that runs too long (`--eval-timeout`), as the Python engine does.
      ...(this.#ctx.evalTimeoutMs > 0 ? { timeout: this.#ctx.evalTimeoutMs } : {}),
    }).catch((error) => {
      const text = String(error instanceof Error ? error.message : error);
      throw new RequestFailed(
        "eval",
        /Execution was terminated/.test(text)
          ? `The code ran longer than ${this.#ctx.evalTimeoutMs / 1000} s (--eval-timeout) ` +
            "and was stopped"
          : text,
      );
    });
    const checked = read(evaluated, answer, "Debugger.evaluateOnCallFrame");
    if (!checked) {
      throw new RequestFailed("internal", "The runtime's answer to an evaluation is not valid");
    }
    const details = checked.exceptionDetails;
    if (details) {
      const text = details.exception?.description?.split("\n")[0] ?? details.text ?? "Error";
      throw new RequestFailed("eval", text.replace(/^Uncaught /, ""));
    }
    return checked.result;
  }

  async #evaluate(
    args: Record<string, unknown>,
  ): Promise<Value & { display?: string; raised?: boolean }> {
    const echo = args.echo as "repl" | "repr" | "pretty" | undefined;
    let obj: RemoteObject;
    try {
      obj = await this.#run(String(args.expr), args.frame, "evaluate");
    } catch (error) {
      if (!echo || !(error instanceof RequestFailed) || error.type !== "eval") throw error;
      return {
        value: "undefined",
        type: "undefined",
        ref: 0,
        named: 0,
        indexed: 0,
        raised: true,
        display: error.message,
      };
    }
    const value = toValue(obj, this.#refs);
    if (!echo || (echo === "repl" && obj.type === "undefined")) return value;
    let display = repr(obj);
    if (echo === "pretty" && obj.objectId) {
      const pretty = await this.#cdp().send("Runtime.callFunctionOn", {
        objectId: obj.objectId,
        functionDeclaration: "function () { return JSON.stringify(this, null, 2); }",
        returnByValue: true,
      }).catch(() => undefined);
      const text = read(evaluated, pretty, "Runtime.callFunctionOn")?.result.value;
      if (typeof text === "string") display = text;
    }
    return { ...value, display };
  }

  /** Watched expressions in a frame (the top one by default): a value or an exception each. */
  async watch(exprs: string[], frame?: unknown): Promise<{ exc: boolean; value: string }[]> {
    const out = [];
    for (const expr of exprs) {
      try {
        out.push({ exc: false, value: repr(await this.#run(expr, frame, "watch")) });
      } catch (error) {
        out.push({ exc: true, value: error instanceof Error ? error.message : String(error) });
      }
    }
    return out;
  }

  /** A logpoint's message, its `{expression}` parts evaluated in the top frame. */
  async logMessage(message: string): Promise<string> {
    const parts = message.split(/(\{\{|\}\}|\{[^{}]*\})/);
    let out = "";
    for (const part of parts) {
      if (part === "{{") out += "{";
      else if (part === "}}") out += "}";
      else if (/^\{[^{}]*\}$/.test(part)) {
        try {
          out += repr(await this.#run(part.slice(1, -1), undefined, "log")).replace(
            /^"(.*)"$/,
            "$1",
          );
        } catch (error) {
          out += `<${error instanceof Error ? error.message : error}>`;
        }
      } else out += part;
    }
    return out;
  }

  async #setVariable(args: Record<string, unknown>) {
    const value = await this.#run(String(args.value), args.frame, "set_variable");
    const objectId = this.#refs.objectId(Number(args.ref));
    if (!objectId) throw new RequestFailed("reference", `No variables reference ${args.ref}`);
    const paused = this.#stopped("set_variable");
    const name = String(args.name);
    const newValue = value.objectId
      ? { objectId: value.objectId }
      : value.unserializableValue
      ? { unserializableValue: value.unserializableValue }
      : { value: value.value };
    for (const frame of paused.callFrames) {
      const scopeNumber = frame.scopeChain.findIndex((s) => s.object.objectId === objectId);
      if (scopeNumber >= 0) {
        await this.#cdp().send("Debugger.setVariableValue", {
          scopeNumber,
          variableName: name,
          newValue,
          callFrameId: frame.callFrameId,
        });
        return toValue(value, this.#refs);
      }
    }
    await this.#cdp().send("Runtime.callFunctionOn", {
      objectId,
      functionDeclaration: "function (k, v) { this[k] = v; }",
      arguments: [{ value: name.replace(/^\[(\d+)\]$/, "$1") }, newValue],
    });
    return toValue(value, this.#refs);
  }

  async #completions(text: string, frameId: unknown): Promise<string[]> {
    if (!this.#ctx.paused()) return [];
    const dot = text.lastIndexOf(".");
    const names = new Set<string>();
    if (dot >= 0) {
      if (this.#ctx.policyNone) return [];
      const obj = await this.#run(text.slice(0, dot), frameId, "complete").catch(() => undefined);
      if (obj?.objectId) {
        for (const p of await this.#properties(obj.objectId)) names.add(p.name);
      }
      const word = text.slice(dot + 1);
      return [...names].filter((n) => n.startsWith(word)).sort().map((n) =>
        text.slice(0, dot + 1) + n
      );
    }
    const frame = this.#frame(frameId, "complete");
    for (const scope of frame.scopeChain) {
      if (scope.type === "global" || !scope.object.objectId) continue;
      for (const p of await this.#properties(scope.object.objectId)) names.add(p.name);
    }
    return [...names].filter((n) => n.startsWith(text)).sort().slice(0, 1000);
  }

  async #sourceOf(path: string) {
    if (this.#mapped(path)) {
      const text = await this.#original(path);
      if (text !== undefined) return { path, text, hash: `sha256:${await sha256(text)}` };
    }
    for (const [scriptId, known] of this.#scripts) {
      if (known === path) {
        const text = await this.#source(scriptId);
        return { path, text, hash: `sha256:${await sha256(text)}` };
      }
    }
    throw new RequestFailed("source", `Cannot read ${path}: no such file of the program's code`);
  }

  #find(tail: string): string[] {
    const end = `/${tail.replace(/^\/+/, "")}`;
    const all = [...this.#scripts.values(), ...[...this.#maps.values()].flatMap((m) => m.sources)];
    return [...new Set(all)].filter((p) => p.endsWith(end)).sort().slice(0, 100);
  }

  /** The `exception` event of a pause on an exception. */
  exceptionPayload(paused: Paused): Record<string, unknown> {
    const data = paused.data ?? {};
    const text = data.description ?? repr({ ...data, type: data.type ?? "object" });
    return {
      type: data.className ?? data.type ?? "Error",
      value: text.split("\n")[0]!.replace(/^\w*Error: /, ""),
      traceback: text,
      uncaught: data.uncaught === true,
      thread: { id: 1, name: "MainThread" },
    };
  }

  #exceptionInfo() {
    const paused = this.#stopped("exception_info");
    if (paused.qdbReason !== "exception") {
      throw new RequestFailed("thread", `Thread 1 did not stop on an exception`);
    }
    const p = this.exceptionPayload(paused);
    const data = paused.data;
    return {
      type: String(p.type),
      message: String(p.value),
      traceback: String(p.traceback),
      uncaught: p.uncaught === true,
      ref: data?.objectId ? this.#refs.ref(data.objectId) : 0,
    };
  }
}

export { fileUrl };
