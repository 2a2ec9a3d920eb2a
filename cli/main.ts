/**
 * The `qdb` command: one entry point, subcommands from one table, help generated from it.
 *
 * @module
 */

import { VERSION } from "../version.ts";
import { commandHelp, type CommandSpec, parseInvocation, UsageError } from "./args.ts";
import { serveCommand } from "./serve.ts";
import { sessionsCommand } from "./sessions.ts";

function notYet(name: string, summary: string, usage: string, issue: string): CommandSpec {
  return {
    name,
    usage,
    summary,
    options: [],
    stopAtPositional: true,
    run() {
      console.error(`qdb ${name}: not implemented yet (${issue})`);
      return Promise.resolve(2);
    },
  };
}

/** Every subcommand, in the order help lists them. */
export const COMMAND_TABLE: CommandSpec[] = [
  notYet(
    "run",
    "Debug a program on this machine: server, tracer and terminal client in one command.",
    "[options] PROGRAM [ARGS...]",
    "the terminal client issue",
  ),
  serveCommand,
  notYet(
    "trace",
    "Run a program under the debugger and connect it to a server.",
    "[options] [--] PROGRAM [ARGS...]",
    "the Python engine issue",
  ),
  notYet(
    "attach",
    "Attach the terminal client to a session.",
    "[options] [SESSION]",
    "the terminal client issue",
  ),
  sessionsCommand,
];

function mainHelp(): string {
  const width = Math.max(...COMMAND_TABLE.map((c) => c.name.length));
  return [
    `qdb ${VERSION}: a remote debugger`,
    "",
    "Usage: qdb COMMAND [options]",
    "",
    "Commands:",
    ...COMMAND_TABLE.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    "",
    'Run "qdb COMMAND --help" for the options of a command.',
    "The protocol is public: see protocol/README.md in the qdb source.",
  ].join("\n");
}

/** Runs the CLI with `args`; resolves with the exit code. */
export async function main(args: string[]): Promise<number> {
  const [name, ...rest] = args;
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    const topic = name === "help" ? COMMAND_TABLE.find((c) => c.name === rest[0]) : undefined;
    console.log(topic ? commandHelp(topic) : mainHelp());
    return 0;
  }
  if (name === "--version" || name === "-V" || name === "version") {
    console.log(`qdb ${VERSION}`);
    return 0;
  }
  const command = COMMAND_TABLE.find((c) => c.name === name);
  if (!command) {
    console.error(`qdb: unknown command "${name}"\n\n${mainHelp()}`);
    return 2;
  }
  try {
    const invocation = parseInvocation(command, rest);
    if (invocation.values.help) {
      console.log(commandHelp(command));
      return 0;
    }
    return await command.run(invocation);
  } catch (error) {
    if (error instanceof UsageError) {
      console.error(`qdb ${name}: ${error.message}\nRun "qdb ${name} --help" for usage.`);
      return 2;
    }
    console.error(`qdb ${name}: ${error instanceof Error ? error.message : error}`);
    return 1;
  }
}
