/**
 * A tracer's link: its `start` and authentication, taking its session (new, its own coming
 * back with the resume key, or a child proved by its tree's key), `started`, and then every
 * event it sends, checked and broadcast to the session's clients at their pace, until it leaves.
 *
 * @module
 */

import {
  checkTracerMessage,
  errorEvent,
  GROUP_NAME_PATTERN,
  isPlainObject,
  MAX_GROUPS,
  PROTOCOL_VERSION,
  ProtocolError,
  SchemaError,
  type TracerInfo,
  type TracerMessage,
  type TracerStart,
  tracerStartPayload,
} from "../protocol/mod.ts";
import type { Incoming, MessageTransport } from "../transport/transport.ts";
import { VERSION } from "../version.ts";
import type { Admission } from "./admission.ts";
import { constantTimeEqual } from "./auth.ts";
import { hostRemoteClients } from "./client_link.ts";
import { refuse, type ServerContext } from "./context.ts";
import type { SessionFacts, SessionRecord } from "./registry.ts";
import type { Session } from "./session.ts";

/** How long a tracer that said `disabled` may keep its link open before the session ends. */
const DISABLED_GRACE_MS = 5000;
/** A print at least this long is a large message for the reclaimer (see `memory.ts`). */
const LARGE_MESSAGE = 64 * 1024;

/** Serves one tracer until it leaves. */
export async function serveTracer(
  ctx: ServerContext,
  admission: Admission,
  transport: MessageTransport,
): Promise<void> {
  const incoming = transport.incoming[Symbol.asyncIterator]();
  const start = await readStart(ctx, admission, transport, incoming);
  if (!start) return;
  const session = await takeSession(ctx, transport, start);
  if (!session) return;
  announce(ctx, session, transport);
  applyGroupRules(ctx, session, transport);
  await pump(ctx, session, transport, incoming);
  if (session.ended || session.tracer?.transport !== transport) return;
  // A program's children may end a moment after it (their links close later): its clients
  // hear of each before its session ends, within a short grace.
  if (session.exit && !ctx.closed) await childrenEnded(ctx, session);
  if (session.ended || session.tracer?.transport !== transport) return;
  if (session.disabled) {
    ctx.end(session, ctx.exitReason(session) ?? "The tracer stopped debugging");
  } else if (session.exit || ctx.settings.tracerGrace <= 0 || ctx.closed) {
    session.sendClients(errorEvent(new ProtocolError("tracer", "The tracer disconnected")));
    ctx.end(session, ctx.exitReason(session) ?? "The tracer disconnected");
  } else {
    ctx.orphan(session);
  }
}

/** How long an ended program's session waits for its live child sessions to end. */
const CHILDREN_GRACE_MS = 2000;
const CHILDREN_LOOK_MS = 20;

/** Resolves once no child session of `session` lives here, or after the grace. */
async function childrenEnded(ctx: ServerContext, session: Session): Promise<void> {
  const live = () =>
    [...ctx.sessions.values()].some((s) => !s.ended && s.ancestors.includes(session.id));
  for (let waited = 0; live() && waited < CHILDREN_GRACE_MS; waited += CHILDREN_LOOK_MS) {
    await new Promise((resolve) => setTimeout(resolve, CHILDREN_LOOK_MS));
  }
}

/** The tracer's `start`, checked and authenticated; undefined when the link was refused. */
async function readStart(
  ctx: ServerContext,
  admission: Admission,
  transport: MessageTransport,
  incoming: AsyncIterator<Incoming>,
): Promise<TracerStart | undefined> {
  const first = await admission.first(transport, incoming);
  if (!first) return undefined;
  let start: TracerStart;
  try {
    if ("error" in first) throw first.error;
    if (first.message.e !== "start") {
      throw new ProtocolError("auth", `got "${first.message.e.slice(0, 64)}"`);
    }
    start = tracerStartPayload.check(withSessionFromUuid(first.message.p), "payload");
  } catch (error) {
    if (!(error instanceof ProtocolError || error instanceof SchemaError)) throw error;
    refuse(
      transport,
      new ProtocolError("auth", `First message must be a valid "start": ${error.message}`),
    );
    return undefined;
  }
  if (!admission.validSessionId(transport, start.session)) return undefined;
  const badGroup = start.groups?.find((group) => !GROUP_NAME_PATTERN.test(group));
  if (badGroup !== undefined) {
    refuse(
      transport,
      new ProtocolError(
        "group",
        `Group ${JSON.stringify(badGroup.slice(0, 64))} is not valid: ` +
          "1 to 64 letters, digits and ._:@~-",
      ),
    );
    return undefined;
  }
  const ok = await admission.authorize({
    role: "tracer",
    auth: start.auth ?? "",
    session: start.session,
    remote: transport.remote,
    start,
  });
  if (!ok) {
    await admission.failed(transport, `session ${start.session}: tracer`);
    return undefined;
  }
  admission.authenticated(transport, "tracer");
  if (start.protocol > PROTOCOL_VERSION) {
    const speaks = `the tracer speaks ${start.protocol}`;
    refuse(
      transport,
      new ProtocolError("version", `This server speaks protocol ${PROTOCOL_VERSION}; ${speaks}`),
    );
    return undefined;
  }
  if (ctx.closed || transport.isClosed) {
    transport.close();
    return undefined;
  }
  return start;
}

/**
 * The session a tracer takes: a new one, its own when it comes back with the resume key (the
 * old link may not look dead yet on this side; or the session lived on another server, which
 * died or lost it), or one it joins as a proved child. Undefined when the link was refused.
 */
async function takeSession(
  ctx: ServerContext,
  transport: MessageTransport,
  start: TracerStart,
): Promise<Session | undefined> {
  const id = start.session;
  const existing = ctx.sessions.get(id);
  // Not held here (or only by clients waiting for it): the registry may know it from the
  // server it lived on.
  const moved = existing?.resumeKey !== undefined
    ? undefined
    : await movedHere(ctx, id, start.resume);
  const returning = moved !== undefined || (existing?.resumeKey !== undefined &&
    start.resume !== undefined && await constantTimeEqual(start.resume, existing.resumeKey));
  if (!admitOver(ctx, transport, id, existing, returning)) return undefined;
  // A child proves it belongs to its tree (a session's own tracer, back with its resume key,
  // proved it when it first came).
  let member: Session | undefined;
  if (start.parent !== undefined && !returning) {
    const checked = await ctx.tree.check(start.parent, id, start.tree, existing);
    if (checked instanceof ProtocolError) {
      refuse(transport, checked);
      ctx.log(`session ${id}: refused a child tracer: ${checked.message}`);
      return undefined;
    }
    member = checked;
  }
  const known = ctx.sessions.get(id);
  const session = known ?? ctx.newSession(transport, id);
  if (!session) return undefined;
  if (moved) {
    session.resumeKey = start.resume;
    session.treeKey = moved.keys?.tree;
    session.ancestors = moved.ancestors ?? [];
  } else if (start.parent !== undefined && member) ctx.tree.adopt(session, start.parent, member);
  session.treeKey ??= randomKey();
  session.resumeKey ??= randomKey();
  // Clients on other servers are taken before the registry names this server the owner: what
  // they send once they see it is never missed.
  await hostRemoteClients(ctx, session);
  if (!(await claim(ctx, transport, session, tracerInfo(start), returning))) {
    if (!known && !session.tracer && session.clients.size === 0) ctx.forget(session);
    return undefined;
  }
  if (session.tracer || session.ended) {
    refuse(transport, new ProtocolError("session", `Session "${id}" took another tracer`));
    ctx.log(`session ${id}: refused a tracer from ${transport.remote}: another came first`);
    return undefined;
  }
  const info = tracerInfo(start);
  session.setTracer({ transport, info });
  session.lastActivity = Date.now();
  session.stopTimer("orphan");
  const how = moved
    ? `came back (from server ${moved.owner ?? "gone"})`
    : returning
    ? "came back"
    : "attached";
  ctx.log(
    `session ${id}: tracer ${how} from ${transport.remote} (${
      info.argv.join(" ")
    }, pid ${info.pid} on ${info.host})`,
  );
  return session;
}

/**
 * Whether a tracer may take session `id` over what this server has of it: never one waiting for
 * its own tracer (without its key), never one with a live tracer (unless this is that tracer,
 * back: the old link is let go). Refuses the link when not.
 */
function admitOver(
  ctx: ServerContext,
  transport: MessageTransport,
  id: string,
  existing: Session | undefined,
  returning: boolean,
): boolean {
  if (existing && !returning && existing.resumeKey !== undefined && !existing.tracer) {
    refuse(
      transport,
      new ProtocolError(
        "session",
        `Session "${id}" is waiting for its own tracer to reconnect; choose another session id`,
      ),
    );
    ctx.log(`session ${id}: refused a tracer without its resume key`);
    return false;
  }
  if (existing?.tracer && returning) {
    const old = existing.tracer.transport;
    existing.setTracer(undefined);
    old.close();
  }
  if (existing?.tracer) {
    const other = existing.tracer.info;
    refuse(
      transport,
      new ProtocolError(
        "session",
        `Session "${id}" already has a live tracer (pid ${other.pid} on ${other.host}); choose another session id`,
      ),
    );
    ctx.log(`session ${id}: refused a second tracer from ${transport.remote}`);
    return false;
  }
  return true;
}

/**
 * The registry's record of session `id` when a tracer shows its resume key and the session
 * lives on another server (or lived on one that died): the tracer moved here.
 */
async function movedHere(
  ctx: ServerContext,
  id: string,
  resume: string | undefined,
): Promise<SessionRecord | undefined> {
  if (resume === undefined) return undefined;
  let record: SessionRecord | undefined;
  try {
    record = await ctx.registry.find(id);
  } catch (error) {
    ctx.registryFailed(`finding session ${id}`, error);
    return undefined;
  }
  const known = record?.keys?.resume;
  if (known === undefined || !(await constantTimeEqual(await keyHash(resume), known))) {
    return undefined;
  }
  return record;
}

/**
 * Makes this server the session's owner in the registry (taking it over from another server
 * when the tracer came back with its key). Another server owning it refuses this tracer: false.
 */
async function claim(
  ctx: ServerContext,
  transport: MessageTransport,
  session: Session,
  tracer: TracerInfo,
  takeover: boolean,
): Promise<boolean> {
  const id = session.id;
  const facts: SessionFacts = {
    created: session.created.toISOString(),
    tracer,
    ...(session.ancestors.length > 0
      ? { parent: session.ancestors[0]!, ancestors: session.ancestors }
      : {}),
    keys: { resume: await keyHash(session.resumeKey!), tree: session.treeKey! },
  };
  let claimed;
  try {
    claimed = await ctx.registry.claim(id, facts, { takeover });
  } catch (error) {
    // The registry is away: the session works on this server alone.
    ctx.registryFailed(`the claim of ${id}`, error);
    return true;
  }
  if (claimed === true) return true;
  if (claimed.owner === null) {
    ctx.log(`session ${id}: refused a tracer without its resume key`);
    refuse(
      transport,
      new ProtocolError(
        "session",
        `Session "${id}" is waiting for its own tracer to reconnect; choose another session id`,
      ),
    );
  } else {
    ctx.log(`session ${id}: refused a tracer: server ${claimed.owner} owns the session`);
    refuse(transport, new ProtocolError("session", `Session "${id}" is live on another server`));
  }
  return false;
}

/** What the registry keeps of a resume key: its SHA-256, in hex. */
async function keyHash(key: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(key));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** What a tracer's `start` tells about it, as clients see it. */
function tracerInfo(start: TracerStart): TracerInfo {
  const {
    auth: _auth,
    session: _id,
    uuid: _uuid,
    resume: _resume,
    parent: _p,
    tree: _tree,
    ...info
  } = start;
  return info;
}

/** `started` to the tracer, then a `start` for each client already there. */
function announce(
  ctx: ServerContext,
  session: Session,
  transport: MessageTransport,
): void {
  transport.send({
    e: "started",
    p: {
      session: session.id,
      protocol: PROTOCOL_VERSION,
      server: `qdb ${VERSION}`,
      resume: session.resumeKey,
      tree: session.treeKey,
      ...(ctx.clientUrl ? { clients: ctx.clientUrl } : {}),
    },
  });
  for (const client of session.clients.values()) {
    session.clearTimer(client.waitTimer);
    client.waitTimer = undefined;
    ctx.sendAttached(session, client);
    ctx.askState(session, client.id, client.startId);
  }
  if (
    session.clients.size === 0 && ctx.settings.attachTimeout > 0 && session.ancestors.length === 0
  ) {
    // A child waits for no client of its own: its ancestors' clients are told of it.
    ctx.waitForClient(session);
  }
  if (session.ancestors.length > 0 && !session.childState) {
    ctx.tree.changed(session, { state: "running" });
  }
}

/**
 * The rules of the tracer's groups (breakpoints, logpoints and snapshots set on a whole group)
 * go to it as soon as it is in: a member that joins late gets them as children get their
 * parent's breakpoints. Each carries its rule, so that setting it again replaces it.
 */
function applyGroupRules(
  ctx: ServerContext,
  session: Session,
  transport: MessageTransport,
  groups: string[] = session.tracer?.info.groups ?? [],
): void {
  for (const group of groups) {
    ctx.registry.groupRules(group).then((rules) => {
      if (session.tracer?.transport !== transport) return;
      for (const { rule, set } of rules) {
        transport.send({ e: "set_break", p: { ...set, rule } });
      }
    }, (error) => ctx.registryFailed(`the rules of group ${group}`, error));
  }
}

/** Takes the tracer's events, at the pace of the clients, until its link closes. */
async function pump(
  ctx: ServerContext,
  session: Session,
  transport: MessageTransport,
  incoming: AsyncIterator<Incoming>,
): Promise<void> {
  while (true) {
    // Taken at the pace of the clients: the tracer's link fills and its program waits.
    const pace = session.paced();
    if (pace) await pace;
    const next = await incoming.next();
    if (next.done) return;
    const item = next.value;
    let msg: TracerMessage;
    try {
      // Clients trust what reaches them: only documented tracer events, of the right shape,
      // ever do (never a forged `command`, `attached` or `clients`).
      if ("error" in item) throw item.error;
      msg = checkTracerMessage(item.message);
    } catch (error) {
      if (!(error instanceof ProtocolError)) throw error;
      transport.send(errorEvent(error));
      continue;
    }
    // Large texts are what V8 leaves lying about (small ones its young generation frees at
    // once; counting those would force full collections all through a flood). Past a bound of
    // them, the tracer waits for the collection (its link fills, as when clients are slow): a
    // burst of big prints costs a bounded heap, not one V8 lets grow.
    if (msg.e === "print" && msg.p.output.length >= LARGE_MESSAGE) {
      const debt = ctx.reclaimer.note(msg.p.output.length);
      if (debt) await debt;
    }
    deliver(ctx, session, msg);
  }
}

/** One checked tracer event: to the clients, and what it means for the session. */
function deliver(ctx: ServerContext, session: Session, msg: TracerMessage): void {
  if (msg.e === "exited") {
    const p = msg.p;
    session.exit = { code: p.code, ...(p.signal ? { signal: p.signal } : {}) };
  }
  if (msg.e === "groups") return joinGroups(ctx, session, msg.p);
  if (msg.e === "snapshot" && msg.id === undefined) {
    // Numbered and kept here: a client that attaches later lists and fetches it.
    msg = { e: "snapshot", p: session.snapshots.add(msg.p) };
  }
  session.broadcast(msg);
  if (session.ancestors.length > 0) ctx.tree.watch(session, msg);
  if (msg.e === "disabled" && !session.ended) {
    // The tracer closes the link once it has said everything (after a hard disable, the
    // program's exit code comes next); it gets a little time, then the session ends.
    session.startTimer("disabled", DISABLED_GRACE_MS, () => {
      ctx.end(session, ctx.exitReason(session) ?? "The tracer stopped debugging");
    });
    session.disabled = true;
  }
}

/**
 * The program joined groups while it ran: they are added to its tracer's description (for the
 * registry, so that the groups' links find it) and their rules are set on it.
 */
function joinGroups(ctx: ServerContext, session: Session, groups: string[]): void {
  const tracer = session.tracer;
  if (!tracer) return;
  const had = tracer.info.groups ?? [];
  const bad = groups.find((g) => !GROUP_NAME_PATTERN.test(g));
  const added = groups.filter((g) => !had.includes(g));
  if (bad !== undefined || had.length + added.length > MAX_GROUPS) {
    tracer.transport.send(errorEvent(
      new ProtocolError(
        "group",
        bad !== undefined
          ? `Group ${
            JSON.stringify(bad.slice(0, 64))
          } is not valid: 1 to 64 letters, digits and ._:@~-`
          : `A session is a member of at most ${MAX_GROUPS} groups`,
      ),
    ));
    return;
  }
  if (added.length === 0) return;
  const info = { ...tracer.info, groups: [...had, ...added] };
  session.setTracer({ ...tracer, info });
  ctx.log(`session ${session.id}: joined group${added.length > 1 ? "s" : ""} ${added.join(", ")}`);
  ctx.registry.update(session.id, { tracer: info })
    .catch((error) => ctx.registryFailed("an update", error));
  applyGroupRules(ctx, session, tracer.transport, added);
}

/** The original qdb's tracers name their session `uuid`: accept it as `session`. */
function withSessionFromUuid(p: unknown): unknown {
  if (!isPlainObject(p) || p.session !== undefined || typeof p.uuid !== "string") return p;
  const { uuid, ...rest } = p;
  return { ...rest, session: uuid };
}

/** A random key of 128 bits, as hex. */
function randomKey(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}
