/**
 * Clients on one server, sessions on another: the traffic between them through the registry's
 * topics. The server that owns a session (holds its tracer) sees a client attached elsewhere as
 * an ordinary client whose link is a {@linkcode RemoteClientTransport}: everything the session
 * does for a client (routing, echoes, `attached`, pacing, the stall rule, dropping) works
 * unchanged. The client's own server runs a {@linkcode Relay}: it authenticated the client and
 * applies its own limits, then passes what the client sends up, and what the owner sends down.
 *
 * On the wire (each text published to one topic, in order):
 * - up, `qdb:up:SESSION`, JSON: `{"k":"join","c":ID,"name":..,"address":..,"access":..,
 *   "protocol":..,"startId":..}`, `{"k":"msg","c":ID,"m":MESSAGE}`, `{"k":"q","c":ID,"r":R,
 *   "b":B}` (the relay received R bytes for the client so far and B are queued for it there:
 *   this is what paces the session across the hop), `{"k":"leave","c":ID}`.
 * - down, `qdb:down:SESSION:CLIENT`: `m` and a message's JSON, or `x` (the owner closed the
 *   client's link).
 *
 * What is read from a topic is checked as any peer's input: a bad text is logged and dropped.
 *
 * @module
 */

import {
  checkEnvelope,
  errorEvent,
  isPlainObject,
  type Message,
  type MessageId,
  ProtocolError,
} from "../protocol/mod.ts";
import { AsyncQueue } from "../transport/async_queue.ts";
import { DrainWaiters } from "../transport/drain.ts";
import type { Incoming, MessageTransport } from "../transport/transport.ts";
import type { Access } from "./auth.ts";
import type { Registry } from "./registry.ts";

/** The topic a session's owner reads its remote clients' traffic from. */
export function upTopic(session: string): string {
  return `qdb:up:${session}`;
}

/** The topic one remote client's relay reads what the owner sends it from. */
export function downTopic(session: string, client: string): string {
  return `qdb:down:${session}:${client}`;
}

/** A client that joins a session on another server, as its relay tells the owner. */
export interface RemoteJoin {
  /** Its id (from the registry: unique among servers). */
  c: string;
  /** Its display name. */
  name: string;
  /** Its address, as its own server sees it. */
  address: string;
  /** What its server's auth granted. */
  access: Access;
  /** The protocol agreed at `start`. */
  protocol: number;
  /** The id of its `start`. */
  startId?: MessageId | undefined;
  /** It asked for the program's last output. */
  history?: boolean | undefined;
}

/** One text of the up topic. */
export type Up =
  | ({ k: "join" } & RemoteJoin)
  | { k: "msg"; c: string; m: Message }
  | { k: "q"; c: string; r: number; b: number }
  | { k: "leave"; c: string };

/** Parses one text of the up topic; throws a {@linkcode ProtocolError} naming what was wrong. */
export function parseUp(text: string): Up {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new ProtocolError("message", "not JSON");
  }
  const bad = (why: string) => new ProtocolError("payload", why);
  if (!isPlainObject(value) || typeof value.c !== "string" || value.c.length > 64) {
    throw bad("no client id");
  }
  switch (value.k) {
    case "join": {
      const { name, address, access, protocol, startId } = value;
      if (typeof name !== "string" || typeof address !== "string") throw bad("a join's names");
      if (access !== "full" && access !== "read-only") throw bad("a join's access");
      if (typeof protocol !== "number" || !Number.isInteger(protocol)) throw bad("a protocol");
      if (startId !== undefined && typeof startId !== "string" && typeof startId !== "number") {
        throw bad("a start id");
      }
      const history = value.history === true;
      return { k: "join", c: value.c, name, address, access, protocol, startId, history };
    }
    case "msg":
      return { k: "msg", c: value.c, m: checkEnvelope(value.m) };
    case "q": {
      const { r, b } = value;
      if (!isCount(r) || !isCount(b)) throw bad("a count");
      return { k: "q", c: value.c, r, b };
    }
    case "leave":
      return { k: "leave", c: value.c };
    default:
      throw bad(`an unknown kind ${JSON.stringify(String(value.k).slice(0, 20))}`);
  }
}

function isCount(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
}

/**
 * A client on another server, as the session's owner sees it: what is sent goes down its topic;
 * what it sends comes from the up topic (see {@linkcode RemoteClientTransport.receive}); its
 * queue is what the relay reported plus what is on its way.
 */
export class RemoteClientTransport implements MessageTransport {
  readonly incoming: AsyncQueue<Incoming> = new AsyncQueue<Incoming>();
  readonly remote: string;
  readonly closed: Promise<void>;
  readonly #registry: Registry;
  readonly #topic: string;
  readonly #log: (line: string) => void;
  readonly #drain = new DrainWaiters(() => this.queuedBytes);
  #closed = false;
  #resolveClosed!: () => void;
  /** Bytes sent down so far. */
  #sent = 0;
  /** What the relay last reported: received in all, and queued for the client. */
  #received = 0;
  #queued = 0;

  /** The owner's side of client `client` of `session`, attached through another server. */
  constructor(
    registry: Registry,
    session: string,
    client: string,
    remote: string,
    log: (line: string) => void,
  ) {
    this.#registry = registry;
    this.#topic = downTopic(session, client);
    this.remote = remote;
    this.#log = log;
    this.closed = new Promise((resolve) => this.#resolveClosed = resolve);
  }

  get isClosed(): boolean {
    return this.#closed;
  }

  /** On its way (sent, not yet received by the relay) and queued at the relay. */
  get queuedBytes(): number {
    return Math.max(0, this.#sent - this.#received) + this.#queued;
  }

  /** What the relay has written on to the client. */
  get writtenBytes(): number {
    return Math.max(0, this.#received - this.#queued);
  }

  send(msg: Message): boolean {
    return this.sendText(JSON.stringify(msg));
  }

  sendText(json: string): boolean {
    if (this.#closed) return false;
    this.#sent += json.length;
    this.#publish(`m${json}`);
    return true;
  }

  drained(limit: number, signal?: AbortSignal): Promise<void> {
    return this.#drain.wait(limit, signal);
  }

  /** What the relay sent up for this client. */
  receive(up: Up): void {
    if (this.#closed) return;
    if (up.k === "msg") this.incoming.push({ message: up.m });
    else if (up.k === "q") {
      this.#received = up.r;
      this.#queued = up.b;
      this.#drain.wake();
    } else if (up.k === "leave") this.#end();
  }

  close(): void {
    if (this.#closed) return;
    this.#publish("x");
    this.#end();
  }

  /**
   * Lets the client go without closing its link (this server handed the session over: the
   * client's relay joins the next owner).
   */
  detach(): void {
    this.#end();
  }

  /** Closed, by either side. */
  #end(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.incoming.end();
    this.#drain.close();
    this.#resolveClosed();
  }

  #publish(text: string): void {
    this.#registry.publish(this.#topic, text).catch((error) =>
      this.#log(`registry: publish to ${this.#topic} failed: ${error}`)
    );
  }

  [Symbol.asyncDispose](): Promise<void> {
    this.close();
    return this.closed;
  }
}

/** How far the relay's counts move before it reports them again. */
const REPORT_STEP_BYTES = 16 * 1024;
/** How often a relay looks at a client whose transport cannot say when it drained, in ms. */
const REPORT_POLL_MS = 20;

/**
 * A client relayed to a session owned by another server: its messages go up, the owner's come
 * down to it, and its queue is reported so that it paces the session as a local client would.
 */
export class Relay {
  readonly #registry: Registry;
  readonly #session: string;
  readonly #client: string;
  readonly #transport: MessageTransport;
  readonly #log: (line: string) => void;
  readonly #stop = new AbortController();
  #join!: RemoteJoin;

  /** The client's link. */
  get transport(): MessageTransport {
    return this.#transport;
  }
  /** The server that owns the session, as this relay knows it. */
  owner = "";
  #received = 0;
  #reported = { r: 0, b: 0 };
  #watching = false;

  private constructor(
    registry: Registry,
    session: string,
    client: string,
    transport: MessageTransport,
    log: (line: string) => void,
  ) {
    this.#registry = registry;
    this.#session = session;
    this.#client = client;
    this.#transport = transport;
    this.#log = log;
  }

  /**
   * Relays `transport`, client `join.c`, to `session` on its owner: subscribes to what comes
   * down, then says it joined (so that nothing the owner answers is missed).
   */
  static async open(
    registry: Registry,
    session: string,
    join: RemoteJoin,
    transport: MessageTransport,
    log: (line: string) => void,
    owner: string,
  ): Promise<Relay> {
    const relay = new Relay(registry, session, join.c, transport, log);
    relay.#join = join;
    relay.owner = owner;
    await registry.subscribe(
      downTopic(session, join.c),
      (text) => relay.#down(text),
      relay.#stop.signal,
    );
    relay.#up({ k: "join", ...join });
    return relay;
  }

  /**
   * One item the client sent: up to the owner (a bad frame is answered here). When no server
   * takes it (the owner died, and the session's tracer has not come to another yet), the client
   * is told it was not sent: never a silent drop.
   */
  send(item: Incoming): void {
    if ("error" in item) {
      this.#transport.send(errorEvent(item.error));
      return;
    }
    const msg = item.message;
    this.#up({ k: "msg", c: this.#client, m: msg }, () => {
      const e = String(msg.e).slice(0, 64);
      this.#transport.send(errorEvent(
        new ProtocolError(
          "tracer",
          `The server of session "${this.#session}" is away (its tracer is moving to another); "${e}" was not sent`,
          { command: e, id: msg.id },
        ),
      ));
    });
  }

  /**
   * The session has a new owner (its tracer moved there, after its server died or handed it
   * over): the client joins it there, and is sent `attached` again.
   */
  rejoin(owner: string): void {
    if (owner === this.owner || this.#stop.signal.aborted) return;
    this.owner = owner;
    this.#reported = { r: this.#received, b: 0 };
    this.#up({ k: "join", ...this.#join });
  }

  /** The client left: the owner is told, and nothing more comes down. Idempotent. */
  leave(): void {
    if (this.#stop.signal.aborted) return;
    this.#stop.abort();
    this.#up({ k: "leave", c: this.#client });
  }

  #down(text: string): void {
    const transport = this.#transport;
    if (text === "x") {
      this.#stop.abort();
      transport.close();
      return;
    }
    const json = text.slice(1);
    let msg: Message;
    try {
      if (text[0] !== "m") throw new ProtocolError("payload", "an unknown kind");
      msg = checkEnvelope(JSON.parse(json));
    } catch (error) {
      this.#log(`registry: a bad text for client ${this.#client} was dropped: ${error}`);
      return;
    }
    this.#received += json.length;
    if (transport.sendText) transport.sendText(json);
    else transport.send(msg);
    this.#report();
  }

  /** Reports the client's queue when it moved enough, and watches it drain while it holds any. */
  #report(): void {
    const b = this.#transport.queuedBytes ?? 0;
    const r = this.#received;
    const moved = Math.abs(b - this.#reported.b) >= REPORT_STEP_BYTES ||
      r - this.#reported.r >= REPORT_STEP_BYTES || (b === 0 && this.#reported.b > 0);
    if (moved) {
      this.#reported = { r, b };
      this.#up({ k: "q", c: this.#client, r, b });
    }
    if (b > 0 && !this.#watching) void this.#watchDrain();
  }

  /** While the client has anything queued: reports as it drains. */
  async #watchDrain(): Promise<void> {
    this.#watching = true;
    const signal = this.#stop.signal;
    try {
      while (!signal.aborted && !this.#transport.isClosed) {
        const b = this.#transport.queuedBytes ?? 0;
        if (b === 0) break;
        const limit = Math.max(0, b - REPORT_STEP_BYTES);
        const drained = this.#transport.drained?.(limit, signal);
        if (drained) await drained;
        else await new Promise((resolve) => setTimeout(resolve, REPORT_POLL_MS));
        const now = this.#transport.queuedBytes ?? 0;
        this.#reported = { r: this.#received, b: now };
        if (!signal.aborted) this.#up({ k: "q", c: this.#client, r: this.#received, b: now });
      }
    } finally {
      this.#watching = false;
    }
  }

  /** Publishes to the owner; `lost` is called when nobody took it (or the registry failed). */
  #up(up: Up, lost?: () => void): void {
    this.#registry.publish(upTopic(this.#session), JSON.stringify(up)).then(
      (receivers) => {
        if (receivers === 0) lost?.();
      },
      (error) => {
        this.#log(`registry: publish to ${upTopic(this.#session)} failed: ${error}`);
        lost?.();
      },
    );
  }
}
