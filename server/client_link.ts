/**
 * A client's link: its `start` and authentication, its place in the session (`attached`, what
 * the program printed while nobody was there, the others told it joined), the commands it sends
 * (checked, then routed to the tracer and echoed to the others), and its leaving.
 *
 * @module
 */

import {
  checkClientMessage,
  type ClientMessage,
  COMMANDS,
  errorEvent,
  isCommandName,
  isRequestCommand,
  type Message,
  message,
  PROTOCOL_VERSION,
  ProtocolError,
} from "../protocol/mod.ts";
import type { Incoming, MessageTransport } from "../transport/transport.ts";
import type { Admission } from "./admission.ts";
import type { Access, AuthRequest } from "./auth.ts";
import { refuse, type ServerContext } from "./context.ts";
import { seconds } from "./options.ts";
import { clientInfo, type ClientPeer, MAX_EARLY_BYTES, type Session } from "./session.ts";
import {
  downTopic,
  parseUp,
  Relay,
  RemoteClientTransport,
  type RemoteJoin,
  type Up,
  upTopic,
} from "./bus.ts";

/** Whether other clients are told of a command (see `command`): the command table says. */
function echoed(e: string): boolean {
  return isCommandName(e) && COMMANDS[e].echoed;
}

/** Commands the server answers itself, for read-only clients too: the snapshots it keeps. */
function serverAnswered(e: string): boolean {
  return e !== "start" && isCommandName(e) && COMMANDS[e].answeredBy === "server";
}

/** What a client's valid, authenticated `start` gave. */
export interface ClientStart {
  /** The `start` message. */
  start: Extract<ClientMessage, { e: "start" }>;
  /** The name the client gave. */
  name: string | undefined;
  /** The protocol version it asked for. */
  protocol: number | undefined;
  /** Its auth string (judged again for each member of a group). */
  auth: string;
  /** What the auth function granted. */
  access: Access;
  /** It asked for the program's last output (`history`). */
  history: boolean;
}

/**
 * Serves one client of session `sessionId` until it leaves: here, or relayed to the server that
 * owns the session.
 */
export async function serveClient(
  ctx: ServerContext,
  admission: Admission,
  transport: MessageTransport,
  sessionId: string,
): Promise<void> {
  const incoming = transport.incoming[Symbol.asyncIterator]();
  const begun = await readStart(ctx, admission, transport, incoming, {
    valid: (t) => admission.validSessionId(t, sessionId),
    request: { role: "client", session: sessionId },
    what: `session ${sessionId}: client`,
  });
  if (!begun) return;
  const id = await ctx.newClientId();
  const client: ClientPeer = {
    id,
    name: begun.name || id,
    transport,
    startId: begun.start.id,
    access: begun.access,
    // Clients that do not say are the original qdb's: protocol 1.
    protocol: Math.min(begun.protocol ?? 1, PROTOCOL_VERSION),
    history: begun.history,
  };
  await enter(ctx, sessionId, client, incoming, true);
}

/**
 * An authenticated client in session `sessionId` until it leaves: here, or relayed to the
 * server that owns the session. With `create` false, a session nobody knows is not made (the
 * client's link is closed).
 */
export async function enter(
  ctx: ServerContext,
  sessionId: string,
  client: ClientPeer,
  incoming: AsyncIterator<Incoming>,
  create: boolean,
): Promise<void> {
  const transport = client.transport;
  const owner = ctx.sessions.has(sessionId) ? undefined : await ownerElsewhere(ctx, sessionId);
  if (ctx.closed || transport.isClosed) return transport.close();
  if (owner !== undefined && !ctx.sessions.has(sessionId)) {
    return await relay(ctx, sessionId, client, incoming, owner);
  }
  const session = ctx.sessions.get(sessionId) ??
    (create ? ctx.newSession(transport, sessionId) : undefined);
  if (!session) return transport.close();
  await attend(ctx, session, client, incoming);
}

/** The server that owns session `id`, when it is not this one. */
async function ownerElsewhere(ctx: ServerContext, id: string): Promise<string | undefined> {
  try {
    const owner = (await ctx.registry.find(id))?.owner;
    return owner && owner !== ctx.registry.server ? owner : undefined;
  } catch (error) {
    // The registry is away: the client waits here, as on a server of its own.
    ctx.registryFailed(`finding session ${id}`, error);
    return undefined;
  }
}

/**
 * A client in its session on this server, until it leaves (or, when the session moves to the
 * server its tracer came to, is relayed there).
 */
async function attend(
  ctx: ServerContext,
  session: Session,
  client: ClientPeer,
  incoming: AsyncIterator<Incoming>,
): Promise<void> {
  const max = ctx.settings.limits.maxClientsPerSession;
  if (session.clients.size >= max) {
    return refuse(
      client.transport,
      new ProtocolError("limit", `Session "${session.id}" has the most clients it takes (${max})`),
    );
  }
  join(ctx, session, client);
  while (true) {
    const next = await incoming.next();
    if (next.done) break;
    if (client.relay) {
      client.relay.send(next.value);
      continue;
    }
    // A read-only client cannot keep a session alive: it attends nothing.
    if (client.access !== "read-only") session.lastActivity = Date.now();
    handleMessage(ctx, session, client, next.value);
  }
  if (client.relay) {
    client.relay.leave();
    ctx.log(`session ${session.id}: client ${client.id} left`);
    return;
  }
  // A client dropped as too slow has left already.
  if (!session.removeClient(client)) return;
  ctx.log(`session ${session.id}: client ${client.id} left`);
  if (session.ended) return;
  session.sendClients({ e: "clients", p: { left: clientInfo(client) } });
  ctx.present(session);
  if (!session.tracer && session.clients.size === 0) ctx.forget(session);
}

/** A client relayed to the server that owns its session, until it leaves. */
async function relay(
  ctx: ServerContext,
  sessionId: string,
  client: ClientPeer,
  incoming: AsyncIterator<Incoming>,
  owner: string,
): Promise<void> {
  const where = `session ${sessionId}: client ${client.id} (${client.name})`;
  ctx.log(`${where} attached from ${client.transport.remote}, relayed to server ${owner}`);
  let relayed: Relay;
  try {
    relayed = await openRelay(ctx, sessionId, client, owner);
  } catch (error) {
    ctx.log(`${where}: the registry failed (${error}); closed`);
    return refuse(
      client.transport,
      new ProtocolError("session", `Session "${sessionId}" could not be reached: ${error}`),
    );
  }
  while (true) {
    const next = await incoming.next();
    if (next.done) break;
    relayed.send(next.value);
  }
  relayed.leave();
  ctx.log(`session ${sessionId}: client ${client.id} left`);
}

/** Opens a client's relay to `owner`, known to the server (see `ServerContext.relays`). */
async function openRelay(
  ctx: ServerContext,
  sessionId: string,
  client: ClientPeer,
  owner: string,
): Promise<Relay> {
  const { registry, log } = ctx;
  const relay = await Relay.open(
    registry,
    sessionId,
    joinOf(client),
    client.transport,
    log,
    owner,
  );
  let relays = ctx.relays.get(sessionId);
  if (!relays) ctx.relays.set(sessionId, relays = new Set());
  relays.add(relay);
  client.transport.closed.then(() => {
    relays.delete(relay);
    if (relays.size === 0 && ctx.relays.get(sessionId) === relays) ctx.relays.delete(sessionId);
  });
  return relay;
}

/** What a client's relay tells the owner of it. */
function joinOf(client: ClientPeer): RemoteJoin {
  return {
    c: client.id,
    name: client.name,
    address: client.transport.remote,
    access: client.access,
    protocol: client.protocol,
    startId: client.startId,
    ...(client.history ? { history: true } : {}),
  };
}

/**
 * The session's tracer came to another server while clients waited for it here: they are
 * relayed there (the owner sends each `attached` again, as when a tracer comes), and the session
 * is forgotten here.
 */
export async function moveClients(
  ctx: ServerContext,
  session: Session,
  owner: string,
): Promise<void> {
  ctx.log(`session ${session.id}: its tracer is on server ${owner}; its clients here move there`);
  // Each client's relay stands in at once: nothing a client sends meanwhile is taken here, and
  // what it sends is passed on in order once its relay is open.
  const opening = [...session.clients.values()].map((client) => {
    const relay = openRelay(ctx, session.id, client, owner);
    client.relay = {
      send: (item) => void relay.then((r) => r.send(item), () => {}),
      leave: () => void relay.then((r) => r.leave(), () => {}),
    };
    return { client, relay };
  });
  ctx.forget(session);
  for (const { client, relay } of opening) {
    try {
      client.relay = await relay;
    } catch (error) {
      ctx.log(`session ${session.id}: client ${client.id} could not move (${error}); closed`);
      client.transport.close();
    }
  }
}

/**
 * Takes the clients of `session` that attach through other servers, while this server owns it
 * (until the session is forgotten here).
 */
export async function hostRemoteClients(ctx: ServerContext, session: Session): Promise<void> {
  const stop = ctx.hostRemote(session.id);
  if (!stop) return;
  const remotes = new Map<string, RemoteClientTransport>();
  await ctx.registry.subscribe(upTopic(session.id), (text) => {
    let up: Up;
    try {
      up = parseUp(text);
    } catch (error) {
      ctx.log(`registry: a bad text for session ${session.id} was dropped: ${error}`);
      return;
    }
    if (up.k !== "join") {
      const remote = remotes.get(up.c);
      if (remote) return remote.receive(up);
      if (up.k === "msg") unknownClient(ctx, session, up.c, up.m);
      return;
    }
    if (remotes.has(up.c)) return;
    const transport = new RemoteClientTransport(
      ctx.registry,
      session.id,
      up.c,
      up.address,
      ctx.log,
    );
    remotes.set(up.c, transport);
    transport.closed.then(() => remotes.delete(up.c));
    if (session.ended) return transport.close();
    const client: ClientPeer = {
      id: up.c,
      name: up.name,
      transport,
      startId: up.startId,
      access: up.access,
      protocol: Math.min(up.protocol, PROTOCOL_VERSION),
      history: up.history === true,
    };
    attend(ctx, session, client, transport.incoming[Symbol.asyncIterator]()).catch((error) => {
      ctx.log(`session ${session.id}: remote client ${client.id}: internal error: ${error}`);
      transport.close();
    });
  }, stop);
}

/**
 * A command from a client this server does not know as the session's (it took the session over
 * and the client's join has not come yet): the client is told it was not sent.
 */
function unknownClient(ctx: ServerContext, session: Session, client: string, msg: Message): void {
  const e = String(msg.e).slice(0, 64);
  const error = errorEvent(
    new ProtocolError(
      "session",
      `"${e}" was not sent: the server of session "${session.id}" does not know this client yet`,
      { command: e, id: msg.id },
    ),
  );
  ctx.registry.publish(downTopic(session.id, client), `m${JSON.stringify(error)}`)
    .catch((error) => ctx.registryFailed("an answer to a remote client", error));
}

/** What a client's `start` asks to reach: how it is checked, and how its auth is judged. */
export interface StartTarget {
  /** Refuses the link (saying why) and returns false when the target is not valid. */
  valid(transport: MessageTransport): boolean;
  /** The auth function's request, but for what the `start` and the link tell. */
  request: Pick<AuthRequest, "role" | "session" | "group">;
  /** Names the link in the log when its auth fails. */
  what: string;
}

/**
 * A client's `start`, checked and authenticated for `target` (a session, or a group);
 * undefined when the link was refused.
 */
export async function readStart(
  ctx: ServerContext,
  admission: Admission,
  transport: MessageTransport,
  incoming: AsyncIterator<Incoming>,
  target: StartTarget,
): Promise<ClientStart | undefined> {
  const first = await admission.first(transport, incoming);
  if (!first) return undefined;
  let start: ClientMessage;
  try {
    if ("error" in first) throw first.error;
    start = checkClientMessage(first.message);
    if (start.e !== "start") {
      throw new ProtocolError("auth", `First message must be "start", got "${start.e}"`);
    }
  } catch (error) {
    if (!(error instanceof ProtocolError)) throw error;
    refuse(
      transport,
      new ProtocolError("auth", `First message must be a valid "start": ${error.message}`),
    );
    return undefined;
  }
  if (!target.valid(transport)) return undefined;
  const p = typeof start.p === "object" ? start.p : { auth: start.p ?? "" };
  const access = await admission.authorize({
    ...target.request,
    auth: p.auth ?? "",
    remote: transport.remote,
    start: start.p,
  });
  if (!access) {
    await admission.failed(transport, target.what);
    return undefined;
  }
  admission.authenticated(transport, "client");
  if (p.protocol !== undefined && p.protocol > PROTOCOL_VERSION) {
    const asked = `the client asked for ${p.protocol}`;
    refuse(
      transport,
      new ProtocolError("version", `This server speaks protocol ${PROTOCOL_VERSION}; ${asked}`),
    );
    return undefined;
  }
  if (ctx.closed || transport.isClosed) {
    transport.close();
    return undefined;
  }
  return {
    start,
    name: p.name,
    protocol: p.protocol,
    auth: p.auth ?? "",
    access,
    history: p.history === true,
  };
}

/**
 * Puts a client in its session: `attached`, then what the program printed while nobody was
 * there, the others told, and the tracer asked for the state (or the attach timeout started).
 */
function join(ctx: ServerContext, session: Session, client: ClientPeer): void {
  const transport = client.transport;
  session.addClient(client);
  if (client.access !== "read-only") session.lastActivity = Date.now();
  ctx.log(
    `session ${session.id}: client ${client.id} (${client.name}) attached from ${transport.remote}` +
      (client.access === "read-only" ? " (read-only)" : ""),
  );
  ctx.sendAttached(session, client);
  ctx.present(session);
  // The client that comes sees what the program printed while nobody was there to see it
  // (before the first client, or after the last one left or was dropped).
  const early = session.takeEarly();
  // A client that asks (a page opened beside a terminal) sees the last of it when others were
  // there to see it.
  if (early.texts.length === 0 && early.dropped === 0 && client.history) {
    early.texts = session.scrollback();
  }
  if (early.dropped > 0) {
    const kept = `the server keeps ${MAX_EARLY_BYTES / 1024 / 1024} MiB`;
    transport.send(errorEvent(
      new ProtocolError(
        "limit",
        `${early.dropped} messages of the program's output from while nobody was attached were dropped (${kept})`,
      ),
    ));
  }
  for (const json of early.texts) {
    if (transport.sendText) transport.sendText(json);
    else transport.send(JSON.parse(json));
  }
  // Deltas only: a crowd costs each member one line per change, not the whole list.
  session.sendClients({ e: "clients", p: { joined: clientInfo(client) } }, client.id);
  const wait = ctx.settings.attachTimeout;
  if (session.tracer) {
    session.stopTimer("attach");
    ctx.askState(session, client.id, client.startId);
  } else if (wait > 0) {
    client.waitTimer = session.setTimer(wait, () => {
      if (session.tracer || transport.isClosed) return;
      refuse(
        transport,
        new ProtocolError(
          "tracer",
          `No tracer attached to session "${session.id}" within ${seconds(wait)}`,
        ),
      );
    });
  }
}

/** One message of a client: checked, routed to the tracer, and echoed to the other clients. */
function handleMessage(
  ctx: ServerContext,
  session: Session,
  client: ClientPeer,
  item: Incoming,
): void {
  if ("message" in item && serverAnswered(item.message.e)) {
    return answerHere(session, client, item.message);
  }
  let msg: ClientMessage;
  try {
    msg = routable(ctx, session, client, item);
    const tracer = session.tracer!;
    // A repeated `start` asks for the state again; its auth stays on the server.
    const p = msg.e === "start" ? { client: client.id } : msg.p;
    tracer.transport.send(message(msg.e, p, session.route(client.id, msg.id, msg.e)));
  } catch (error) {
    if (!(error instanceof ProtocolError)) throw error;
    client.transport.send(errorEvent(error));
    return;
  }
  // Reads a client makes for itself (completions, source, the stack or breakpoints again,
  // protocol 2's inspection, an evaluation for a hover or a watch) are noise to others, and
  // what one types into the program (a password?) is theirs alone.
  const peek = msg.e === "evaluate" && msg.p.context !== undefined && msg.p.context !== "repl";
  if (echoed(msg.e) && !peek) {
    const said = { client: clientInfo(client), e: msg.e };
    const echo: Message = {
      e: "command",
      p: msg.p !== undefined ? { ...said, p: msg.p } : said,
    };
    session.sendClients(echo, client.id);
  }
}

/** A command the server answers from what it keeps (`answeredBy: "server"`). */
function answerHere(session: Session, client: ClientPeer, raw: Message): void {
  const reply = (msg: Message) => {
    if (raw.id !== undefined) msg.id = raw.id;
    client.transport.send(msg);
  };
  let msg: ClientMessage;
  try {
    msg = checkClientMessage(raw);
    if (msg.e === "snapshots") return reply({ e: "snapshots", p: session.snapshots.list() });
    if (msg.e !== "snapshot") return;
    const snapshot = session.snapshots.get(msg.p.id);
    if (!snapshot) {
      const kept = session.snapshots.size.count;
      throw new ProtocolError(
        "snapshot",
        `Session "${session.id}" keeps no snapshot ${msg.p.id} (it keeps ${kept})`,
        { command: "snapshot", id: msg.id },
      );
    }
    reply({ e: "snapshot", p: snapshot });
  } catch (error) {
    if (!(error instanceof ProtocolError)) throw error;
    client.transport.send(errorEvent(error));
  }
}

/**
 * A client's message, once it is known it may go to the tracer: valid, allowed to the client,
 * a tracer there to take it with room for it, and a protocol both speak. Throws a
 * {@linkcode ProtocolError} naming what was wrong.
 */
function routable(
  ctx: ServerContext,
  session: Session,
  client: ClientPeer,
  item: Incoming,
): ClientMessage {
  if ("error" in item) throw item.error;
  // A read-only client may ask for the state again (`start`), and nothing else.
  if (client.access === "read-only" && item.message.e !== "start") {
    const e = item.message.e.slice(0, 64);
    throw new ProtocolError(
      "permission",
      `This client is read-only: it sees the session but may not send "${e}"`,
      { command: e, id: item.message.id },
    );
  }
  const msg = checkClientMessage(item.message);
  const about = { command: msg.e, id: msg.id };
  const tracer = session.tracer;
  if (!tracer) {
    throw new ProtocolError(
      "tracer",
      `Session "${session.id}" has no tracer yet; "${msg.e}" was not sent`,
      about,
    );
  }
  if ((tracer.transport.queuedBytes ?? 0) > ctx.settings.limits.maxQueuedBytes) {
    throw new ProtocolError(
      "limit",
      `The tracer has not read the commands sent before; "${msg.e}" was not sent`,
      about,
    );
  }
  if (isRequestCommand(msg.e)) {
    const version = Math.min(client.protocol, tracer.info.protocol);
    if (version < 2) {
      const who = client.protocol < 2
        ? `this client started with protocol ${client.protocol}`
        : `the tracer speaks protocol ${tracer.info.protocol}`;
      throw new ProtocolError("protocol", `"${msg.e}" needs protocol 2, and ${who}`, about);
    }
  }
  return msg;
}
