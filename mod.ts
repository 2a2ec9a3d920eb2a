/**
 * qdb: a remote debugger toolkit. One codebase, one `qdb` command; this module is both the
 * public API (the server, tracer and client roles, and the protocol) and the CLI entry point.
 *
 * @example
 * ```ts ignore
 * import { QdbClient, serve } from "./mod.ts";
 * await using running = await serve({ clientPort: 0, tracerPort: 0 });
 * console.log(running.clientUrl);
 * ```
 * @module
 */

export * from "./client.ts";
export * from "./protocol/mod.ts";
export * from "./server.ts";
export * from "./tracer.ts";
export { VERSION } from "./version.ts";

if (import.meta.main) {
  const { main } = await import("./cli/main.ts");
  Deno.exit(await main(Deno.args));
}
