/**
 * The engines qdb has, and which one debugs a command line: the roles that work with any
 * engine (the tracer's CLI, `qdb run`, the DAP adapter) find it here and never name one.
 *
 * @example
 * ```ts
 * import { engineFor } from "./registry.ts";
 * const engine = engineFor({ program: "app.py" });
 * console.log(engine.name); // "python"
 * ```
 * @module
 */

import type { Engine } from "./engine.ts";
import { pythonEngine } from "./python/python_engine.ts";
import { javascriptEngine } from "./javascript/javascript_engine.ts";

/** Every engine, by name. */
export const ENGINES: ReadonlyMap<string, Engine> = new Map<string, Engine>([
  [pythonEngine.name, pythonEngine],
  [javascriptEngine.name, javascriptEngine],
]);

/** The engine used when nothing says which: the first one qdb had. */
export const DEFAULT_ENGINE: Engine = pythonEngine;

/** What a command line says of its engine. */
export interface EngineChoice {
  /** The engine asked for by name (`--engine`). */
  engine?: string | undefined;
  /** The runtime named (`--python PATH`, or the first word of `-- python3 app.py`). */
  runtime?: string | undefined;
  /** The program file (or module, or code). */
  program?: string | undefined;
}

/** No engine has that name. */
export class UnknownEngineError extends Error {
  /** Says which engines there are. */
  constructor(name: string) {
    super(`No engine "${name}": qdb has ${[...ENGINES.keys()].join(", ")}`);
    this.name = "UnknownEngineError";
  }
}

/**
 * The engine for a command line: the one named; else the one whose runtime is named
 * (`qdb trace -- python3 app.py`); else the one whose files the program is (`app.py`); else
 * the default.
 *
 * @throws {UnknownEngineError} when `choice.engine` names no engine.
 */
export function engineFor(choice: EngineChoice): Engine {
  if (choice.engine !== undefined) {
    const named = ENGINES.get(choice.engine);
    if (!named) throw new UnknownEngineError(choice.engine);
    return named;
  }
  const all = [...ENGINES.values()];
  const runtime = choice.runtime;
  const program = choice.program;
  return (runtime !== undefined ? all.find((e) => e.traits.isRuntime(runtime)) : undefined) ??
    (program !== undefined ? all.find((e) => e.traits.handlesFile(program)) : undefined) ??
    DEFAULT_ENGINE;
}

/** Whether a command line's first word is some engine's runtime (`python3`, `node`). */
export function isRuntime(command: string): boolean {
  return [...ENGINES.values()].some((e) => e.traits.isRuntime(command));
}
