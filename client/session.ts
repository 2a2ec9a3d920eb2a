/**
 * The shared client model of a session: what every client (the terminal, the editor adapters,
 * a browser) knows from the events it receives, kept by the same rules. Whether the program runs
 * or where it stopped, its breakpoints and watches, who else is attached, how it ended.
 *
 * It holds no connection and prints nothing: a client feeds it every event (`apply`) and reads
 * the state back. `apply` says whether an event brought news, so that a client shows a stop
 * once even when the same state comes again (the answer to a second client's `start`).
 *
 * @example
 * ```ts
 * import { SessionModel } from "./session.ts";
 * const model = new SessionModel();
 * model.apply({ e: "running" });
 * model.running; // true
 * ```
 * @module
 */

import type {
  Breakpoint,
  ChildInfo,
  ClientInfo,
  EventPayloads,
  ExceptionPayload,
  MessageId,
  StackPayload,
  TracerInfo,
  Watch,
} from "../protocol/mod.ts";
import type { SessionEvent } from "./events.ts";

/** What an event did to the model. */
export type Applied =
  /** The state changed (or the event carries news: output, errors...). */
  | "changed"
  /** The same stop again: nothing new to show. */
  | "same"
  /** An answer to attaching that is older than what the model already knows: ignored. */
  | "stale";

/** Options of {@linkcode SessionModel}. */
export interface SessionModelOptions {
  /** The id this client's `start` carried: the state sent in answer to it may be stale. */
  startId?: MessageId;
  /** The tracer, when `attached` was read before the model was made. */
  tracer?: TracerInfo | null | undefined;
}

/** How the program ended. */
export type ExitInfo = EventPayloads["exited"];

/** The state of one session as a client sees it. */
export class SessionModel {
  readonly #startId: MessageId | undefined;
  #tracer: TracerInfo | null = null;
  #you = "";
  #protocol = 1;
  readonly #clients = new Map<string, ClientInfo>();
  #running: boolean | undefined = undefined;
  #stop: StackPayload | undefined;
  #exception: ExceptionPayload | undefined;
  #breakpoints: Breakpoint[] = [];
  #watches: Watch[] = [];
  #exit: ExitInfo | undefined;
  #ended = false;
  #parent: string | undefined;
  readonly #children = new Map<string, ChildInfo>();

  /** An empty model: nothing is known until events come. */
  constructor(options: SessionModelOptions = {}) {
    this.#startId = options.startId;
    this.#tracer = options.tracer ?? null;
  }

  /** The tracer, as `attached` described it; null while none is attached. */
  get tracer(): TracerInfo | null {
    return this.#tracer;
  }

  /** This client's id on the server. */
  get you(): string {
    return this.#you;
  }

  /** The protocol version agreed with the server. */
  get protocol(): number {
    return this.#protocol;
  }

  /** The clients of the session (this one included), by id. */
  get clients(): ReadonlyMap<string, ClientInfo> {
    return this.#clients;
  }

  /** Whether the program runs; undefined until the tracer has said. */
  get running(): boolean | undefined {
    return this.#running;
  }

  /** Where the program is stopped, while it is. */
  get stop(): StackPayload | undefined {
    return this.#running ? undefined : this.#stop;
  }

  /** The exception of the current stop, if it stopped on one. */
  get exception(): ExceptionPayload | undefined {
    return this.#exception;
  }

  /** Every breakpoint, as last sent. */
  get breakpoints(): readonly Breakpoint[] {
    return this.#breakpoints;
  }

  /** Every watch with its value at the last stop. */
  get watches(): readonly Watch[] {
    return this.#watches;
  }

  /** How the program ended, once it has. */
  get exit(): ExitInfo | undefined {
    return this.#exit;
  }

  /** For a child session: its parent's session id. */
  get parent(): string | undefined {
    return this.#parent;
  }

  /**
   * The live child sessions that descend from this one (its children, theirs...), by session
   * id, as last told (`attached`, `child`). One that ended is forgotten.
   */
  get children(): ReadonlyMap<string, ChildInfo> {
    return this.#children;
  }

  /** True once debugging is over (the tracer said `disabled`, or the server `disable`). */
  get ended(): boolean {
    return this.#ended;
  }

  /**
   * This client resumed the program: it counts as running from now on (the tracer's `running`
   * confirms it later), so that what the person types next is judged against that.
   */
  resumed(): void {
    // The stop is kept (not shown) until the tracer's `running`: a state reply to `start`
    // that still shows it is then known to be stale.
    this.#running = true;
    this.#exception = undefined;
  }

  /**
   * The tracer refused this client's resume (`until` a line behind, `debug` of code that does
   * not compile): the program never ran, and is stopped where it was.
   */
  resumeRefused(): void {
    if (this.#stop !== undefined) this.#running = false;
  }

  /** Takes one event into the model. */
  apply(event: SessionEvent): Applied {
    switch (event.e) {
      case "attached":
        this.#tracer = event.p.tracer;
        this.#you = event.p.you;
        this.#protocol = event.p.protocol;
        this.#clients.clear();
        for (const client of event.p.clients) this.#clients.set(client.id, client);
        this.#parent = event.p.parent;
        this.#children.clear();
        for (const child of event.p.children ?? []) this.#children.set(child.session, child);
        return "changed";
      case "child":
        if (event.p.state === "ended") this.#children.delete(event.p.session);
        else this.#children.set(event.p.session, event.p);
        return "changed";
      case "clients":
        if (event.p.clients) {
          this.#clients.clear();
          for (const client of event.p.clients) this.#clients.set(client.id, client);
        }
        if (event.p.joined) this.#clients.set(event.p.joined.id, event.p.joined);
        if (event.p.left) this.#clients.delete(event.p.left.id);
        return "changed";
      case "stack": {
        // The state sent in answer to attaching may be older than what this client did since:
        // a stop already shown, or one it has resumed from.
        if (this.#startId !== undefined && event.id === this.#startId && this.#stop) {
          if (this.#running || sameStop(this.#stop, event.p)) return "stale";
        }
        const same = this.#running === false && this.#stop !== undefined &&
          sameStop(this.#stop, event.p);
        this.#running = false;
        this.#stop = event.p;
        return same ? "same" : "changed";
      }
      case "exception":
        this.#exception = event.p;
        return "changed";
      case "running":
        this.resumed();
        this.#stop = undefined;
        return "changed";
      case "breakpoints":
        this.#breakpoints = event.p;
        return "changed";
      case "watchlist":
        this.#watches = event.p;
        return "changed";
      case "exited":
        this.#exit = event.p;
        this.#running = false;
        this.#stop = undefined;
        return "changed";
      case "disabled":
      case "disable":
        this.#ended = true;
        return "changed";
      default:
        return "changed";
    }
  }
}

/** The same stop: frames, selection and thread (a `start` reply may lack the reason). */
export function sameStop(a: StackPayload, b: StackPayload): boolean {
  return a.index === b.index && a.thread?.id === b.thread?.id &&
    JSON.stringify(a.stack) === JSON.stringify(b.stack);
}
