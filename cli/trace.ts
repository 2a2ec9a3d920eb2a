/** `qdb trace`: run a program under the debugger and connect it to a server. */

import type { AttachOptions, Engine, ExitStatus, LaunchOptions } from "../engine/engine.ts";
import { engineFor, ENGINES, isRuntime, UnknownEngineError } from "../engine/registry.ts";
import { startTracer } from "../tracer.ts";
import { choice, type CommandSpec, type Invocation, list, num, str, UsageError } from "./args.ts";
import { forwardSignals } from "./_signals.ts";
import { LINUX_SIGNALS } from "../engine/process.ts";
import { CA_OPTION, TOKEN_OPTION } from "./sessions.ts";
import { readCaFiles } from "../transport/ca_files.ts";
import { writeAll } from "./_terminal.ts";
import { GROUP_NAME_PATTERN, MAX_GROUPS } from "../protocol/mod.ts";

/** Options shared by `trace` and `run`: how the program is debugged. */
export const ENGINE_OPTIONS: CommandSpec["options"] = [
  {
    name: "module",
    short: "m",
    type: "string",
    placeholder: "MODULE",
    help: "Debug a module as python -m runs it (everything after it is the module's)",
    endsOptions: true,
  },
  {
    name: "code",
    short: "c",
    type: "string",
    placeholder: "CODE",
    help: "Debug a piece of code as python -c runs it (everything after it is the code's)",
    endsOptions: true,
  },
  {
    name: "engine",
    type: "string",
    placeholder: "NAME",
    help: `The debug engine: ${
      [...ENGINES.keys()].join(", ")
    } (default: the one whose runtime or files the command line names)`,
  },
  // Each engine's runtime, by its own name (--python PATH).
  ...[...ENGINES.values()].map((engine) => ({
    name: engine.traits.runtimeOption.name,
    type: "string" as const,
    placeholder: "PATH",
    help: `${engine.traits.runtimeOption.help} (default: ${engine.traits.defaultRuntime})`,
  })),
  {
    name: "pid",
    short: "p",
    type: "string",
    placeholder: "PID",
    help:
      "Attach to this running Python process instead of starting a program (`qdb ps` lists them); detaching leaves it running",
  },
  {
    name: "stop",
    type: "boolean",
    help: "With --pid: stop the program's main thread at its next line of Python",
  },
  {
    name: "no-stop",
    type: "boolean",
    help: "Do not stop at the first line: run until a breakpoint, an exception or set_trace()",
  },
  {
    name: "break",
    short: "b",
    type: "string",
    multiple: true,
    placeholder: "LOCATION",
    help:
      'Set a breakpoint before the program starts: FILE:LINE, LINE or FUNCTION, then ", CONDITION" if any',
  },
  {
    name: "break-on",
    type: "string",
    placeholder: "MODE",
    help: "Stop on exceptions: uncaught, raised or never",
    default: "uncaught",
  },
  {
    name: "eval-policy",
    type: "string",
    placeholder: "POLICY",
    help: "What code clients may run: full, none, or hook:module:function",
    default: "full",
  },
  {
    name: "eval-timeout",
    type: "string",
    placeholder: "SECONDS",
    help: "Interrupt an eval, watch or condition running longer (0: never)",
    default: "30",
  },
  {
    name: "skip",
    type: "string",
    multiple: true,
    placeholder: "PATTERN",
    help: "Never stop in modules or files matching this glob; hide them from stacks",
  },
  {
    name: "no-subprocess",
    type: "boolean",
    help: "Do not follow child processes (multiprocessing, subprocess, fork): they run untraced",
  },
  {
    name: "traced-breakpoints",
    type: "boolean",
    help:
      "Python: look for breakpoints with a trace function, as pdb does, instead of compiling them into the code of the function that holds them (the default; slower)",
  },
];

/**
 * With `--pid`: the engine and the options to attach to that process with (`trace`/`run`),
 * else undefined. No program may be named then.
 */
export function attachOptions(
  invocation: Invocation,
): (AttachOptions & { engine: Engine }) | undefined {
  const { values, positionals } = invocation;
  const given = str(values, "pid");
  if (given === undefined) {
    if (values.stop === true) throw new UsageError("--stop goes with --pid");
    return undefined;
  }
  const pid = Number(given);
  if (!/^\d+$/.test(given) || !Number.isSafeInteger(pid) || pid <= 0) {
    throw new UsageError(`--pid takes a process id, got "${given}"`);
  }
  if (positionals.length > 0 || str(values, "module") !== undefined || str(values, "code")) {
    throw new UsageError("--pid attaches to a program that runs: name no program to start");
  }
  let engine: Engine;
  try {
    engine = engineFor({ engine: str(values, "engine") ?? "python" });
  } catch (error) {
    if (error instanceof UnknownEngineError) throw new UsageError(error.message);
    throw error;
  }
  if (!engine.attach) {
    throw new UsageError(`the ${engine.name} engine cannot attach to a running process`);
  }
  const policy = evalPolicyOf(values);
  return {
    engine,
    pid,
    stopOnEntry: values.stop === true,
    evalPolicy: policy,
    evalTimeout: num(values, "eval-timeout", 30, { min: 0 }),
    breakpoints: list(values, "break"),
    breakOn: choice(values, "break-on", ["raised", "uncaught", "never"], "uncaught"),
    skip: list(values, "skip"),
    ...(values["traced-breakpoints"] === true ? { breakpointMode: "traced" as const } : {}),
  };
}

/** `--eval-policy`, checked. */
function evalPolicyOf(values: Invocation["values"]): string {
  const policy = str(values, "eval-policy") ?? "full";
  if (!/^(full|none|hook:[\w.]+:\w+)$/.test(policy)) {
    throw new UsageError(
      `--eval-policy must be full, none or hook:module:function, got "${policy}"`,
    );
  }
  return policy;
}

/**
 * The engine and launch options from `trace`/`run` flags and positionals: the engine named by
 * `--engine`, or by the runtime named first (`-- python3 app.py`), or by a runtime option
 * given (`--python PATH`), or by the program's file (`app.py`).
 */
export function launchOptions(invocation: Invocation): LaunchOptions & { engine: Engine } {
  const { values } = invocation;
  let positionals = invocation.positionals;
  let runtime: string | undefined;
  // `qdb trace -- python3 app.py`: the runtime may be named before the program.
  if (positionals.length > 1 && isRuntime(positionals[0]!)) {
    runtime = positionals[0]!;
    positionals = positionals.slice(1);
  }
  const given = [...ENGINES.values()].find((e) => str(values, e.traits.runtimeOption.name));
  let engine: Engine;
  try {
    engine = engineFor({
      engine: str(values, "engine"),
      runtime: runtime ?? (given ? str(values, given.traits.runtimeOption.name) : undefined),
      program: positionals[0],
    });
  } catch (error) {
    if (error instanceof UnknownEngineError) throw new UsageError(error.message);
    throw error;
  }
  const interpreter = runtime ?? str(values, engine.traits.runtimeOption.name);
  let runtimeArgs: string[] = [];
  if (runtime !== undefined) {
    const own = engine.traits.runtimeWords?.(runtime, positionals) ?? 0;
    runtimeArgs = positionals.slice(0, own);
    positionals = positionals.slice(own);
  }
  // `-m MODULE` and `-c CODE`, as options or after `--` (`qdb run -- -m json.tool`).
  let run: "file" | "module" | "code" = "file";
  let module = str(values, "module");
  let code = str(values, "code");
  if (
    module === undefined && code === undefined &&
    (positionals[0] === "-m" || positionals[0] === "-c")
  ) {
    if (positionals[1] === undefined) {
      throw new UsageError(
        `${positionals[0]} needs ${positionals[0] === "-m" ? "a module" : "code"}`,
      );
    }
    if (positionals[0] === "-m") module = positionals[1];
    else code = positionals[1];
    positionals = positionals.slice(2);
  }
  if (module !== undefined && code !== undefined) {
    throw new UsageError("give -m MODULE or -c CODE, not both");
  }
  if (module !== undefined || code !== undefined) {
    run = module !== undefined ? "module" : "code";
    positionals = [(module ?? code)!, ...positionals];
  }
  const [program, ...args] = positionals;
  if (program === undefined) {
    throw new UsageError("name the program to debug: PROGRAM [ARGS...], -m MODULE or -c CODE");
  }
  if (run === "file" && program.startsWith("-")) {
    throw new UsageError(
      `"${program}" is not a program (python options other than -m and -c are not supported)`,
    );
  }
  if (run === "file") checkProgramFile(program);
  const policy = evalPolicyOf(values);
  return {
    engine,
    program,
    ...(run !== "file" ? { run } : {}),
    args,
    stopOnEntry: values["no-stop"] !== true,
    evalPolicy: policy,
    evalTimeout: num(values, "eval-timeout", 30, { min: 0 }),
    breakpoints: list(values, "break"),
    breakOn: choice(values, "break-on", ["raised", "uncaught", "never"], "uncaught"),
    skip: list(values, "skip"),
    followChildren: values["no-subprocess"] !== true,
    ...(values["traced-breakpoints"] === true ? { breakpointMode: "traced" as const } : {}),
    ...(interpreter ? { interpreter } : {}),
    ...(runtimeArgs.length > 0 ? { runtimeArgs } : {}),
  };
}

/**
 * Fails before anything starts when the program file is missing or is not a file, as pdb
 * does ("Error: x.py does not exist").
 */
function checkProgramFile(program: string): void {
  let info: Deno.FileInfo;
  try {
    info = Deno.statSync(program);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new ProgramError(`${program}: no such file`);
    }
    return; // Unreadable here: let python say why.
  }
  if (info.isDirectory) {
    const name = program.replace(/\/+$/, "");
    throw new ProgramError(
      `${program} is a directory` +
        (/^[A-Za-z_][\w.]*$/.test(name) ? ` (to run it as a package: -m ${name})` : ""),
    );
  }
}

/** The program cannot be debugged (missing file...): exit code 2, as python's own. */
export class ProgramError extends Error {
  /** The exit code to use. */
  readonly code = 2;
  constructor(message: string) {
    super(message);
    this.name = "ProgramError";
  }
}

/** Where macOS numbers them differently. */
const DARWIN_SIGNALS: Record<string, number> = {
  SIGBUS: 10,
  SIGUSR1: 30,
  SIGUSR2: 31,
  SIGSYS: 12,
  SIGIO: 23,
};

/**
 * The exit code a shell would show for a program's exit status: its code, or 128 plus the
 * number of the signal that ended it (129 for a signal this table does not know).
 */
export function exitCode(status: ExitStatus, os: typeof Deno.build.os = Deno.build.os): number {
  if (status.code !== null) return status.code;
  const name = status.signal ?? "";
  const number = (os === "darwin" ? DARWIN_SIGNALS[name] : undefined) ?? LINUX_SIGNALS[name];
  return 128 + (number ?? 1);
}

/** The command that attaches to this session, with the server and token flags it needs. */
function attachHint(session: string, clientUrl: string | undefined, token: string | undefined) {
  const parts = ["qdb attach"];
  if (clientUrl && clientUrl !== "ws://127.0.0.1:8002") parts.push(`--server ${clientUrl}`);
  // The token itself stays out of logs: the variable it came from, or a placeholder.
  if (token !== undefined) {
    parts.push(Deno.env.get("QDB_TOKEN") === token ? '--token "$QDB_TOKEN"' : "--token TOKEN");
  }
  parts.push(session);
  return parts.join(" ");
}

/** The groups of `--group` (or, without it, `QDB_GROUP`), checked. */
export function groupsOf(values: Invocation["values"]): string[] {
  const given = list(values, "group");
  const names = given.length > 0
    ? given
    : (Deno.env.get("QDB_GROUP") ?? "").split(",").map((g) => g.trim()).filter((g) => g !== "");
  for (const name of names) {
    if (!GROUP_NAME_PATTERN.test(name)) {
      throw new UsageError(
        `group "${name}" is not valid: 1 to 64 letters, digits and ._:@~- (no spaces)`,
      );
    }
  }
  if (names.length > MAX_GROUPS) throw new UsageError(`at most ${MAX_GROUPS} groups`);
  return [...new Set(names)];
}

/** The `trace` command. */
export const traceCommand: CommandSpec = {
  name: "trace",
  usage: "[options] [--] [RUNTIME] PROGRAM [ARGS...]",
  summary: "Run a program under the debugger and connect it to a server.",
  description: "The program stops at its first line (unless --no-stop) and waits for a client:\n" +
    "`qdb attach SESSION`. Its output is printed here and sent to every client; its\n" +
    "standard input is this terminal's. The exit code is the program's.",
  options: [
    {
      name: "server",
      short: "s",
      type: "string",
      placeholder: "URL",
      help:
        "The server's tracer address (tls://HOST:PORT for a server with TLS); several servers of one cluster, comma-separated: the tracer moves to the next when its server goes away",
      default: "tcp://127.0.0.1:8001",
      env: "QDB_TRACER_SERVER",
    },
    {
      name: "session",
      type: "string",
      placeholder: "ID",
      help: "Session id (default: a random UUID)",
    },
    TOKEN_OPTION,
    CA_OPTION,
    {
      name: "group",
      short: "g",
      type: "string",
      multiple: true,
      placeholder: "NAME",
      help:
        "Make the session a member of this group (repeatable; QDB_GROUP=a,b): clients set breakpoints, logpoints and snapshots on a whole group (`qdb attach --group NAME`). Members do not stop at their first line (as with --no-stop)",
    },
    {
      name: "quiet",
      short: "q",
      type: "boolean",
      help: "Do not print the program's output here (clients still get it)",
    },
    {
      name: "stdin",
      type: "string",
      placeholder: "FROM",
      help:
        "The program's standard input: terminal (this one), clients (their input command), none",
      default: "terminal",
    },
    {
      name: "reconnect",
      type: "string",
      placeholder: "SECONDS",
      help:
        "After losing the server, keep trying to reach it this long (the program keeps its state), then run on untraced",
      default: "60",
    },
    {
      name: "retries",
      type: "string",
      placeholder: "N",
      help: "Connection attempts to the server after a failure",
      default: "5",
    },
    ...ENGINE_OPTIONS,
  ],
  stopAtPositional: true,
  examples: [
    "qdb trace app.py --its-own-flag",
    'qdb trace --server tcp://server:8001 --session backtest-42 --token "$QDB_TOKEN" -- python3 backtest.py',
  ],
  async run(invocation) {
    const { values } = invocation;
    const attach = attachOptions(invocation);
    const launch = attach ? { ...attach, program: `pid ${attach.pid}` } : launchOptions(invocation);
    const quiet = values.quiet === true;
    const server = str(values, "server") ?? "tcp://127.0.0.1:8001";
    const stdin = choice(values, "stdin", ["terminal", "clients", "none"], "terminal");
    const groups = groupsOf(values);
    if (groups.length > 0) launch.stopOnEntry = false;
    const tracer = await startTracer({
      ...launch,
      ...(attach ? { attachPid: attach.pid } : {}),
      groups,
      stdin: stdin === "terminal" ? "inherit" : stdin === "clients" ? "piped" : "null",
      server,
      caCerts: await readCaFiles(list(values, "ca")),
      session: str(values, "session"),
      token: str(values, "token"),
      retries: num(values, "retries", 5, { min: 0, integer: true }),
      reconnectFor: num(values, "reconnect", 60, { min: 0 }) * 1000,
      onOutput: quiet
        ? undefined
        : (stream, text) => writeAll(stream === "stdout" ? Deno.stdout : Deno.stderr, text),
      onStatus: (line) => console.error(`qdb trace: ${line}`),
    });
    // A program that is over already (it failed at once) has no session to attach to.
    if (!tracer.ended) {
      const what = attach
        ? `process ${attach.pid} (${tracer.info.program})`
        : `${launch.program} (pid ${tracer.info.pid})`;
      console.error(
        `qdb trace: ${what} is session ${tracer.session} on ${server}; ` +
          `attach with: ${attachHint(tracer.session, tracer.clientUrl, str(values, "token"))}`,
      );
    }
    // Ctrl-C, a hangup or a kill here go to the program, as they would without qdb; for a
    // program qdb attached to, they detach from it (it runs on).
    const stopForwarding = forwardSignals((signal) => {
      if (attach) void tracer.close();
      else tracer.kill(signal);
    });
    try {
      const status = await tracer.done;
      // Attached: the program is not ours; the tracer did its job (its code, if it ended, is
      // in the session's last events).
      return attach ? 0 : exitCode(status);
    } finally {
      stopForwarding();
      await tracer.close();
    }
  },
};
