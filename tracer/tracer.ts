/**
 * The tracer: runs a program under a debug engine and relays between it and the server.
 * Engine events go to the server (and the program's output to the tracer's own terminal);
 * client commands go to the engine. If the link to the server is lost, the tracer connects
 * again (with growing delays) while the program keeps its state, and takes its session back;
 * if the server does not come back in time, or ends the session itself, debugging is detached
 * (soft) and the program runs on.
 *
 * @module
 */

import type {
  ChildEngineSession,
  Engine,
  EngineInfo,
  EngineSession,
  ExitStatus,
  LaunchOptions,
} from "../engine/engine.ts";
import { DebugCore } from "../core/core.ts";
import type { Message } from "../protocol/mod.ts";
import { connectTracerLink, errorPayloadOf, LinkRefusedError, type TracerLink } from "./link.ts";
import { serverList } from "../transport/transport.ts";
import { SessionTree } from "./tree.ts";

/** Options of {@linkcode startTracer}. */
export interface TracerOptions extends LaunchOptions {
  /** The engine that runs the program. */
  engine: Engine;
  /**
   * Attach to this running process instead of launching `program` (the engine must be able
   * to: {@linkcode Engine.attach}); closing the tracer detaches, and the program runs on.
   */
  attachPid?: number | undefined;
  /** The server's tracer address. Default `tcp://127.0.0.1:8001`. */
  server?: string | undefined;
  /** PEM certificates of the CAs that may sign a `tls://` server's certificate. */
  caCerts?: string[] | undefined;
  /** The session id. Default: a random UUID. */
  session?: string | undefined;
  /** The server's token. */
  token?: string | undefined;
  /**
   * The groups the session is a member of (its children's are members too): clients may set
   * breakpoints, logpoints and snapshots on a whole group. Labels: they grant nothing.
   */
  groups?: string[] | undefined;
  /** Connection attempts after a failure, when first connecting. Default 5. */
  retries?: number;
  /**
   * After losing the server, how long to keep trying to reach it again, in ms. The program
   * keeps its state meanwhile (a stopped program stays stopped); then it runs on untraced.
   * 0: detach at once. Default 60 000.
   */
  reconnectFor?: number;
  /**
   * Receives the program's output, for the tracer's own terminal. `relayed` is false for output
   * that no client will see (it came after a soft disable ended the session).
   */
  onOutput?:
    | ((stream: "stdout" | "stderr", text: string, relayed: boolean) => void)
    | undefined;
  /** Receives status lines worth showing the person who started the tracer. */
  onStatus?: ((line: string) => void) | undefined;
  /** Hears of each child process that became a session (with `followChildren`). */
  onChild?: ((child: ChildSessionInfo) => void) | undefined;
}

/** A child process that became a session of its own. */
export interface ChildSessionInfo {
  /** Its session id. */
  session: string;
  /** Its parent's session id. */
  parent: string;
  /** What runs. */
  info: EngineInfo;
}

/** A running tracer. */
export interface RunningTracer extends AsyncDisposable {
  /** The session id. */
  readonly session: string;
  /** Where clients attach, if the server said. */
  readonly clientUrl: string | undefined;
  /** True once the program has ended. */
  readonly ended: boolean;
  /** What runs. */
  readonly info: EngineInfo;
  /** Resolves with the program's exit status once it ended and everything was relayed. */
  readonly done: Promise<ExitStatus>;
  /** Writes to the program's standard input (when it was launched with `stdin: "piped"`). */
  input(text: string): void;
  /** Ends the program's standard input (it reads end of file once what was written is read). */
  inputEnd(): void;
  /** Sends a signal to the program (as Ctrl-C in the tracer's terminal would). */
  kill(signal: Deno.Signal): void;
  /** Ends the program (if still running) and the link. Idempotent. */
  close(): Promise<void>;
}

/** The host name to report, or "unknown" where the runtime may not tell. */
function hostName(): string {
  try {
    return Deno.hostname();
  } catch {
    return "unknown";
  }
}

/**
 * Launches the program under `options.engine` and connects it to the server. With
 * `followChildren`, each child process the engine follows becomes a session of its own (see
 * {@linkcode childSessionId}), linked to its parent's.
 *
 * @throws {Error} when the program cannot start or the server cannot be reached (the program
 * is ended then).
 */
export async function startTracer(options: TracerOptions): Promise<RunningTracer> {
  // Flow control: the program's output is read at the pace the server takes it (set once the
  // link is up; while it is away, the backlog keeps what it can and drops the rest).
  let flow: () => Promise<void> = () => Promise.resolve();
  let program: EngineSession;
  if (options.attachPid !== undefined) {
    if (!options.engine.attach) {
      throw new Error(`The ${options.engine.name} engine cannot attach to a running process`);
    }
    program = await options.engine.attach({
      ...options,
      pid: options.attachPid,
      flow: () => flow(),
    });
  } else {
    program = await options.engine.launch({
      ...options,
      flow: () => flow(),
      // A child that outlives the program still prints: to the tracer's terminal, as it would.
      onLateOutput: (stream, text) => options.onOutput?.(stream, text, false),
    });
  }
  const linkOptions = {
    server: options.server ?? "tcp://127.0.0.1:8001",
    caCerts: options.caCerts,
    auth: options.token,
    // One list for the program and its children: groups it joins while it runs are theirs too.
    groups: [...(options.groups ?? [])],
  };
  const tree = new SessionTree<Relay>();
  let root: Relay;
  try {
    root = await relaySession(program, {
      onCommand: (session, command) => tree.command(session, command),
      ...linkOptions,
      session: options.session,
      retries: options.retries ?? 5,
      reconnectFor: options.reconnectFor ?? 60_000,
      onStatus: options.onStatus,
      onOutput: options.onOutput,
      signal: options.signal,
    });
  } catch (error) {
    await program.dispose();
    throw error;
  }
  flow = root.flow;
  tree.add(root, undefined);
  const children = followChildren(program, root, tree, {
    ...linkOptions,
    reconnectFor: options.reconnectFor ?? 60_000,
    onStatus: options.onStatus,
    onChild: options.onChild,
    signal: options.signal,
  });

  let closing: Promise<void> | undefined;
  const close = () =>
    closing ??= (async () => {
      await program.dispose();
      await Promise.allSettled([root.close(), children.close()]);
    })();
  const done = (async () => {
    const status = await program.exited;
    await root.done;
    // A child that outlives the program is still debugged: the tracer waits for it.
    await children.done;
    return status;
  })();
  let ended = false;
  program.exited.then(() => ended = true, () => ended = true);
  return {
    session: root.session,
    clientUrl: root.clientUrl,
    get ended() {
      return ended;
    },
    info: program.info,
    done,
    kill: (signal) => program.kill(signal),
    input: (text) => program.send({ e: "input", p: text }),
    inputEnd: () => program.send({ e: "input", p: { eof: true } }),
    close,
    [Symbol.asyncDispose]: close,
  };
}

/**
 * The session id of a child: its parent's id, `/`, its process id (`backtest-42/1234`, and a
 * grandchild `backtest-42/1234/1250`). Past 128 characters, the root's id stands for the
 * parent's (`backtest-42/1250`), shortened as needed.
 */
export function childSessionId(parent: string, root: string, pid: number): string {
  const tail = `/${pid}`;
  if (parent.length + tail.length <= 128) return parent + tail;
  return root.slice(0, 128 - tail.length) + tail;
}

/** The relays of the children of `program`, as they come. */
function followChildren(
  program: EngineSession,
  root: Relay,
  tree: SessionTree<Relay>,
  options: Omit<RelayOptions, "session" | "retries" | "parent" | "tree"> & {
    onChild?: TracerOptions["onChild"];
  },
): { done: Promise<void>; close(): Promise<void> } {
  const engines = new Set<ChildEngineSession>();
  const sessionOf = new Map<number, string>([[program.info.pid, root.session]]);
  const pending = new Set<Promise<unknown>>();
  let closed = false;
  const adopt = async (child: ChildEngineSession) => {
    if (closed) return await child.dispose();
    engines.add(child);
    child.exited.finally(() => engines.delete(child));
    const parent = sessionOf.get(child.parentPid) ?? root.session;
    const id = childSessionId(parent, root.session, child.info.pid);
    let relay: Relay;
    try {
      relay = await relaySession(child, {
        ...options,
        session: id,
        parent,
        tree: root.tree,
        retries: 2,
        onCommand: (session, command) => tree.command(session, command),
      });
    } catch (error) {
      // Refused (too many children, say): the child runs on untraced.
      options.onStatus?.(
        `child ${child.info.pid} runs untraced: ${error instanceof Error ? error.message : error}`,
      );
      child.send({ e: "disable", p: "soft" });
      await child.dispose();
      return;
    }
    child.flow = relay.flow;
    sessionOf.set(child.info.pid, relay.session);
    tree.add(relay, parent);
    options.onChild?.({ session: relay.session, parent, info: child.info });
    await relay.done;
    tree.remove(relay);
  };
  const done = (async () => {
    for await (const child of program.children ?? []) {
      const adopting = adopt(child);
      pending.add(adopting);
      adopting.finally(() => pending.delete(adopting));
    }
    while (pending.size > 0) await Promise.allSettled([...pending]);
  })();
  return {
    done,
    async close() {
      // The tracer is going: children that outlive the program run on untraced.
      closed = true;
      await Promise.allSettled([
        ...tree.descendants(root.session).map((relay) => relay.close()),
        ...[...engines].map((child) => child.dispose()),
      ]);
    },
  };
}

/** Options of {@linkcode relaySession}. */
interface RelayOptions {
  server: string;
  caCerts?: string[] | undefined;
  auth?: string | undefined;
  session?: string | undefined;
  /** The session's groups. */
  groups?: string[] | undefined;
  /** The parent session, for a child's. */
  parent?: string | undefined;
  /** For a child's session: its tree's key, from the root's `started`. */
  tree?: string | undefined;
  retries: number;
  reconnectFor: number;
  onStatus?: ((line: string) => void) | undefined;
  onOutput?: TracerOptions["onOutput"];
  signal?: AbortSignal | undefined;
  /** Sees each client command first, and says what of it goes to this session's core. */
  onCommand?: ((session: string, command: Message) => Message) | undefined;
}

/** One engine session relayed to its server session. */
interface Relay {
  readonly session: string;
  readonly clientUrl: string | undefined;
  /** The key of the session's tree, for its children's `start`. */
  readonly tree: string | undefined;
  /** Resolves when the link can take more of the program's output. */
  readonly flow: () => Promise<void>;
  /** Resolves once every event was relayed (the engine session ended). */
  readonly done: Promise<void>;
  /** Sends a command to the session's core, as a client would (without an id: no reply). */
  send(command: Message): void;
  /** Closes the link. Idempotent. */
  close(): Promise<void>;
}

/**
 * Relays between an engine session and its session on the server: client commands go through
 * a core (protocol 2's replies) to the engine; the engine's events go to the server, or to a
 * bounded backlog while the link is away.
 */
async function relaySession(program: EngineSession, options: RelayOptions): Promise<Relay> {
  const core = new DebugCore(program);
  const { engine, program: file, argv, pid, cwd, runtime, capabilities } = program.info;
  const linkOptions = {
    server: options.server,
    caCerts: options.caCerts,
    auth: options.auth,
    tree: options.tree,
    info: {
      engine,
      program: file,
      argv,
      pid,
      host: hostName(),
      cwd,
      runtime,
      capabilities,
      ...(options.groups?.length ? { groups: options.groups } : {}),
      ...(options.parent !== undefined ? { parent: options.parent } : {}),
    },
  };
  let link = await connectTracerLink({
    ...linkOptions,
    session: options.session,
    retries: options.retries,
    onRetry: (n, error) =>
      options.onStatus?.(`cannot reach the server (${error.message}); retry ${n}`),
    ...(options.signal ? { signal: options.signal } : {}),
  });
  const session = link.session;
  const reconnectFor = options.reconnectFor;
  /** linked: events go to the server; away: they wait in the backlog; detached: no server. */
  let state = "linked" as "linked" | "away" | "detached";
  const backlog = new Backlog(MAX_BACKLOG_BYTES);
  /** Ends a reconnection attempt when the program ends or the tracer closes. */
  const stop = new AbortController();
  let disabled = false;

  const deliver = (event: Message) => {
    if (state === "linked" && link.send(event)) return;
    if (state !== "detached") backlog.push(event);
  };

  const relayEvents = (async () => {
    for await (const event of core.events) {
      if (event.e === "groups" && options.groups) {
        // Kept for a new link (after losing the server) and for children started later.
        for (const group of event.p) {
          if (!options.groups.includes(group)) options.groups.push(group);
        }
        linkOptions.info.groups = [...options.groups];
      }
      if (event.e === "print") {
        const p = event.p;
        const relayed = state !== "detached";
        if (p.input === "<stdout>") options.onOutput?.("stdout", p.output, relayed);
        else if (p.input === "<stderr>") options.onOutput?.("stderr", p.output, relayed);
      }
      if (event.e === "error" && event.id === undefined && options.parent === undefined) {
        // A --break the engine could not set: said here too, before anyone attaches.
        const p = event.p;
        if (p.command === "set_break") options.onStatus?.(`--break: ${String(p.data)}`);
      }
      if (state === "detached") continue;
      deliver(event);
      if (event.e === "disabled") {
        disabled = true;
        // Soft: the program runs on without qdb, and the session is over now. Hard: the
        // program is ending; its exit status follows before the events end.
        if (event.p?.mode !== "hard") {
          state = "detached";
          link.close();
        }
      }
    }
    stop.abort();
    link.close();
  })();

  const detach = (why: string) => {
    state = "detached";
    backlog.clear();
    if (disabled) return;
    options.onStatus?.(`${why}: debugging is detached and the program runs on`);
    program.send({ e: "disable", p: "soft" });
  };

  const relayCommands = (async () => {
    while (true) {
      for await (const command of link.commands) {
        if (command.e === "error") {
          options.onStatus?.(`server: ${errorPayloadOf(command.p).data}`);
          continue;
        }
        core.send(options.onCommand?.(session, command) ?? command);
      }
      // The link is closed. On purpose (the server ended the session, the program ended,
      // debugging was detached), or lost. The server's word first: the program's `disabled`
      // answer may have come before the link closed.
      if (link.disabledByServer) {
        // The server's `disable` (soft or hard) went to the program already: say which.
        state = "detached";
        backlog.clear();
        if (options.parent === undefined) {
          options.onStatus?.(
            link.disableMode === "hard"
              ? "the server ended the session, and the program with it (hard)"
              : "the server ended the session: debugging is detached and the program runs on",
          );
        }
        return;
      }
      if (disabled || state === "detached" || stop.signal.aborted) return;
      if (reconnectFor <= 0) return detach("lost the server");
      state = "away";
      options.onStatus?.(
        `lost the server; reconnecting for up to ${reconnectFor / 1000} s ` +
          "(the program keeps its state meanwhile)",
      );
      const back = await reconnect(linkOptions, session, link, reconnectFor, stop.signal)
        .catch((error: Error) => error);
      if (stop.signal.aborted) return;
      if (back instanceof Error) return detach(back.message);
      link = back;
      state = "linked";
      const dropped = backlog.dropped;
      for (const event of backlog.drain()) link.send(event);
      options.onStatus?.(
        `reconnected to ${link.server} as session ${session}` +
          (dropped ? ` (${dropped} events from while it was away were dropped)` : ""),
      );
    }
  })();

  let closing: Promise<void> | undefined;
  return {
    session,
    clientUrl: link.clientUrl,
    get tree() {
      return options.tree ?? link.tree;
    },
    flow: () => state === "linked" ? link.writable() : Promise.resolve(),
    done: relayEvents,
    send: (command) => core.send(command),
    close: () =>
      closing ??= (async () => {
        stop.abort();
        link.close();
        await Promise.allSettled([relayEvents, relayCommands, link.closed]);
      })(),
  };
}

/** Most bytes of events kept while the server is away (the oldest go first past it). */
const MAX_BACKLOG_BYTES = 4 * 1024 * 1024;

/** Events kept while the link is down, bounded in bytes. */
class Backlog {
  readonly #items: { event: Message; size: number }[] = [];
  #bytes = 0;
  /** Events dropped (oldest first) since the last drain. */
  dropped = 0;

  constructor(readonly maxBytes: number) {}

  push(event: Message): void {
    const size = JSON.stringify(event).length;
    this.#items.push({ event, size });
    this.#bytes += size;
    while (this.#bytes > this.maxBytes && this.#items.length > 0) {
      this.#bytes -= this.#items.shift()!.size;
      this.dropped++;
    }
  }

  drain(): Message[] {
    const events = this.#items.splice(0).map((item) => item.event);
    this.#bytes = 0;
    this.dropped = 0;
    return events;
  }

  clear(): void {
    this.drain();
  }
}

/**
 * Connects again with growing delays until `ms` have passed, showing the session's resume key
 * (to the servers of a list in turn, from the one after the server lost).
 *
 * @throws {Error} saying why when it gives up (time is up, or the server refused).
 */
async function reconnect(
  options: Omit<Parameters<typeof connectTracerLink>[0], "session">,
  session: string,
  lost: TracerLink,
  ms: number,
  signal: AbortSignal,
): Promise<TracerLink> {
  const resume = lost.resume;
  const deadline = Date.now() + ms;
  let delay = 250;
  // Each try goes round the list from the server after the one lost (another server of the
  // cluster takes the session over with its resume key).
  const servers = serverList(options.server);
  let next = (servers.indexOf(lost.server) + 1) % servers.length;
  while (true) {
    for (let i = 0; i < servers.length; i++) {
      const server = servers[(next + i) % servers.length]!;
      try {
        const link = await connectTracerLink({
          ...options,
          server,
          session,
          resume,
          retries: 0,
          signal,
        });
        return link;
      } catch (error) {
        if (signal.aborted) throw error;
        if (error instanceof LinkRefusedError) {
          throw new Error(`the server refused to give the session back (${error.message})`);
        }
      }
    }
    next = 0;
    const left = deadline - Date.now();
    if (left <= 0) throw new Error(`the server did not come back in ${ms / 1000} s`);
    await sleep(Math.min(delay, left), signal);
    delay = Math.min(delay * 2, 5000);
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}
