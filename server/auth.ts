/**
 * Authentication of the `start` message on both links. The server calls an
 * {@linkcode AuthFunction} for every `start`; {@linkcode tokenAuth} is the shared-secret one the
 * CLI uses for `--token`.
 *
 * @example
 * ```ts
 * import { tokenAuth } from "./auth.ts";
 * const auth = tokenAuth("s3cret");
 * await auth({ role: "client", auth: "s3cret", session: "demo", remote: "127.0.0.1:5000" }); // true
 * ```
 * @module
 */

/** What an auth function is asked to judge. */
export interface AuthRequest {
  /** Which link: a `client`, a `tracer`, or a `list` of sessions (`GET /sessions`). */
  role: "client" | "tracer" | "list";
  /** The auth string sent (empty when none was). */
  auth: string;
  /** The session id asked for (empty for `list`). */
  session: string;
  /** The peer's address. */
  remote: string;
  /** The whole `start` payload, for auth functions that want more than the string. */
  start?: unknown;
}

/** Decides whether a `start` is accepted. May be async (to ask another service). */
export type AuthFunction = (request: AuthRequest) => boolean | Promise<boolean>;

/** Accepts everything: the default when no token or auth function is configured. */
export const allowAll: AuthFunction = () => true;

/** Accepts a `start` whose auth string equals `token`, compared in constant time. */
export function tokenAuth(token: string): AuthFunction {
  return (request) => constantTimeEqual(request.auth, token);
}

const encoder = new TextEncoder();

/**
 * Compares two strings in time that does not depend on where they differ (both are hashed
 * first, so their lengths do not leak either).
 */
export async function constantTimeEqual(a: string, b: string): Promise<boolean> {
  const [x, y] = await Promise.all([
    crypto.subtle.digest("SHA-256", encoder.encode(a)),
    crypto.subtle.digest("SHA-256", encoder.encode(b)),
  ]);
  const u = new Uint8Array(x);
  const v = new Uint8Array(y);
  let diff = 0;
  for (let i = 0; i < u.length; i++) diff |= u[i]! ^ v[i]!;
  return diff === 0;
}
