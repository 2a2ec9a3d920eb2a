/**
 * The qdb tracer role: run a program under a debug engine and connect it to a server.
 *
 * @example
 * ```ts ignore
 * import { engineFor, startTracer } from "./tracer.ts";
 * await using tracer = await startTracer({
 *   engine: engineFor({ program: "app.py" }),
 *   program: "app.py",
 *   server: "tcp://127.0.0.1:8001",
 * });
 * console.log(await tracer.done);
 * ```
 * @module
 */

export * from "./engine/engine.ts";
export * from "./tracer/link.ts";
export * from "./tracer/tracer.ts";
export * from "./engine/registry.ts";
