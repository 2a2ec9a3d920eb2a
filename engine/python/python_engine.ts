/**
 * The Python engine: runs a program under the qdb bridge (`qdb.py`, embedded in this module so
 * that a compiled qdb binary carries it) and relays between the bridge and the tracer.
 *
 * How a program is launched: a private temporary directory (mode 0700) holds a Unix socket; the
 * bridge is written as `qdb.py` to a per-user cache directory (see `installBridge`, so that its
 * bytecode is reused), or to the temporary directory when there is none. The
 * interpreter runs `-c BOOTSTRAP BRIDGEDIR PROGRAM ARGS...` with the
 * configuration as JSON in the `QDB_BRIDGE` environment variable (the bridge removes it before
 * the program runs). The bootstrap checks the Python version, imports the bridge and runs the
 * program as `__main__`. The bridge connects to the socket and says `hello` with a token that
 * must match; then frames (protocol/framing.ts) carry commands in and tracer events out.
 *
 * The engine never prints: the program's output, including what the bridge could not capture
 * (an interpreter error, output after a soft `disable`), arrives as `print` events.
 *
 * @example
 * ```ts ignore
 * import { pythonEngine } from "./python_engine.ts";
 * await using session = await pythonEngine.launch({ program: "app.py" });
 * for await (const event of session.events) {
 *   if (event.e === "stack") session.send({ e: "continue" });
 * }
 * ```
 * @module
 */

import source from "./qdb.py" with { type: "text" };
import inspectSource from "./qdb_inspect.py" with { type: "text" };
import threadsSource from "./qdb_threads.py" with { type: "text" };
import outputSource from "./qdb_output.py" with { type: "text" };
import reprSource from "./qdb_repr.py" with { type: "text" };
import breakpointsSource from "./qdb_breakpoints.py" with { type: "text" };
import commonSource from "./qdb_common.py" with { type: "text" };
import childrenSource from "./qdb_children.py" with { type: "text" };
import evalSource from "./qdb_eval.py" with { type: "text" };
import pauseSource from "./qdb_pause.py" with { type: "text" };
import tracingSource from "./qdb_tracing.py" with { type: "text" };
import channelSource from "./qdb_channel.py" with { type: "text" };
import codeSource from "./qdb_code.py" with { type: "text" };
import requestsSource from "./qdb_requests.py" with { type: "text" };
import programSource from "./qdb_program.py" with { type: "text" };
import commandsSource from "./qdb_commands.py" with { type: "text" };
import stopsSource from "./qdb_stops.py" with { type: "text" };
import locateSource from "./qdb_locate.py" with { type: "text" };
import hitsSource from "./qdb_hits.py" with { type: "text" };
import compileSource from "./qdb_compile.py" with { type: "text" };
import sitesSource from "./qdb_sites.py" with { type: "text" };
import monitoringSource from "./qdb_monitoring.py" with { type: "text" };
import attachSource from "./qdb_attach.py" with { type: "text" };
import type {
  AttachOptions,
  ChildEngineSession,
  Engine,
  EngineInfo,
  EngineSession,
  EngineTraits,
  ExitStatus,
  LaunchOptions,
} from "../engine.ts";
import { BridgeChannel, errorReply, type Hello, readHello } from "./bridge_channel.ts";
import { processState, PythonChildSession } from "./child_session.ts";
import {
  AttachError,
  attachMarker,
  describePythonProcess,
  injectPython,
  processStart,
} from "./inject.ts";
import type { Message } from "../../protocol/envelope.ts";
import { AsyncQueue } from "../../transport/async_queue.ts";
import { exitEvents, KILL_GRACE_MS, ProgramProcess } from "../process.ts";

/** The bridge's main module, `qdb.py` (it imports the others). */
export const PYTHON_BRIDGE_SOURCE: string = source;

/** Every file of the bridge, by name, as written into the directory it is imported from. */
export const PYTHON_BRIDGE_FILES: Readonly<Record<string, string>> = {
  "qdb.py": source,
  "qdb_inspect.py": inspectSource,
  "qdb_threads.py": threadsSource,
  "qdb_output.py": outputSource,
  "qdb_repr.py": reprSource,
  "qdb_breakpoints.py": breakpointsSource,
  "qdb_common.py": commonSource,
  "qdb_children.py": childrenSource,
  "qdb_eval.py": evalSource,
  "qdb_pause.py": pauseSource,
  "qdb_tracing.py": tracingSource,
  "qdb_channel.py": channelSource,
  "qdb_code.py": codeSource,
  "qdb_requests.py": requestsSource,
  "qdb_program.py": programSource,
  "qdb_commands.py": commandsSource,
  "qdb_stops.py": stopsSource,
  "qdb_locate.py": locateSource,
  "qdb_hits.py": hitsSource,
  "qdb_compile.py": compileSource,
  "qdb_sites.py": sitesSource,
  "qdb_monitoring.py": monitoringSource,
  "qdb_attach.py": attachSource,
};

/** Exit code of the bootstrap when the interpreter is older than 3.8. */
const TOO_OLD_EXIT = 121;

/**
 * Runs on any Python (2.7 included, hence the old syntax): checks the version, then imports the
 * bridge from the directory given as the first argument. The program's bridge gives it to the
 * Python children it follows too (qdb_children.py): a child too old for the bridge runs the
 * command line it was given (`argv` in its configuration) as if qdb were not there.
 */
const BOOTSTRAP = [
  "import sys",
  "if sys.version_info < (3, 8):",
  "    import json, os",
  "    _c = json.loads(os.environ.get('QDB_BRIDGE') or '{}')",
  "    if _c.get('argv'):",
  "        del os.environ['QDB_BRIDGE']",
  "        os.execv(sys.executable, [str(a) for a in _c['argv']])",
  "    sys.stderr.write('qdb-bridge: python too old: %d.%d.%d\\n' % tuple(sys.version_info[:3]))",
  `    sys.exit(${TOO_OLD_EXIT})`,
  "sys.path.insert(0, sys.argv.pop(1))",
  // Bytecode of the bridge goes to qdb's own directory, even under PYTHONDONTWRITEBYTECODE.
  "_b = sys.dont_write_bytecode",
  "sys.dont_write_bytecode = False",
  "import qdb",
  "sys.dont_write_bytecode = _b",
  "del sys.path[0], _b",
  "qdb._main()",
].join("\n");

/**
 * How long the bridge may take to connect and say hello before the engine says it still waits.
 * It waits on as long as the interpreter runs: a machine starting hundreds of them at once can
 * take minutes (an AbortSignal, or the interpreter's exit, ends the wait).
 */
const CONNECT_NOTICE_MS = 30_000;
/** After the program ended, how long to wait for its pipes and the channel to close. */
const DRAIN_GRACE_MS = 2_000;
/** After the program ended, how long a read of a pipe its children may share may wait. */
const SHARED_PIPE_GRACE_MS = 50;
/** Most bytes read from the held output pipes after the program died (a pipe holds 64 KiB). */
const MAX_LEFTOVER_BYTES = 1024 * 1024;
/** Between SIGTERM and SIGKILL when disposing of a running program. */

/** Options of a {@linkcode PythonEngine}. */
export interface PythonEngineOptions {
  /** While the bridge has not connected, how often `onStatus` hears so, in ms. Default 30 000. */
  connectNoticeMs?: number;
}

/** What the rest of qdb may ask of the Python engine. */
const PYTHON_TRAITS: EngineTraits = {
  handlesFile: (program) => /\.pyw?$/.test(program),
  isRuntime: (command) => /(^|\/)python[\d.]*$/.test(command),
  defaultRuntime: "python3",
  runtimeOption: { name: "python", help: "The Python interpreter (3.8 or newer)" },
  sourceMimeType: () => "text/x-python",
  libraryPatterns: async (runtime) => {
    // debugpy's "just my code": the standard library and the installed packages.
    const code = "import sysconfig, json; p = sysconfig.get_paths(); " +
      "print(json.dumps(sorted({p['stdlib'], p['platstdlib'], p['purelib'], p['platlib']})))";
    try {
      const out = await new Deno.Command(runtime ?? "python3", {
        args: ["-c", code],
        stdin: "null",
        stderr: "null",
      }).output();
      const dirs: unknown = JSON.parse(new TextDecoder().decode(out.stdout));
      return Array.isArray(dirs) ? dirs.map((dir) => `${dir}/*`) : [];
    } catch {
      return [];
    }
  },
};

/** Launches Python programs under the qdb bridge. */
export class PythonEngine implements Engine {
  /** Engine name. */
  readonly name = "python";
  /** Its programs, runtime, sources and libraries. */
  readonly traits: EngineTraits = PYTHON_TRAITS;
  readonly #noticeMs: number;

  /** An engine; `options` tune how it waits for its bridge. */
  constructor(options: PythonEngineOptions = {}) {
    this.#noticeMs = options.connectNoticeMs ?? CONNECT_NOTICE_MS;
  }

  /**
   * Starts `options.program` under the bridge; resolves once the bridge said hello. It waits
   * as long as the interpreter runs (`options.onStatus` hears it still waits, now and then).
   */
  launch(options: LaunchOptions): Promise<EngineSession> {
    return launchPython(options, this.#noticeMs);
  }

  /**
   * Attaches to a CPython 3.8+ process that runs already (see `inject.ts` and
   * `qdb_attach.py`); throws {@linkcode AttachError} saying why it cannot.
   */
  attach(options: AttachOptions): Promise<EngineSession> {
    return attachPython(options, this.#noticeMs);
  }
}

/** The Python engine. */
export const pythonEngine: PythonEngine = new PythonEngine();

function delay(ms: number): { promise: Promise<void>; cancel: () => void } {
  let id: ReturnType<typeof setTimeout> | undefined;
  const promise = new Promise<void>((resolve) => {
    id = setTimeout(resolve, ms);
  });
  return { promise, cancel: () => clearTimeout(id) };
}

/**
 * Where the bridge is imported from. Compiling it takes about 100 ms, so it lives in a per-user
 * cache directory (mode 0700) named after its content hash, where Python keeps its bytecode
 * between launches; if there is no usable cache directory, in the session's private temporary
 * directory.
 */
async function installBridge(tmp: string): Promise<string> {
  const home = Deno.env.get("HOME");
  const base = Deno.env.get("XDG_CACHE_HOME") ?? (home ? `${home}/.cache` : undefined);
  if (base) {
    try {
      const all = Object.entries(PYTHON_BRIDGE_FILES).map(([name, text]) => `${name}\0${text}`);
      const digest = await crypto.subtle.digest(
        "SHA-256",
        new TextEncoder().encode(all.join("\0")),
      );
      const hash = Array.from(new Uint8Array(digest).slice(0, 8))
        .map((b) => b.toString(16).padStart(2, "0")).join("");
      const dir = `${base}/qdb/bridge-${hash}`;
      await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
      for (const [name, text] of Object.entries(PYTHON_BRIDGE_FILES)) {
        const file = `${dir}/${name}`;
        const known = await Deno.readTextFile(file).catch(() => undefined);
        if (known === text) continue;
        // Write then rename, so that a concurrent launch never imports half a file.
        const part = `${file}.${crypto.randomUUID()}`;
        await Deno.writeTextFile(part, text, { mode: 0o600 });
        await Deno.rename(part, file);
      }
      return dir;
    } catch {
      // Read-only home or similar: fall back to the private directory.
    }
  }
  for (const [name, text] of Object.entries(PYTHON_BRIDGE_FILES)) {
    await Deno.writeTextFile(`${tmp}/${name}`, text, { mode: 0o600 });
  }
  return tmp;
}

/**
 * The code gdb (or `sys.remote_exec`) runs in the program: the bridge's directory first on the
 * path while its modules are imported, then `qdb_attach.main` (which never raises). It binds
 * nothing in the program's `__main__`.
 */
export function attachCode(bridgeDir: string, configPath: string): string {
  const code = [
    "import sys",
    `_d = ${JSON.stringify(bridgeDir)}`,
    "sys.path.insert(0, _d)",
    "try:",
    "    import qdb_attach",
    "finally:",
    "    sys.path.remove(_d)",
    `qdb_attach.main(_d, ${JSON.stringify(configPath)})`,
  ].join("\n");
  return `exec(${JSON.stringify(code)}, {})`;
}

/** How long the program may take to run the bridge once gdb has put it in. */
const ATTACH_TIMEOUT_MS = 30_000;

async function attachPython(options: AttachOptions, noticeMs: number): Promise<EngineSession> {
  const pid = options.pid;
  const info = await describePythonProcess(pid);
  if (info.qdb) {
    throw new AttachError(
      "traced",
      info.attachedBy
        ? `qdb is attached to process ${pid} already (tracer ${info.attachedBy}): detach it ` +
          "first, or attach to its session"
        : `Process ${pid} runs under qdb already (qdb started it): attach to its session`,
    );
  }
  const tmp = await Deno.makeTempDir({ prefix: "qdb-attach-" });
  let listener: Deno.UnixListener | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let notice: ReturnType<typeof setInterval> | undefined;
  const configPath = `${tmp}/config.json`;
  try {
    // Root attaching to another user's program: the program must reach the socket and read
    // the bridge, as its own user.
    const other = Deno.uid() === 0 && info.uid !== 0 ? info.uid : undefined;
    await Deno.chmod(tmp, 0o700);
    const bridgeDir = other === undefined ? await installBridge(tmp) : tmp;
    if (other !== undefined) {
      for (const [name, text] of Object.entries(PYTHON_BRIDGE_FILES)) {
        await Deno.writeTextFile(`${tmp}/${name}`, text, { mode: 0o600 });
        await Deno.chown(`${tmp}/${name}`, other, null);
      }
      await Deno.chown(tmp, other, null);
    }
    const socketPath = `${tmp}/bridge.sock`;
    listener = Deno.listen({ transport: "unix", path: socketPath });
    if (other !== undefined) await Deno.chown(socketPath, other, null);
    const token = crypto.randomUUID();
    await Deno.writeTextFile(
      configPath,
      JSON.stringify({
        channel: socketPath,
        token,
        stop_on_entry: options.stopOnEntry ?? false,
        eval_policy: options.evalPolicy ?? "full",
        eval_timeout: options.evalTimeout ?? 0,
        breakpoints: options.breakpoints ?? [],
        break_on: options.breakOn ?? "uncaught",
        skip: options.skip ?? [],
        compiled_breakpoints: options.breakpointMode !== "traced",
      }),
      { mode: 0o600 },
    );
    if (other !== undefined) await Deno.chown(configPath, other, null);
    const { queued } = await injectPython(pid, attachCode(bridgeDir, configPath), {
      ...(options.signal ? { signal: options.signal } : {}),
      scratchDir: tmp,
    });
    const started = performance.now();
    if (queued) {
      notice = setInterval(() => {
        const waited = Math.round((performance.now() - started) / 1000);
        options.onStatus?.(
          `still waiting for process ${pid} to take qdb in (${waited} s): its main thread ` +
            "runs no Python code (blocked in a C call, or in join())",
        );
      }, Math.min(noticeMs, 5_000));
    }
    const timeoutMs = options.timeoutMs ?? ATTACH_TIMEOUT_MS;
    const gone = (async () => {
      while ((await processState(pid)).running) await delay(250).promise;
      return "gone" as const;
    })();
    const outcome = await Promise.race([
      listener.accept(),
      new Promise<"timeout">((resolve) => timer = setTimeout(() => resolve("timeout"), timeoutMs)),
      gone,
      ...(options.signal
        ? [
          new Promise<"aborted">((resolve) => {
            if (options.signal!.aborted) resolve("aborted");
            options.signal!.addEventListener("abort", () => resolve("aborted"), { once: true });
          }),
        ]
        : []),
    ]);
    if (outcome === "gone") throw new AttachError("no-process", `Process ${pid} ended`);
    if (outcome === "aborted") throw new AttachError("failed", "Attaching was cancelled");
    if (outcome === "timeout") {
      throw new AttachError(
        "timeout",
        `Process ${pid} did not take qdb in within ${timeoutMs / 1000} s: its main thread ` +
          "ran no Python code and waited in no system call meanwhile (a long C call, or " +
          "join()); qdb's code is withdrawn, and the program runs on untouched",
      );
    }
    const conn = outcome;
    let hello: Hello;
    try {
      hello = await readHello(conn, token);
    } catch (error) {
      conn.close();
      throw error;
    }
    if (typeof hello.p.refused === "string") {
      conn.close();
      throw new AttachError("refused", `qdb cannot attach to process ${pid}: ${hello.p.refused}`);
    }
    // `qdb ps` shows it debugged while this session lasts.
    const marker = attachMarker(pid);
    await Deno.mkdir(marker.slice(0, marker.lastIndexOf("/")), { recursive: true, mode: 0o700 })
      .then(async () =>
        Deno.writeTextFile(
          marker,
          `${Deno.pid} ${await processStart(Deno.pid)} ${await processStart(pid)}`,
        )
      )
      .catch(() => {});
    const session = new PythonChildSession(conn, hello, {
      cwd: await Deno.readLink(`/proc/${pid}/cwd`).catch(() => "/"),
      runtime: `CPython ${info.version}`,
      attached: true,
      onEnd: () => Deno.remove(marker).catch(() => {}),
    });
    session.flow = options.flow;
    return session;
  } finally {
    clearTimeout(timer);
    clearInterval(notice);
    try {
      listener?.close();
    } catch { /* closed */ }
    // The configuration goes (a late run of qdb's code then does nothing), and the directory
    // with it: the bridge has read its modules and connected by now.
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }
}

async function launchPython(options: LaunchOptions, noticeMs: number): Promise<EngineSession> {
  const interpreter = options.interpreter ?? "python3";
  const cwd = options.cwd ?? Deno.cwd();
  const args = options.args ?? [];
  const tmp = await Deno.makeTempDir({ prefix: "qdb-" });
  const cleanup = () => Deno.remove(tmp, { recursive: true }).catch(() => {});
  let listener: Deno.UnixListener | undefined;
  let child: ProgramProcess | undefined;
  try {
    await Deno.chmod(tmp, 0o700);
    const bridgeDir = await installBridge(tmp);
    const socketPath = `${tmp}/bridge.sock`;
    listener = Deno.listen({ transport: "unix", path: socketPath });
    const token = crypto.randomUUID();
    const config = {
      channel: socketPath,
      token,
      stop_on_entry: options.stopOnEntry ?? true,
      run: options.run ?? "file",
      eval_policy: options.evalPolicy ?? "full",
      eval_timeout: options.evalTimeout ?? 0,
      breakpoints: options.breakpoints ?? [],
      break_on: options.breakOn ?? "uncaught",
      skip: options.skip ?? [],
      follow: options.followChildren ?? false,
      compiled_breakpoints: options.breakpointMode !== "traced",
      bootstrap: BOOTSTRAP,
    };
    const stdin = options.stdin ?? "inherit";
    child = ProgramProcess.spawn({
      command: interpreter,
      args: ["-c", BOOTSTRAP, bridgeDir, options.program, ...args],
      cwd,
      env: { ...options.env, QDB_BRIDGE: JSON.stringify(config) },
      stdin,
      what: `the Python interpreter "${interpreter}"`,
      missing: "install Python 3.8 or newer, or name one with --python PATH",
    });
    const session = new PythonSession(child, listener, tmp, options, cwd);
    try {
      await session.connect(interpreter, token, noticeMs);
    } catch (error) {
      await session.dispose();
      throw error;
    }
    listener = undefined;
    return session;
  } catch (error) {
    try {
      listener?.close();
    } catch { /* already closed */ }
    if (!child) await cleanup();
    throw error;
  }
}

class PythonSession implements EngineSession {
  readonly events: AsyncIterable<Message>;
  readonly exited: Promise<ExitStatus>;
  #info: EngineInfo;
  #queue = new AsyncQueue<Message>();
  #process: ProgramProcess;
  #listener: Deno.UnixListener | undefined;
  #channel: BridgeChannel | undefined;
  #runtime = "";
  /** The followed children, as they connect (undefined when not following). */
  #children: AsyncQueue<ChildEngineSession> | undefined;
  /** Children whose channel is open: the listener stays while any is, or the program runs. */
  #liveChildren = 0;
  /** Held output pipes read on after the program ended, for its children. */
  readonly #late = new Map<Deno.FsFile, Promise<void>>();
  #tmp: string;
  #stdinPiped: boolean;
  #bridgeDisabled = false;
  #channelDone: Promise<void>;
  #resolveChannelDone!: () => void;
  #pipesDone: Promise<void>;
  #disposing: Promise<void> | undefined;
  #stderrHead = "";
  /** The bridge's output pipes, held unread (undefined once read at the end). */
  #held: { input: string; file: Deno.FsFile }[] | undefined = [];
  #options: LaunchOptions;
  #abort: (() => void) | undefined;

  constructor(
    process: ProgramProcess,
    listener: Deno.UnixListener,
    tmp: string,
    options: LaunchOptions,
    cwd: string,
  ) {
    this.#process = process;
    this.#listener = listener;
    this.#tmp = tmp;
    this.#options = options;
    this.#stdinPiped = options.stdin === "piped";
    this.events = this.#queue;
    this.#info = {
      engine: "python",
      program: options.program,
      argv: [
        ...(options.run === "module" ? ["-m"] : options.run === "code" ? ["-c"] : []),
        options.program,
        ...(options.args ?? []),
      ],
      pid: process.pid,
      runtime: "",
      cwd,
      capabilities: [],
    };
    this.#channelDone = new Promise((resolve) => this.#resolveChannelDone = resolve);
    this.#pipesDone = Promise.all([
      this.#pipe(process.child.stdout, "<stdout>"),
      this.#pipe(process.child.stderr, "<stderr>"),
    ]).then(() => {});
    if (options.followChildren) this.#children = new AsyncQueue<ChildEngineSession>();
    this.exited = this.#finish();
    if (options.signal) {
      const onAbort = () => void this.dispose();
      if (options.signal.aborted) queueMicrotask(onAbort);
      else {
        options.signal.addEventListener("abort", onAbort, { once: true });
        this.#abort = () => options.signal?.removeEventListener("abort", onAbort);
      }
    }
  }

  get info(): EngineInfo {
    return this.#info;
  }

  get children(): AsyncIterable<ChildEngineSession> | undefined {
    return this.#children;
  }

  /**
   * Accepts the bridges of followed children on the program's socket: each says `hello` with
   * the launch's token and whose child it is. The socket stays open while the program runs or
   * any child's channel is open.
   */
  async #acceptChildren(listener: Deno.UnixListener, token: string): Promise<void> {
    while (true) {
      let conn: Deno.UnixConn;
      try {
        conn = await listener.accept();
      } catch {
        break; // Closed: the program and every child have ended.
      }
      this.#liveChildren++;
      void this.#adoptChild(conn, token).finally(() => {
        this.#liveChildren--;
        void this.#closeListenerWhenDone();
      });
    }
  }

  async #adoptChild(conn: Deno.UnixConn, token: string): Promise<void> {
    let hello: Hello;
    try {
      hello = await readHello(conn, token);
    } catch {
      conn.close(); // Not one of ours, or gone before it said who it is.
      return;
    }
    const child = new PythonChildSession(conn, hello, {
      cwd: this.#info.cwd,
      runtime: this.#runtime,
    });
    this.#children?.push(child);
    await child.exited;
  }

  /**
   * Once the program has ended and no child's channel is open, the socket goes; the children
   * end once what they printed last is read (their pipes' ends, with a grace for a process
   * that is no child of ours and keeps one open).
   */
  async #closeListenerWhenDone(): Promise<void> {
    if (this.#process.running || this.#liveChildren > 0 || !this.#queue.ended || !this.#listener) {
      return;
    }
    try {
      this.#listener.close();
    } catch { /* already closed */ }
    this.#listener = undefined;
    const grace = delay(DRAIN_GRACE_MS);
    await Promise.race([Promise.all(this.#late.values()), grace.promise]);
    grace.cancel();
    this.#children?.end();
    void Deno.remove(this.#tmp, { recursive: true }).catch(() => {});
  }

  /**
   * Waits for the bridge's connection and its hello, as long as the interpreter runs; says so
   * (`onStatus`) every `noticeMs` while it waits.
   */
  async connect(interpreter: string, token: string, noticeMs: number): Promise<void> {
    const listener = this.#listener!;
    const started = performance.now();
    const notice = setInterval(() => {
      const waited = Math.round((performance.now() - started) / 1000);
      this.#options.onStatus?.(
        `still waiting for the Python bridge to connect (${interpreter}, pid ${this.#process.pid}, ` +
          `${waited} s): the machine may be busy starting programs`,
      );
    }, noticeMs);
    const exitedEarly = this.#process.status.then(async (status) => {
      await Promise.race([this.#pipesDone, delay(500).promise]);
      return status;
    });
    try {
      const first = await Promise.race([
        listener.accept().then((conn) => ({ conn })),
        exitedEarly.then((status) => ({ status })),
      ]);
      if ("status" in first) throw this.#earlyExitError(interpreter, first.status);
      const conn = first.conn;
      const hello = await readHello(conn, token).catch((error) => {
        conn.close();
        throw error;
      });
      const p = hello.p;
      this.#info = {
        ...this.#info,
        pid: typeof p.pid === "number" ? p.pid : this.#info.pid,
        runtime: typeof p.runtime === "string" ? p.runtime : "",
        capabilities: [
          ...(Array.isArray(p.capabilities) ? p.capabilities.map(String) : []),
          ...(this.#stdinPiped ? ["input"] : []),
        ],
      };
      this.#runtime = this.#info.runtime;
      const flow = this.#options.flow;
      this.#channel = new BridgeChannel(conn, hello, {
        onMessage: (msg) => this.#fromBridge(msg),
        ...(flow ? { flow: () => this.#process.running ? () => this.#flow(flow) : undefined } : {}),
      });
      this.#channel.closed.then(() => this.#resolveChannelDone());
      for (const msg of hello.pending) this.#fromBridge(msg);
      if (this.#children) void this.#acceptChildren(listener, token);
      else {
        listener.close();
        this.#listener = undefined;
      }
    } finally {
      clearInterval(notice);
    }
  }

  #earlyExitError(interpreter: string, status: ExitStatus): Error {
    const old = /qdb-bridge: python too old: (\S+)/.exec(this.#stderrHead);
    if (status.code === TOO_OLD_EXIT && old) {
      return new Error(`qdb needs Python 3.8 or newer; ${interpreter} is ${old[1]}`);
    }
    const how = status.signal ? `signal ${status.signal}` : `code ${status.code}`;
    const said = this.#stderrHead.trim();
    if (said.includes("sys.dont_write_bytecode")) {
      // It was given the bootstrap as an argument and complained about it: not a python.
      return new Error(
        `${interpreter} is not a Python interpreter (it exited with ${how}); use --python PATH ` +
          "to a python3",
      );
    }
    return new Error(
      `${interpreter} exited (${how}) before the qdb bridge connected${said ? `: ${said}` : ""}`,
    );
  }

  /**
   * Waits for the consumer (the `flow` option) while the program runs. Once it has ended, what
   * is left in its pipes (a pipe's buffer at most) is read at once, so that the end of the
   * session is not held, nor its last output dropped, behind a slow reader.
   */
  async #flow(flow: () => Promise<void>): Promise<void> {
    if (!this.#process.running) return;
    await Promise.race([flow(), this.#process.status]);
  }

  #fromBridge(msg: Message): void {
    if (msg.e === "hello") return;
    if (msg.e === "capture") {
      // The bridge waits (a little) for this answer before the program runs.
      void this.#holdCapturePipes(msg.p).finally(() => this.send({ e: "captured" }));
      return;
    }
    if (msg.e === "disabled") this.#bridgeDisabled = true;
    this.#queue.push(msg);
  }

  /**
   * Opens the reading ends of the bridge's output pipes through /proc (Linux), and keeps them
   * unread: if the program dies before its forwarder read everything (killed, crashed, or
   * `os._exit` in a thread), the rest is read from here once it is gone.
   */
  async #holdCapturePipes(p: unknown): Promise<void> {
    if (Deno.build.os !== "linux") return; // No /proc: os._exit is still covered in the bridge.
    const { pid, fds } = (p ?? {}) as { pid?: unknown; fds?: Record<string, unknown> };
    if (typeof pid !== "number" || typeof fds !== "object" || fds === null) return;
    for (const [input, fd] of Object.entries(fds)) {
      if (typeof fd !== "number" || (input !== "<stdout>" && input !== "<stderr>")) continue;
      try {
        const file = await Deno.open(`/proc/${pid}/fd/${fd}`, { read: true });
        if (this.#held === undefined) file.close(); // Finished already.
        else this.#held.push({ input, file });
      } catch {
        // Gone already, or /proc refuses: the forwarder's reads are all there is.
      }
    }
  }

  /**
   * What the held pipes still hold, as print events (each read bounded by the grace). When
   * following children, a pipe that is still open after that is read on to its end (see
   * {@linkcode LaunchOptions.onLateOutput}): a child that shares it, even one that has not
   * connected yet, printing after the program ended must not die of a broken pipe.
   */
  async #readHeldPipes(): Promise<void> {
    const held = this.#held ?? [];
    this.#held = undefined;
    for (const { input, file } of held) {
      const decoder = new TextDecoder();
      const buffer = new Uint8Array(65536);
      let total = 0;
      let pending: Promise<number | null> | undefined;
      let open = true;
      try {
        while (total < MAX_LEFTOVER_BYTES) {
          // Children that share the pipe keep it open: what is in it comes at once, and the
          // rest is theirs, read on below.
          const grace = delay(this.#children ? SHARED_PIPE_GRACE_MS : DRAIN_GRACE_MS);
          pending ??= file.read(buffer);
          const n = await Promise.race([pending, grace.promise.then(() => "late" as const)]);
          grace.cancel();
          if (n === "late") break;
          pending = undefined;
          if (n === null) {
            open = false;
            break;
          }
          total += n;
          const output = decoder.decode(buffer.subarray(0, n), { stream: true });
          if (output) this.#queue.push({ e: "print", p: { input, exc: false, output } });
        }
        const tail = decoder.decode();
        if (tail) this.#queue.push({ e: "print", p: { input, exc: false, output: tail } });
      } catch {
        open = false; // Nothing more to read.
      }
      if (open && this.#children) {
        this.#late.set(file, this.#readLate(input, file, buffer, pending));
        continue;
      }
      try {
        file.close();
      } catch { /* already closed */ }
    }
  }

  /** Reads a held pipe on after the program ended, to its end (or until the session is disposed). */
  async #readLate(
    input: string,
    file: Deno.FsFile,
    buffer: Uint8Array,
    pending: Promise<number | null> | undefined,
  ): Promise<void> {
    const stream = input === "<stderr>" ? "stderr" : "stdout";
    const decoder = new TextDecoder();
    try {
      while (true) {
        const n = await (pending ?? file.read(buffer));
        pending = undefined;
        if (n === null) break;
        const text = decoder.decode(buffer.subarray(0, n), { stream: true });
        if (text) this.#options.onLateOutput?.(stream, text);
      }
    } catch {
      // Closed at dispose.
    } finally {
      this.#late.delete(file);
      try {
        file.close();
      } catch { /* already closed */ }
    }
  }

  async #pipe(stream: ReadableStream<Uint8Array>, input: string): Promise<void> {
    const decoder = new TextDecoder();
    try {
      const flow = this.#options.flow;
      for await (const chunk of stream) {
        const output = decoder.decode(chunk, { stream: true });
        if (input === "<stderr>" && this.#stderrHead.length < 65536) this.#stderrHead += output;
        if (output) this.#queue.push({ e: "print", p: { input, exc: false, output } });
        if (flow) await this.#flow(flow);
      }
      const tail = decoder.decode();
      if (tail) this.#queue.push({ e: "print", p: { input, exc: false, output: tail } });
    } catch {
      // Cancelled at dispose.
    }
  }

  async #finish(): Promise<ExitStatus> {
    const exit = await this.#process.status;
    // The last events and output may still be in flight: wait for the channel and the pipes to
    // close (a grandchild holding a pipe open must not keep us waiting forever).
    const grace = delay(DRAIN_GRACE_MS);
    await Promise.race([Promise.all([this.#channelDone, this.#pipesDone]), grace.promise]);
    grace.cancel();
    await this.#readHeldPipes();
    const [exited, disabled] = exitEvents(exit);
    this.#queue.push(exited!);
    if (!this.#bridgeDisabled) this.#queue.push(disabled!);
    this.#queue.end();
    this.#abort?.();
    this.#channel?.close();
    if (this.#children) void this.#closeListenerWhenDone();
    else {
      try {
        this.#listener?.close();
      } catch { /* already closed */ }
      await Deno.remove(this.#tmp, { recursive: true }).catch(() => {});
    }
    return exit;
  }

  send(command: Message): void {
    if (this.#queue.ended) return;
    if (command.e === "input") {
      void this.#input(command);
      return;
    }
    if (!this.#channel || this.#bridgeDisabled) {
      this.#reply(command, "tracer", "qdb is no longer attached to the program");
      return;
    }
    this.#channel.send(command, (type, data) => this.#reply(command, type, data));
  }

  #reply(command: Message, type: string, data: string): void {
    this.#queue.push(errorReply(command, type, data));
  }

  async #input(command: Message): Promise<void> {
    const refused = await this.#process.input(command.p);
    if (refused) this.#reply(command, refused.type, refused.data);
  }

  dispose(): Promise<void> {
    this.#disposing ??= this.#dispose();
    return this.#disposing;
  }

  async #dispose(): Promise<void> {
    await this.#process.stop(KILL_GRACE_MS).catch(() => {});
    await this.exited.catch(() => {});
    // Pipes read on for children: nobody reads them after this.
    for (const file of this.#late.keys()) {
      try {
        file.close();
      } catch { /* already closed */ }
    }
  }

  /**
   * Sends `signal` to the program's process group (the program and its subprocesses, as a
   * terminal would); ignored once it has ended.
   */
  kill(signal: Deno.Signal): void {
    this.#process.kill(signal);
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.dispose();
  }

  /** The launch options (for diagnostics). */
  get options(): LaunchOptions {
    return this.#options;
  }
}
