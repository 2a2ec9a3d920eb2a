/**
 * The qdb client role: attach to a debug session and drive it.
 *
 * @example
 * ```ts ignore
 * import { listSessions, QdbClient } from "./client.ts";
 * const { sessions } = await listSessions("ws://127.0.0.1:8002");
 * await using client = await QdbClient.connect("ws://127.0.0.1:8002", {
 *   session: sessions[0]!.id,
 * });
 * client.send("step");
 * ```
 * @module
 */

export * from "./client/client.ts";
export * from "./client/reconnect.ts";
export type { TlsClientOptions } from "./transport/tls.ts";
