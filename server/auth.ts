/**
 * Authentication of the `start` message on both links. The server calls an
 * {@linkcode AuthFunction} for every `start`; it refuses, accepts, or accepts a client read-only.
 * {@linkcode tokenAuth} is the shared-secret one; {@linkcode tokensAuth} the one the CLI uses for
 * `--tracer-token`, `--client-token` and `--read-only-token`.
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
  /**
   * For a group link (a client attached to a group): the group. Its `list` request is judged
   * first (who may see the members), then a `client` request for each member's session.
   */
  group?: string;
}

/**
 * What a client may do once accepted: `full` (every command: run code, set breakpoints, end
 * the program) or `read-only` (it sees every event of the session; the server refuses its
 * commands).
 */
export type Access = "full" | "read-only";

/** An acceptance that names the access it grants (`true` grants `full`). */
export interface AuthGrant {
  /** What the client may do. Tracers and `list` requests ignore it. */
  access: Access;
}

/** An auth function's verdict: refused (`false`), accepted with full access (`true`), or a grant. */
export type AuthResult = boolean | AuthGrant;

/** Decides whether a `start` is accepted, and with what access. May be async. */
export type AuthFunction = (request: AuthRequest) => AuthResult | Promise<AuthResult>;

/** Accepts everything: the default when no token or auth function is configured. */
export const allowAll: AuthFunction = (): boolean => true;

/** Accepts a `start` whose auth string equals `token`, compared in constant time. */
export function tokenAuth(token: string): AuthFunction {
  return (request) => constantTimeEqual(request.auth, token);
}

/** The shared secrets of {@linkcode tokensAuth}; an absent one is not required. */
export interface Tokens {
  /** Tracers must send it. */
  tracer?: string | undefined;
  /** Clients (and `GET /sessions`) must send it, or `readOnly`. */
  client?: string | undefined;
  /** Clients that send it instead of `client` attach read-only. */
  readOnly?: string | undefined;
}

/**
 * Separate secrets for tracers and clients, and an optional one that admits read-only
 * clients. With no `client` token but a `readOnly` one, a client without a token is refused.
 */
export function tokensAuth(tokens: Tokens): AuthFunction {
  return async (request) => {
    if (request.role === "tracer") {
      return tokens.tracer === undefined || await constantTimeEqual(request.auth, tokens.tracer);
    }
    // Both are compared, so the time taken does not tell which one matched.
    const [full, readOnly] = await Promise.all([
      tokens.client === undefined
        ? tokens.readOnly === undefined
        : constantTimeEqual(request.auth, tokens.client),
      tokens.readOnly !== undefined && constantTimeEqual(request.auth, tokens.readOnly),
    ]);
    if (full) return true;
    return readOnly ? { access: "read-only" } : false;
  };
}

/** Both must accept; the access granted is the narrower of the two. */
export function bothAuth(first: AuthFunction, second: AuthFunction): AuthFunction {
  return async (request) => {
    const a = accessOf(await first(request));
    if (a === undefined) return false;
    const b = accessOf(await second(request));
    if (b === undefined) return false;
    return a === "full" && b === "full" ? true : { access: "read-only" };
  };
}

/** The access an auth result grants, or undefined when it refuses. Anything unexpected refuses. */
export function accessOf(result: unknown): Access | undefined {
  if (result === true) return "full";
  if (typeof result === "object" && result !== null) {
    const access = (result as { access?: unknown }).access;
    if (access === "full" || access === "read-only") return access;
  }
  return undefined;
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
