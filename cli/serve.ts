/** `qdb serve`: run a server for clients (WebSocket) and tracers (TCP). */

import { type AuthFunction, bothAuth, DEFAULT_LIMITS, serve, tokensAuth } from "../server.ts";
import type { TlsServerOptions } from "../transport/tls.ts";
import { choice, type CommandSpec, num, type OptionValues, str, UsageError } from "./args.ts";
import { untilInterrupted } from "./_signals.ts";
import { RedisRegistry } from "../server/redis_registry.ts";

/** The `serve` command. */
export const serveCommand: CommandSpec = {
  name: "serve",
  usage: "[options]",
  summary: "Run a qdb server: clients attach by WebSocket, tracers connect by TCP.",
  description: "Prints one line with both addresses, then one line per session event on stderr.\n" +
    "It listens on loopback only unless --host says otherwise; use --token when it does.",
  options: [
    {
      name: "host",
      type: "string",
      placeholder: "HOST",
      help: "Address to listen on",
      default: "127.0.0.1",
    },
    {
      name: "client-port",
      type: "string",
      placeholder: "PORT",
      help: "WebSocket port for clients (0: any free port)",
      default: "8002",
    },
    {
      name: "tracer-port",
      type: "string",
      placeholder: "PORT",
      help: "TCP port for tracers (0: any free port)",
      default: "8001",
    },
    {
      name: "token",
      type: "string",
      placeholder: "TOKEN",
      help: "Shared secret clients and tracers must send (sets both tokens below)",
      env: "QDB_TOKEN",
    },
    {
      name: "tracer-token",
      type: "string",
      placeholder: "TOKEN",
      help: "Secret tracers must send (instead of --token)",
      env: "QDB_TRACER_TOKEN",
    },
    {
      name: "client-token",
      type: "string",
      placeholder: "TOKEN",
      help: "Secret clients must send for full access (instead of --token)",
      env: "QDB_CLIENT_TOKEN",
    },
    {
      name: "read-only-token",
      type: "string",
      placeholder: "TOKEN",
      help: "Secret that attaches a client read-only: it sees everything, its commands are refused",
      env: "QDB_READ_ONLY_TOKEN",
    },
    {
      name: "auth",
      type: "string",
      placeholder: "MODULE",
      help:
        "A module whose default export is the auth function (request) => boolean | {access}; with tokens, both must accept",
    },
    {
      name: "auth-timeout",
      type: "string",
      placeholder: "SECONDS",
      help: "Time a new connection has to send start",
      default: "10",
    },
    {
      name: "tracer-grace",
      type: "string",
      placeholder: "SECONDS",
      help: "How long a session whose tracer lost its link waits for it to reconnect",
      default: "30",
    },
    {
      name: "attach-timeout",
      type: "string",
      placeholder: "SECONDS",
      help: "How long a tracer or client waits for the other side (0: forever)",
      default: "0",
    },
    {
      name: "inactivity-timeout",
      type: "string",
      placeholder: "SECONDS",
      help: "Disable sessions whose clients sent nothing for this long (0: never)",
      default: "600",
    },
    {
      name: "timeout-disable-mode",
      type: "string",
      placeholder: "soft|hard",
      help: "On a timeout, let the program run on (soft) or end it (hard)",
      default: "soft",
    },
    {
      name: "allow-host",
      type: "string",
      placeholder: "NAME",
      multiple: true,
      help:
        "Accept requests for this host name too (besides IP addresses, localhost and --host; * for any)",
    },
    {
      name: "allow-origin",
      type: "string",
      placeholder: "ORIGIN",
      multiple: true,
      help: "Let web pages of this origin open client connections (https://ide.example; * for any)",
    },
    {
      name: "max-sessions",
      type: "string",
      placeholder: "N",
      help: "Most sessions at once",
      default: String(DEFAULT_LIMITS.maxSessions),
    },
    {
      name: "max-clients",
      type: "string",
      placeholder: "N",
      help: "Most clients attached to one session",
      default: String(DEFAULT_LIMITS.maxClientsPerSession),
    },
    {
      name: "no-web",
      type: "boolean",
      help: "Do not serve the web client (the page at / and /s/SESSION)",
    },
    {
      name: "max-children",
      type: "string",
      placeholder: "N",
      help: "Most live child sessions under one program's session (past it, children run untraced)",
      default: String(DEFAULT_LIMITS.maxChildrenPerTree),
    },
    {
      name: "max-connections",
      type: "string",
      placeholder: "N",
      help: "Most connections at once (keep it under the open-file limit, ulimit -n)",
      default: String(DEFAULT_LIMITS.maxConnections),
    },
    {
      name: "max-pending",
      type: "string",
      placeholder: "N",
      help: "Most connections waiting to authenticate, from all addresses",
      default: String(DEFAULT_LIMITS.maxPending),
    },
    {
      name: "max-pending-per-address",
      type: "string",
      placeholder: "N",
      help: "Most connections waiting to authenticate from one address",
      default: String(DEFAULT_LIMITS.maxPendingPerAddress),
    },
    {
      name: "client-stall",
      type: "string",
      placeholder: "SECONDS",
      help: "Drop a client that read nothing for this long, so the program goes on (0: never)",
      default: "10",
    },
    {
      name: "max-queued",
      type: "string",
      placeholder: "MIB",
      help: "Most MiB queued for a client that does not read before it is dropped",
      default: String(DEFAULT_LIMITS.maxQueuedBytes / 1024 / 1024),
    },
    {
      name: "max-queued-total",
      type: "string",
      placeholder: "MIB",
      help: "Most MiB queued for all clients together; past it, those furthest behind are dropped",
      default: String(DEFAULT_LIMITS.maxQueuedTotal / 1024 / 1024),
    },
    {
      name: "tls-cert",
      type: "string",
      placeholder: "FILE",
      help: "Serve both links over TLS (wss://, tls://) with this certificate chain (PEM)",
    },
    {
      name: "tls-key",
      type: "string",
      placeholder: "FILE",
      help: "The private key of --tls-cert (PEM)",
    },
    {
      name: "redis",
      type: "string",
      placeholder: "URL",
      help:
        "Share sessions with every qdb serve of this Redis (redis://[:PASSWORD@]HOST:PORT, rediss:// for TLS)",
      env: "QDB_REDIS",
    },
    {
      name: "redis-password-file",
      type: "string",
      placeholder: "FILE",
      help: "Read the Redis password from this file (instead of the URL)",
    },
    { name: "quiet", short: "q", type: "boolean", help: "Do not log session events" },
  ],
  examples: [
    "qdb serve",
    'qdb serve --host 0.0.0.0 --token "$QDB_TOKEN" --inactivity-timeout 1800 --timeout-disable-mode hard',
    'qdb serve --host 0.0.0.0 --tracer-token "$T" --client-token "$C" --read-only-token "$R" --tls-cert s.pem --tls-key s.key',
    "qdb serve --auth ./team_auth.ts",
    'qdb serve --host 0.0.0.0 --token "$QDB_TOKEN" --redis redis://redis.internal:6379',
  ],
  async run({ values }) {
    const seconds = (name: string, fallback: number) =>
      num(values, name, fallback, { min: 0 }) * 1000;
    const hostname = str(values, "host") ?? "127.0.0.1";
    const auth = await authFromFlags(values);
    const quiet = values.quiet === true;
    const tls = await readTlsFiles(str(values, "tls-cert"), str(values, "tls-key"));
    const log = quiet ? () => {} : (line: string) => console.error(`qdb serve: ${line}`);
    const registry = await connectRedis(values, log);
    const running = await serve({
      ...(registry ? { registry } : {}),
      tls,
      hostname,
      clientPort: num(values, "client-port", 8002, { min: 0, max: 65535, integer: true }),
      tracerPort: num(values, "tracer-port", 8001, { min: 0, max: 65535, integer: true }),
      ...(auth ? { auth } : {}),
      authTimeout: seconds("auth-timeout", 10),
      tracerGrace: seconds("tracer-grace", 30),
      allowedHosts: list(values["allow-host"]),
      allowedOrigins: list(values["allow-origin"]),
      limits: {
        maxSessions: num(values, "max-sessions", DEFAULT_LIMITS.maxSessions, {
          min: 1,
          integer: true,
        }),
        maxClientsPerSession: num(values, "max-clients", DEFAULT_LIMITS.maxClientsPerSession, {
          min: 1,
          integer: true,
        }),
        maxChildrenPerTree: num(values, "max-children", DEFAULT_LIMITS.maxChildrenPerTree, {
          min: 0,
          integer: true,
        }),
        maxConnections: num(values, "max-connections", DEFAULT_LIMITS.maxConnections, {
          min: 2,
          integer: true,
        }),
        maxPending: num(values, "max-pending", DEFAULT_LIMITS.maxPending, {
          min: 1,
          integer: true,
        }),
        maxPendingPerAddress: num(
          values,
          "max-pending-per-address",
          DEFAULT_LIMITS.maxPendingPerAddress,
          { min: 1, integer: true },
        ),
        maxQueuedBytes: num(values, "max-queued", 16, { min: 0.0625 }) * 1024 * 1024,
        maxQueuedTotal: num(values, "max-queued-total", 256, { min: 1 }) * 1024 * 1024,
      },
      attachTimeout: seconds("attach-timeout", 0),
      clientStall: seconds("client-stall", 10),
      inactivityTimeout: seconds("inactivity-timeout", 600),
      timeoutDisableMode: choice(values, "timeout-disable-mode", ["soft", "hard"], "soft"),
      web: values["no-web"] !== true,
      log,
    }).catch(async (error) => {
      await registry?.close();
      throw error;
    });
    // Scripts read this line: keep its format stable.
    console.log(`qdb serve: clients ${running.clientUrl}  tracers ${running.tracerUrl}`);
    if (values["no-web"] !== true && !quiet) {
      console.error(`qdb serve: web client at ${running.clientUrl.replace(/^ws/, "http")}/`);
    }
    if (!isLoopback(hostname) && !auth) {
      console.error(
        `qdb serve: warning: listening on ${hostname} without --token: anyone who can reach ` +
          "these ports can attach and run code in debugged programs",
      );
    }
    await untilInterrupted(running.finished);
    // In a cluster, the sessions go on on the other servers; alone, they end here.
    if (registry) await running.server.handOver();
    await running.close();
    await registry?.close();
    return 0;
  },
};

/** The Redis registry `--redis` names, connected; undefined without one. */
async function connectRedis(
  values: OptionValues,
  log: (line: string) => void,
): Promise<RedisRegistry | undefined> {
  const url = str(values, "redis");
  const passwordFile = str(values, "redis-password-file");
  if (url === undefined) {
    if (passwordFile !== undefined) throw new UsageError("--redis-password-file needs --redis");
    return undefined;
  }
  let shown: string;
  try {
    const parsed = new URL(url);
    if (parsed.protocol !== "redis:" && parsed.protocol !== "rediss:") throw new Error();
    parsed.password = parsed.password ? "***" : "";
    shown = parsed.href;
  } catch {
    throw new UsageError(`--redis must be a redis:// or rediss:// URL, got ${JSON.stringify(url)}`);
  }
  const password = passwordFile === undefined
    ? undefined
    : (await Deno.readTextFile(passwordFile)).replace(/\r?\n$/, "");
  try {
    const registry = await RedisRegistry.connect({ url, password, log });
    log(`server ${registry.server} of the sessions shared through ${shown}`);
    return registry;
  } catch (error) {
    throw new Error(`Could not reach Redis at ${shown}: ${error}`, { cause: error });
  }
}

/** The auth function the token flags and `--auth` describe; undefined when open to all. */
async function authFromFlags(values: OptionValues): Promise<AuthFunction | undefined> {
  const token = str(values, "token");
  const tokens = {
    tracer: str(values, "tracer-token") ?? token,
    client: str(values, "client-token") ?? token,
    readOnly: str(values, "read-only-token"),
  };
  const byToken = tokens.tracer ?? tokens.client ?? tokens.readOnly
    ? tokensAuth(tokens)
    : undefined;
  const module = str(values, "auth");
  if (module === undefined) return byToken;
  const fromModule = await loadAuthModule(module);
  return byToken ? bothAuth(byToken, fromModule) : fromModule;
}

/** Imports `path` (relative to the working directory) and returns its default export. */
export async function loadAuthModule(path: string): Promise<AuthFunction> {
  const url = new URL(path, `file://${Deno.cwd()}/`);
  let module: { default?: unknown };
  try {
    module = await import(url.href);
  } catch (error) {
    throw new Error(`Cannot load the auth module ${path}: ${(error as Error).message}`);
  }
  if (typeof module.default !== "function") {
    throw new Error(
      `The auth module ${path} must export a default function ` +
        '(request) => boolean | { access: "full" | "read-only" } (or a Promise of one)',
    );
  }
  return module.default as AuthFunction;
}

async function readTlsFiles(
  cert: string | undefined,
  key: string | undefined,
): Promise<TlsServerOptions | undefined> {
  if (cert === undefined && key === undefined) return undefined;
  if (cert === undefined || key === undefined) {
    throw new UsageError("--tls-cert and --tls-key go together: give both, or neither");
  }
  const read = async (path: string, what: string) => {
    try {
      return await Deno.readTextFile(path);
    } catch (error) {
      throw new Error(`Cannot read the TLS ${what} ${path}: ${(error as Error).message}`);
    }
  };
  return { cert: await read(cert, "certificate"), key: await read(key, "key") };
}

function list(value: unknown): string[] {
  if (Array.isArray(value)) return value.map(String);
  return typeof value === "string" ? [value] : [];
}

function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || host.startsWith("127.");
}
