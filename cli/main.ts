/**
 * The `qdb` command: one entry point, subcommands from one table, help generated from it.
 *
 * @module
 */

import { VERSION } from "../version.ts";
import { commandHelp, type CommandSpec, parseInvocation, UsageError } from "./args.ts";
import { attachCommand } from "./attach.ts";
import { certsCommand } from "./certs.ts";
import { dapCommand } from "./dap.ts";
import { runCommand } from "./run.ts";
import { serveCommand } from "./serve.ts";
import { psCommand } from "./ps.ts";
import { sessionsCommand } from "./sessions.ts";
import { ProgramError, traceCommand } from "./trace.ts";

/** Every subcommand, in the order help lists them. */
export const COMMAND_TABLE: CommandSpec[] = [
  runCommand,
  serveCommand,
  traceCommand,
  attachCommand,
  sessionsCommand,
  psCommand,
  dapCommand,
  certsCommand,
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
  if (name === undefined) {
    // Nothing asked: usage on stderr, and a failure for scripts (as git and python -m pdb).
    console.error(mainHelp());
    return 2;
  }
  if (name === "--help" || name === "-h" || name === "help") {
    const topic = name === "help" ? COMMAND_TABLE.find((c) => c.name === rest[0]) : undefined;
    console.log(topic ? commandHelp(topic) : mainHelp());
    return 0;
  }
  if (name === "--version" || name === "-V" || name === "version") {
    console.log(`qdb ${VERSION}`);
    // Where it runs from: an installed `qdb` runs the copy it was installed from.
    console.log(`${whereFrom()}, Deno ${Deno.version.deno}`);
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
    if (error instanceof ProgramError) {
      console.error(`qdb ${name}: ${error.message}`);
      return error.code;
    }
    if (error instanceof UsageError) {
      console.error(`qdb ${name}: ${error.message}\nRun "qdb ${name} --help" for usage.`);
      return 2;
    }
    console.error(`qdb ${name}: ${error instanceof Error ? error.message : error}`);
    return 1;
  }
}

/** Where this qdb runs from: its entry file, or the binary `deno compile` made. */
export function whereFrom(main: string = Deno.mainModule, exec: string = Deno.execPath()): string {
  // A compiled qdb is its own binary (its main module is a path inside it).
  if (!/(^|[\\/])deno(\.exe)?$/.test(exec)) return `running from ${exec} (a compiled qdb)`;
  try {
    const url = new URL(main);
    if (url.protocol === "file:") return `running from ${decodeURIComponent(url.pathname)}`;
    return `running from ${main}`;
  } catch {
    return `running from ${main}`;
  }
}
