/**
 * The options of a qdb server, and the settings its parts share once defaults are applied.
 *
 * @module
 */

import { allowAll, type AuthFunction, tokenAuth } from "./auth.ts";
import { DEFAULT_LIMITS, type ServerLimits } from "./limits.ts";
import type { Registry } from "./registry.ts";

/** How a timeout disables a session: let the program run on, or end it. */
export type DisableMode = "soft" | "hard";

/** Options of {@linkcode createServer}. Durations are in milliseconds. */
export interface ServerOptions {
  /** A shared secret both links must send in `start` (compared in constant time). */
  token?: string | undefined;
  /** Auth for both links (overrides `token`); `clientAuth`/`tracerAuth` override it per link. */
  auth?: AuthFunction;
  /**
   * Serve the web client: `BASE` lists the sessions, `BASE/s/SESSION` debugs one. Default true;
   * false leaves only the WebSocket and `GET BASE/sessions`.
   */
  web?: boolean;
  /** Auth for clients (and `GET /sessions`). */
  clientAuth?: AuthFunction;
  /** Auth for tracers. */
  tracerAuth?: AuthFunction;
  /** How long a new connection has to send `start`. Default 10 000. */
  authTimeout?: number;
  /**
   * How long a session whose tracer lost its link waits for it to come back (with the
   * session's `resume` key) before it ends; 0 ends it at once. Default 30 000.
   */
  tracerGrace?: number;
  /** How long one side waits for the other; 0 (the default) waits forever. */
  attachTimeout?: number;
  /** A session whose clients sent nothing for this long is disabled; 0 never. Default 600 000. */
  inactivityTimeout?: number;
  /** How timeouts disable a session. Default `soft`. */
  timeoutDisableMode?: DisableMode;
  /** Path prefix the handler serves under, such as `/debug/`. Default `/`. */
  basePath?: string;
  /** Receives one line per notable event (sessions, attaches, refusals). Default: nothing. */
  log?: (line: string) => void;
  /**
   * Host names accepted in a request's `Host` header besides IP addresses, `localhost` and
   * the address the server listens on (the defence against DNS rebinding). `"*"`: any.
   */
  allowedHosts?: string[];
  /**
   * Origins (`https://ide.example:8443`) whose pages may open a client WebSocket, besides
   * requests without an `Origin` (programs) and pages the server itself serves. `"*"`: any.
   */
  allowedOrigins?: string[];
  /** Where clients attach (`ws://HOST:PORT`), told to tracers so that they can print it. */
  clientUrl?: string;
  /** The address the server listens on, as given to `Deno.serve` (accepted as a Host). */
  listenHost?: string;
  /** Resource limits; each has a sensible default (see {@linkcode ServerLimits}). */
  limits?: ServerLimits;
  /**
   * A client with enough unread to hold its session back, to which nothing has been written for
   * this long, is dropped (`error` type `limit`, and a log line), so that a dead or sleeping
   * client never holds the program; its output waits in the session's replay buffer for
   * whoever attaches next. 0: never. Default 10 000.
   */
  clientStall?: number;
  /**
   * Where the server finds sessions and the other servers sharing them (see `registry.ts`).
   * Default: a registry of its own, in memory (one server).
   */
  registry?: Registry;
}

/**
 * Session ids: 1 to 128 characters that are safe in a URL path; a child's adds `/PID` to its
 * parent's (segments of dots only, which URLs resolve away, are refused after a `/`).
 */
export const SESSION_ID_PATTERN =
  /^(?=.{1,128}$)[A-Za-z0-9._:@~-]+(?:\/(?!\.+(?:\/|$))[A-Za-z0-9._:@~-]+)*$/;

const SECOND = 1000;

/** The options with every default applied, as the server's parts read them. */
export interface Settings {
  /** Auth for clients (and `GET /sessions`). */
  readonly clientAuth: AuthFunction;
  /** Auth for tracers. */
  readonly tracerAuth: AuthFunction;
  /** See {@linkcode ServerOptions.authTimeout}. */
  readonly authTimeout: number;
  /** See {@linkcode ServerOptions.tracerGrace}. */
  readonly tracerGrace: number;
  /** See {@linkcode ServerOptions.attachTimeout}. */
  readonly attachTimeout: number;
  /** See {@linkcode ServerOptions.inactivityTimeout}. */
  readonly inactivityTimeout: number;
  /** See {@linkcode ServerOptions.timeoutDisableMode}. */
  readonly disableMode: DisableMode;
  /** The base path, ending in `/`. */
  readonly basePath: string;
  /** See {@linkcode ServerOptions.web}. */
  readonly web: boolean;
  /** See {@linkcode ServerOptions.clientStall}. */
  readonly clientStall: number;
  /** Every limit, defaults applied. */
  readonly limits: Required<ServerLimits>;
}

/** The settings of `options`. */
export function settingsOf(options: ServerOptions): Settings {
  const shared = options.auth ?? (options.token ? tokenAuth(options.token) : allowAll);
  const base = options.basePath ?? "/";
  return {
    clientAuth: options.clientAuth ?? shared,
    tracerAuth: options.tracerAuth ?? shared,
    authTimeout: options.authTimeout ?? 10 * SECOND,
    tracerGrace: options.tracerGrace ?? 30 * SECOND,
    attachTimeout: options.attachTimeout ?? 0,
    inactivityTimeout: options.inactivityTimeout ?? 600 * SECOND,
    disableMode: options.timeoutDisableMode ?? "soft",
    basePath: base.endsWith("/") ? base : `${base}/`,
    web: options.web ?? true,
    clientStall: options.clientStall ?? 10 * SECOND,
    limits: { ...DEFAULT_LIMITS, ...definedOnly(options.limits ?? {}) },
  };
}

/** A duration for people: `1.5 s`. */
export function seconds(ms: number): string {
  return `${Math.round(ms / 100) / 10} s`;
}

function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}
