/**
 * Running code in a Python process that is already running (issue 29, its first part): what a
 * process is (`describePythonProcess`), which ones this user may attach to (`listPythonProcesses`,
 * for `qdb ps`), and `injectPython`, which runs a piece of Python source in the process's main
 * thread through gdb, as debugpy, pyrasite and memray do on CPython 3.8-3.13; on 3.14+ through
 * `sys.remote_exec` (PEP 768; untested: no 3.14 on the machines qdb is tested on).
 *
 * How the code runs, and why: gdb stops the process, and looks at its main thread: which system
 * call it was in (`/proc/PID/task/PID/syscall`), and whether it holds the GIL (`PyGILState_Check`).
 * - It waits in the kernel for something other than a lock (`time.sleep`, `input()`, a socket),
 *   without the GIL: the code runs at once, in that thread, with `PyGILState_Ensure` (gdb lets the
 *   other threads run meanwhile, so one that holds the GIL gives it up).
 * - Otherwise (it runs code, maybe in the middle of the allocator or of the GIL's own code, or it
 *   waits on a lock, maybe the GIL): calling into Python there could break what it was doing, so
 *   the code is queued with `Py_AddPendingCall`, which the interpreter runs in the main thread at
 *   its next safe point (between two instructions of the program's code). A main thread that
 *   waits on a lock for long (`join()`) runs it when it gets the lock.
 * gdb then detaches, and the process runs on. Every step has a deadline; a gdb that misses it is
 * killed, and the kernel resumes the process when its tracer dies: the target is never left
 * stopped.
 *
 * @module
 */

/** Why a process cannot be attached to: the message says what to do about it. */
export class AttachError extends Error {
  /** `no-process`, `not-python`, `old-python`, `permission`, `ptrace`, `no-gdb`, `traced`, `symbols`, `timeout`, `failed`. */
  readonly kind: string;
  /** An error of `kind`, saying `message`. */
  constructor(kind: string, message: string) {
    super(message);
    this.name = "AttachError";
    this.kind = kind;
  }
}

/** A running Python process, as `/proc` describes it. */
export interface PythonProcessInfo {
  /** Its process id. */
  pid: number;
  /** The interpreter's executable (the file, links resolved). */
  exe: string;
  /** `3.11`: the interpreter's major and minor version. */
  version: string;
  /** Its command line. */
  argv: string[];
  /** The user it runs as. */
  uid: number;
  /** Another process traces it (a debugger, gdb, strace): its pid, else 0. */
  tracerPid: number;
  /** qdb started it (`qdb trace`, `qdb run`) or is attached to it: its bridge is in it. */
  qdb: boolean;
  /** The pid of the qdb tracer attached to it (`qdb trace --pid`), else 0. */
  attachedBy: number;
}

const PYTHON_EXE = /(?:^|\/)python(\d)\.(\d+)[a-z]*$/;
const PYTHON_LIB = /\/libpython(\d)\.(\d+)[a-z]*\.so/;

async function readText(path: string): Promise<string | undefined> {
  try {
    return await Deno.readTextFile(path);
  } catch {
    return undefined;
  }
}

/**
 * What process `pid` is, if it is a CPython this user could attach to: throws AttachError
 * saying why not (no such process, not a Python, older than 3.8, another user's).
 */
export async function describePythonProcess(pid: number): Promise<PythonProcessInfo> {
  if (!Number.isInteger(pid) || pid <= 0) {
    throw new AttachError("no-process", `${pid} is not a process id`);
  }
  const status = await readText(`/proc/${pid}/status`);
  if (status === undefined) throw new AttachError("no-process", `No process ${pid}`);
  const field = (name: string) => status.match(new RegExp(`^${name}:\\s*(.*)$`, "m"))?.[1] ?? "";
  const uid = Number(field("Uid").split(/\s+/)[0]);
  const tracerPid = Number(field("TracerPid")) || 0;
  const cmdline = (await readText(`/proc/${pid}/cmdline`)) ?? "";
  const argv = cmdline.split("\0").filter((a, i, all) => a !== "" || i < all.length - 1);
  const me = Deno.uid();
  let exe: string | undefined;
  try {
    exe = await Deno.readLink(`/proc/${pid}/exe`);
  } catch (error) {
    if (error instanceof Deno.errors.PermissionDenied && me !== 0 && uid !== me) {
      throw new AttachError(
        "permission",
        `Process ${pid} runs as another user (uid ${uid}): attach as that user, or as root`,
      );
    }
    throw new AttachError("no-process", `No process ${pid} (or it ended)`);
  }
  exe = exe.replace(/ \(deleted\)$/, "");
  let m = exe.match(PYTHON_EXE);
  if (!m) {
    // An embedding program, or a python whose file is not named for its version: its library.
    const maps = (await readText(`/proc/${pid}/maps`)) ?? "";
    m = maps.match(PYTHON_LIB);
  }
  if (!m) {
    const name = argv[0] ?? exe;
    throw new AttachError("not-python", `Process ${pid} (${name}) is not a Python (${exe})`);
  }
  const version = `${m[1]}.${m[2]}`;
  if (Number(m[1]) !== 3 || Number(m[2]) < 8) {
    throw new AttachError(
      "old-python",
      `Process ${pid} runs Python ${version}: qdb attaches to Python 3.8 and newer`,
    );
  }
  if (me !== 0 && uid !== me) {
    throw new AttachError(
      "permission",
      `Process ${pid} runs as another user (uid ${uid}): attach as that user, or as root`,
    );
  }
  const environ = (await readText(`/proc/${pid}/environ`)) ?? "";
  // The marker names the tracer, its start time and the process's (a pid used again by
  // another process is not them: a marker a killed tracer left says nothing).
  const [by, byStart, since] = ((await readText(attachMarker(pid))) ?? "").split(" ");
  const attachedBy = Number(by) || 0;
  const live = attachedBy > 0 && since !== undefined && since === await processStart(pid) &&
      byStart === await processStart(attachedBy)
    ? attachedBy
    : 0;
  return {
    pid,
    exe,
    version,
    argv,
    uid,
    tracerPid,
    qdb: environ.split("\0").some((v) => v.startsWith("QDB_BRIDGE=")) || live > 0,
    attachedBy: live,
  };
}

/**
 * The fields of `/proc/PID/stat` from the third on (the state first), or undefined when there is
 * no such process: the command name before them is in parentheses and may hold spaces.
 */
export async function procStatFields(pid: number): Promise<string[] | undefined> {
  const stat = await readText(`/proc/${pid}/stat`);
  return stat === undefined ? undefined : stat.slice(stat.lastIndexOf(")") + 2).trim().split(/\s+/);
}

/** When process `pid` started (clock ticks since boot, from /proc), or undefined. */
export async function processStart(pid: number): Promise<string | undefined> {
  return (await procStatFields(pid))?.[19];
}

/**
 * Where a tracer attached to process `pid` notes its own pid while it is (`qdb ps` shows the
 * process as debugged): a file in a per-user folder of the temporary directory.
 */
export function attachMarker(pid: number): string {
  const tmp = Deno.env.get("TMPDIR") ?? "/tmp";
  return `${tmp}/qdb-attached-${Deno.uid()}/${pid}`;
}

/** The Python processes (3.8+) of this user (every user's for root), by pid. */
export async function listPythonProcesses(): Promise<PythonProcessInfo[]> {
  const out: PythonProcessInfo[] = [];
  for await (const entry of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    const pid = Number(entry.name);
    if (pid === Deno.pid) continue;
    try {
      out.push(await describePythonProcess(pid));
    } catch {
      // Not a Python, not ours, or gone.
    }
  }
  return out.sort((a, b) => a.pid - b.pid);
}

/** Options of {@linkcode injectPython}. */
export interface InjectOptions {
  /** The gdb to use. Default: `gdb` on the PATH. */
  gdb?: string;
  /** How long gdb may take, in milliseconds (it is killed then; the process runs on). Default 30 s. */
  timeoutMs?: number;
  /** Aborting it kills gdb (the process runs on). */
  signal?: AbortSignal;
  /**
   * Python 3.14+: the directory (readable by the process) where the script for
   * `sys.remote_exec` is written; it must last until the program has run it. Default: a new
   * temporary directory, left in place.
   */
  scratchDir?: string;
}

/** What the ptrace rules of this machine say about attaching to `info`, or undefined if fine. */
async function ptraceRefusal(info: PythonProcessInfo): Promise<string | undefined> {
  const scope = (await readText("/proc/sys/kernel/yama/ptrace_scope"))?.trim();
  if (scope === "3") {
    return "This machine forbids attaching to processes (kernel.yama.ptrace_scope = 3; it can " +
      "only be lowered by a reboot)";
  }
  if (scope === "2" && Deno.uid() !== 0) {
    return "Only root may attach to processes here (kernel.yama.ptrace_scope = 2): run as root";
  }
  if (scope === "1" && Deno.uid() !== 0) {
    return `Attaching to process ${info.pid} needs ptrace rights (kernel.yama.ptrace_scope = 1 ` +
      "lets a process trace only its own children): run as root, or " +
      "`sudo sysctl kernel.yama.ptrace_scope=0`";
  }
  return undefined;
}

/** A string as a C string literal for gdb's expression parser (its UTF-8 bytes). */
function cString(text: string): string {
  let out = "";
  for (const byte of new TextEncoder().encode(text)) {
    const c = String.fromCharCode(byte);
    if (c === "\\" || c === '"') out += `\\${c}`;
    else if (c === "\n") out += "\\n";
    else if (byte >= 0x20 && byte <= 0x7e) out += c;
    else out += `\\${byte.toString(8).padStart(3, "0")}`;
  }
  return `"${out}"`;
}

/** The gdb commands that run `code` in the main thread (see the module's notes). */
export function injectionScript(code: string): string {
  const literal = cString(code);
  return [
    "set pagination off",
    "set confirm off",
    // The main thread: gdb numbers it 1.
    "thread 1",
    // The system call it was stopped in (-1: none, it ran code), read while gdb holds it.
    "set $qdb_syscall = -1",
    "python",
    "import gdb",
    "pid = gdb.selected_inferior().pid",
    'with open("/proc/%d/task/%d/syscall" % (pid, pid)) as f:',
    "    nr = f.read().split()[0]",
    'gdb.set_convenience_variable("qdb_syscall", int(nr) if nr.lstrip("-").isdigit() else -1)',
    "end",
    "set $qdb_held = (int)PyGILState_Check()",
    // Safe to run at once only when the thread waits in the kernel (a sleep, a read: not a
    // futex, which may be the GIL's own wait) without the GIL.
    `if $qdb_held || $qdb_syscall < 0 || $qdb_syscall == ${FUTEX_SYSCALL}`,
    // Queued: run by the main thread between two instructions of Python.
    `  set $qdb_code = (char *)strdup(${literal})`,
    "  set $qdb_queued = (int)Py_AddPendingCall((int (*)(void *))PyRun_SimpleString, $qdb_code)",
    '  printf "qdb: queued %d\\n", $qdb_queued',
    "else",
    "  set $qdb_gil = (int)PyGILState_Ensure()",
    `  set $qdb_ran = (int)PyRun_SimpleString(${literal})`,
    "  call (void)PyGILState_Release($qdb_gil)",
    '  printf "qdb: ran %d\\n", $qdb_ran',
    "end",
    "detach",
    "quit",
    "",
  ].join("\n");
}

/** futex(2)'s number on this machine's architecture (the GIL and locks wait in it). */
const FUTEX_SYSCALL = Deno.build.arch === "aarch64" ? 98 : 202;

/**
 * Runs Python source `code` in the main thread of process `pid` (a CPython 3.8+ of this user),
 * as `exec` would at module level in a fresh namespace of the interpreter's `__main__` (keep
 * it short, and bind nothing: it runs in the program's `__main__`). Resolves once the code has
 * run (or, when the main thread was running Python code, once it is queued: it runs between two
 * of that thread's instructions). Throws AttachError saying why it could not.
 */
export async function injectPython(
  pid: number,
  code: string,
  options: InjectOptions = {},
): Promise<{ info: PythonProcessInfo; queued: boolean }> {
  const info = await describePythonProcess(pid);
  if (info.tracerPid !== 0) {
    const tracer = ((await readText(`/proc/${info.tracerPid}/comm`)) ?? "").trim();
    throw new AttachError(
      "traced",
      `Process ${pid} is already being debugged (by ${tracer || "process"} ${info.tracerPid})`,
    );
  }
  const refusal = await ptraceRefusal(info);
  if (refusal) throw new AttachError("ptrace", refusal);
  const [major, minor] = info.version.split(".").map(Number);
  if (major! > 3 || major === 3 && minor! >= 14) {
    return { info, queued: await remoteExec(info, code, options) };
  }
  const gdb = options.gdb ?? "gdb";
  const dir = await Deno.makeTempDir({ prefix: "qdb-inject-" });
  const script = `${dir}/inject.gdb`;
  await Deno.writeTextFile(script, injectionScript(code), { mode: 0o600 });
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(gdb, {
      // Only the C API's names are needed: not reading debug information (and no auto-loaded
      // scripts) makes gdb attach in a fifth of a second instead of seconds.
      args: [
        "--readnever",
        "-iex",
        "set auto-load off",
        "-p",
        String(pid),
        "-batch",
        "-nx",
        "-x",
        script,
      ],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
  } catch (error) {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    if (error instanceof Deno.errors.NotFound) {
      throw new AttachError(
        "no-gdb",
        `Attaching needs gdb, and "${gdb}" was not found: install it (apt-get install gdb, ` +
          "dnf install gdb) or name one with --gdb PATH",
      );
    }
    throw error;
  }
  // gdb killed (deadline, abort): the kernel detaches it, and the process runs on.
  const kill = () => {
    try {
      child.kill("SIGKILL");
    } catch { /* ended */ }
  };
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    kill();
  }, options.timeoutMs ?? 30_000);
  options.signal?.addEventListener("abort", kill, { once: true });
  try {
    const out = await child.output();
    const stdout = new TextDecoder().decode(out.stdout);
    const stderr = new TextDecoder().decode(out.stderr);
    if (timedOut) {
      const last = (stdout + stderr).trim().split("\n").slice(-2).join(" / ");
      throw new AttachError(
        "timeout",
        `gdb did not finish attaching to process ${pid} in ${
          (options.timeoutMs ?? 30_000) / 1000
        } s; it was stopped and the process runs on${last ? ` (gdb said: ${last})` : ""}`,
      );
    }
    if (options.signal?.aborted) throw new AttachError("failed", "Attaching was cancelled");
    const done = stdout.match(/qdb: (queued|ran) (-?\d+)/);
    if (done && Number(done[2]) === 0) {
      return { info, queued: done[1] === "queued" };
    }
    throw new AttachError(...gdbFailure(pid, stdout + stderr, done));
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener("abort", kill);
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

/**
 * CPython 3.14+ (PEP 768): the target's own interpreter asks it to run a script file at its
 * next safe point, through `sys.remote_exec`, with no gdb. Not tested here (no 3.14 on the
 * machines qdb is tested on): said so in the README.
 */
async function remoteExec(
  info: PythonProcessInfo,
  code: string,
  options: InjectOptions,
): Promise<boolean> {
  const dir = options.scratchDir ?? await Deno.makeTempDir({ prefix: "qdb-inject-" });
  const script = `${dir}/inject-${crypto.randomUUID()}.py`;
  await Deno.writeTextFile(script, code, { mode: 0o644 });
  const call = "import sys; sys.remote_exec(int(sys.argv[1]), sys.argv[2])";
  let out: Deno.CommandOutput;
  try {
    out = await new Deno.Command(info.exe, {
      args: ["-I", "-c", call, String(info.pid), script],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      ...(options.signal ? { signal: options.signal } : {}),
    }).output();
  } catch (error) {
    throw new AttachError("failed", `Could not run ${info.exe} to attach: ${error}`);
  }
  if (!out.success) {
    const said = new TextDecoder().decode(out.stderr).trim().split("\n").slice(-1)[0] ?? "";
    throw new AttachError(
      /PermissionError|Operation not permitted/.test(said) ? "ptrace" : "failed",
      `sys.remote_exec could not reach process ${info.pid}: ${said} (remote debugging may ` +
        "be off in it: PYTHON_DISABLE_REMOTE_DEBUG, -X disable-remote-debug)",
    );
  }
  return true;
}

/** What went wrong, from gdb's output. */
function gdbFailure(
  pid: number,
  said: string,
  done: RegExpMatchArray | null,
): [string, string] {
  if (/ptrace: Operation not permitted/.test(said)) {
    return [
      "ptrace",
      `The system refused to let gdb attach to process ${pid} (ptrace: Operation not ` +
      "permitted): run as root, or allow ptrace (kernel.yama.ptrace_scope, a container's " +
      "CAP_SYS_PTRACE / seccomp profile)",
    ];
  }
  if (/No symbol "(PyGILState_Check|Py_AddPendingCall|PyRun_SimpleString)"/.test(said)) {
    return [
      "symbols",
      `The interpreter of process ${pid} has no symbols for CPython's C API (a stripped or ` +
      "statically linked python): qdb cannot run code in it",
    ];
  }
  if (done) {
    return [
      "failed",
      `The code qdb sent to process ${pid} failed there (PyRun_SimpleString returned ` +
      `${done[2]}; the program's stderr says why)`,
    ];
  }
  const last = said.trim().split("\n").slice(-3).join(" / ");
  return ["failed", `gdb could not run code in process ${pid}: ${last}`];
}
