/**
 * The CLI's command table machinery: option specs, parsing (with `node:util` parseArgs) and
 * help text generated from the same table, so help can never disagree with what is parsed.
 *
 * @module
 */

import { parseArgs } from "node:util";

/** One command-line option. */
export interface OptionSpec {
  /** Long name, without dashes. */
  name: string;
  /** One-letter alias. */
  short?: string;
  /** `string` options take a value; `boolean` ones do not. */
  type: "string" | "boolean";
  /** May be given several times (values collect in an array). */
  multiple?: boolean;
  /** What to show for the value in help: `PORT`. */
  placeholder?: string;
  /** One line of help. */
  help: string;
  /** Shown in help as the default. */
  default?: string;
  /** Environment variable read when the option is absent. */
  env?: string;
  /**
   * With `stopAtPositional`: what follows this option's value belongs to the program, as after
   * python's own `-m MODULE` and `-c CODE`.
   */
  endsOptions?: boolean;
}

/** Parsed options: strings, booleans, or arrays for `multiple`. */
export type OptionValues = Record<string, string | boolean | string[] | undefined>;

/** What a command's `run` receives. */
export interface Invocation {
  /** Option values (environment fallbacks applied). */
  values: OptionValues;
  /** Positional arguments. For commands that run a program: the program and its arguments. */
  positionals: string[];
}

/** One subcommand. */
export interface CommandSpec {
  /** Its name: `serve`. */
  name: string;
  /** Usage after `qdb NAME`: `[options] PROGRAM [ARGS...]`. */
  usage: string;
  /** One line for the command list. */
  summary: string;
  /** Paragraphs shown in its help, after the usage. */
  description?: string;
  /** Its options (`--help` is added to every command). */
  options: OptionSpec[];
  /** Options end at the first positional (the rest belongs to the debugged program). */
  stopAtPositional?: boolean;
  /** Examples shown in help. */
  examples?: string[];
  /** Runs it; resolves with the exit code. */
  run(invocation: Invocation): Promise<number>;
}

/** A usage mistake: the CLI prints it with a hint to `--help` and exits 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

const HELP: OptionSpec = { name: "help", short: "h", type: "boolean", help: "Show this help" };

/** Parses a command's arguments. @throws {UsageError} on unknown options or missing values. */
export function parseInvocation(spec: CommandSpec, args: string[]): Invocation {
  const options = [...spec.options, HELP];
  let head = args;
  let tail: string[] = [];
  if (spec.stopAtPositional) {
    const split = splitAtProgram(options, args);
    head = split.head;
    tail = split.tail;
  }
  let parsed;
  try {
    parsed = parseArgs({
      args: head,
      allowPositionals: true,
      strict: true,
      options: Object.fromEntries(options.map((o) => [o.name, {
        type: o.type,
        ...(o.short ? { short: o.short } : {}),
        ...(o.multiple ? { multiple: true } : {}),
      }])),
    });
  } catch (error) {
    const message = (error as Error).message;
    // `--port -1`: node's parser calls it ambiguous; say what the value was and how to give it.
    const ambiguous = /^Option '(--[\w-]+)' argument is ambiguous/.exec(message);
    if (ambiguous) {
      const flag = ambiguous[1]!;
      const value = head[head.indexOf(flag) + 1] ?? "";
      throw new UsageError(
        `${flag} ${value}: a value starting with "-" must be written ${flag}=${value}`,
      );
    }
    throw new UsageError(message.replace(/\. To specify.*$/s, ""));
  }
  const values = { ...parsed.values } as OptionValues;
  for (const option of options) {
    if (values[option.name] === undefined && option.env) {
      const fromEnv = Deno.env.get(option.env);
      if (fromEnv) values[option.name] = fromEnv;
    }
  }
  return { values, positionals: [...parsed.positionals, ...tail] };
}

/**
 * Splits `args` at the first positional (or `--`, or the value of an option that
 * {@linkcode OptionSpec.endsOptions}): options before, program and its args after.
 */
export function splitAtProgram(
  options: OptionSpec[],
  args: string[],
): { head: string[]; tail: string[] } {
  const takesValue = new Set<string>();
  const ends = new Set<string>();
  for (const o of options) {
    if (o.type !== "string") continue;
    const flags = [`--${o.name}`, ...(o.short ? [`-${o.short}`] : [])];
    for (const flag of flags) {
      takesValue.add(flag);
      if (o.endsOptions) ends.add(flag);
    }
  }
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === "--") return { head: args.slice(0, i), tail: args.slice(i + 1) };
    if (!arg.startsWith("-") || arg === "-") return { head: args.slice(0, i), tail: args.slice(i) };
    // `-m MODULE`, `--module=MODULE`, `-mMODULE`: the program's own arguments follow.
    const flag = arg.startsWith("--") ? arg.split("=")[0]! : arg.slice(0, 2);
    if (ends.has(flag)) {
      const joined = arg.length > flag.length;
      const end = joined ? i + 1 : i + 2;
      return { head: args.slice(0, end), tail: args.slice(end) };
    }
    if (takesValue.has(arg)) i++;
  }
  return { head: args, tail: [] };
}

/** The help of one command. */
export function commandHelp(spec: CommandSpec): string {
  const lines = [`Usage: qdb ${spec.name} ${spec.usage}`, "", spec.summary];
  if (spec.description) lines.push("", spec.description);
  const options = [...spec.options, HELP];
  const left = options.map((o) => {
    const flag = `${o.short ? `-${o.short}, ` : "    "}--${o.name}`;
    return o.type === "string" ? `${flag} ${o.placeholder ?? "VALUE"}` : flag;
  });
  const width = Math.max(...left.map((l) => l.length));
  lines.push("", "Options:");
  options.forEach((o, i) => {
    let help = o.help;
    if (o.default !== undefined) help += ` (default: ${o.default})`;
    if (o.env) help += ` [env: ${o.env}]`;
    if (o.multiple) help += " (repeatable)";
    lines.push(`  ${left[i]!.padEnd(width)}  ${help}`);
  });
  if (spec.examples?.length) {
    lines.push("", "Examples:", ...spec.examples.map((e) => `  ${e}`));
  }
  return lines.join("\n");
}

/** Reads a string option. */
export function str(values: OptionValues, name: string): string | undefined {
  const v = values[name];
  return typeof v === "string" ? v : undefined;
}

/** Reads a repeatable option. */
export function list(values: OptionValues, name: string): string[] {
  const v = values[name];
  return Array.isArray(v) ? v : typeof v === "string" ? [v] : [];
}

/** Reads a number option. @throws {UsageError} when it is not a number in range. */
export function num(
  values: OptionValues,
  name: string,
  fallback: number,
  range: { min?: number; max?: number; integer?: boolean } = {},
): number {
  const v = str(values, name);
  if (v === undefined) return fallback;
  const n = Number(v);
  const bad = v.trim() === "" || !Number.isFinite(n) ||
    (range.integer && !Number.isInteger(n)) ||
    (range.min !== undefined && n < range.min) || (range.max !== undefined && n > range.max);
  if (bad) {
    const what = range.integer ? "an integer" : "a number";
    const bounds = range.min !== undefined && range.max !== undefined
      ? ` from ${range.min} to ${range.max}`
      : range.min !== undefined
      ? ` >= ${range.min}`
      : "";
    throw new UsageError(`--${name} must be ${what}${bounds}, got "${v}"`);
  }
  return n;
}

/** Reads an option that must be one of `choices`. @throws {UsageError} otherwise. */
export function choice<T extends string>(
  values: OptionValues,
  name: string,
  choices: readonly T[],
  fallback: T,
): T {
  const v = str(values, name);
  if (v === undefined) return fallback;
  if (!(choices as readonly string[]).includes(v)) {
    throw new UsageError(`--${name} must be one of ${choices.join(", ")}, got "${v}"`);
  }
  return v as T;
}
