/**
 * A group link: one client attached to every member of a group (the sessions whose tracer named
 * the group), on this server or any other of its registry. Each member sees it as one more
 * client (its auth judged per session), so routing, pacing and read-only access are the
 * members' own. The link sends a command to every member and answers once with how many took
 * it (`applied`); it passes on what a fleet view needs (members stopping, running and ending,
 * logpoint output and snapshots, each naming its session) and nothing else (the members'
 * output stays theirs). A group's breakpoints are kept as its rules in the registry: members
 * that join later get them when their tracer comes (see `tracer_link.ts`).
 *
 * @module
 */

import {
  checkClientEvent,
  checkClientMessage,
  type ClientEvent,
  type ClientMessage,
  errorEvent,
  GROUP_NAME_PATTERN,
  type GroupRule,
  type Member,
  type Message,
  type MessageId,
  PROTOCOL_VERSION,
  ProtocolError,
  type SnapshotSummary,
} from "../protocol/mod.ts";
import { AsyncQueue } from "../transport/async_queue.ts";
import type { Incoming, MessageTransport } from "../transport/transport.ts";
import type { Admission } from "./admission.ts";
import { type ClientStart, enter, readStart } from "./client_link.ts";
import { refuse, type ServerContext } from "./context.ts";
import type { RegistryChange, SessionRecord } from "./registry.ts";
import type { ClientPeer } from "./session.ts";

/** Most ended members a group link remembers (the oldest are forgotten past it). */
export const MAX_ENDED_MEMBERS = 1000;

/** How long a group command waits for its members' answers before it answers without them. */
export const GROUP_ANSWER_MS = 10_000;

/** Commands a group link takes; each goes to every member (`snapshot`: to the one it names). */
const GROUP_COMMANDS: ReadonlySet<string> = new Set([
  "start",
  "set_break",
  "clear_break",
  "snapshots",
  "snapshot",
  "continue",
]);

/** Commands a read-only group client may send. */
const READS: ReadonlySet<string> = new Set(["start", "snapshots", "snapshot"]);

/** The registry topic on which a group's rule changes are announced to its links. */
export function groupTopic(group: string): string {
  return `qdb:group:${group}`;
}

/** One member, as the link follows it. */
interface MemberState {
  info: Member;
  link?: MemberLink | undefined;
}

/** A command sent to members, waiting for their answers. */
interface Pending {
  /** Its key among the pending: the id its member commands carry. */
  key: string;
  command: string;
  /** The group client's id for it. */
  id: MessageId | undefined;
  rule?: string | undefined;
  waiting: Set<string>;
  of: number;
  ok: number;
  errors: { session: string; data: string }[];
  snapshots: SnapshotSummary[];
  timer: ReturnType<typeof setTimeout> | undefined;
}

/**
 * The link of the group client in one member's session: what the session sends its client goes
 * to the group link; what the group link sends the member is pushed in as the client's
 * commands. Its unread bytes are the group client's own.
 */
class MemberLink implements MessageTransport {
  readonly remote: string;
  readonly closed: Promise<void>;
  readonly #queue = new AsyncQueue<Incoming>();
  readonly #onEvent: (msg: Message) => void;
  readonly #socket: MessageTransport;
  #closed = false;
  #resolve!: () => void;

  constructor(socket: MessageTransport, onEvent: (msg: Message) => void) {
    this.remote = socket.remote;
    this.#socket = socket;
    this.#onEvent = onEvent;
    this.closed = new Promise((resolve) => this.#resolve = resolve);
  }

  send(msg: Message): boolean {
    if (this.#closed) return false;
    this.#onEvent(msg);
    return true;
  }

  get incoming(): AsyncIterable<Incoming> {
    return this.#queue;
  }

  /** A command for the member, as if its client sent it. */
  push(msg: Message): void {
    this.#queue.push({ message: msg });
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#queue.end();
    this.#resolve();
  }

  get isClosed(): boolean {
    return this.#closed;
  }

  get queuedBytes(): number {
    return this.#socket.queuedBytes ?? 0;
  }

  get writtenBytes(): number | undefined {
    return this.#socket.writtenBytes;
  }

  drained(limit: number, signal?: AbortSignal): Promise<void> {
    return this.#socket.drained?.(limit, signal) ?? Promise.resolve();
  }

  [Symbol.asyncDispose](): Promise<void> {
    this.close();
    return Promise.resolve();
  }
}

/** Serves one group client until it leaves. */
export async function serveGroup(
  ctx: ServerContext,
  admission: Admission,
  transport: MessageTransport,
  group: string,
): Promise<void> {
  const incoming = transport.incoming[Symbol.asyncIterator]();
  const begun = await readStart(ctx, admission, transport, incoming, {
    valid: (t) => {
      if (GROUP_NAME_PATTERN.test(group)) return true;
      const shown = JSON.stringify(group.slice(0, 64));
      refuse(
        t,
        new ProtocolError(
          "group",
          `Group ${shown} is not valid: 1 to 64 letters, digits and ._:@~-`,
        ),
      );
      return false;
    },
    // Who may see the members: judged as a listing; each member is judged again, as a client.
    request: { role: "list", session: "", group },
    what: `group ${group}: client`,
  });
  if (!begun) return;
  const id = await ctx.newClientId();
  if (ctx.closed || transport.isClosed) return transport.close();
  const link = new GroupLink(ctx, admission, transport, group, { id, ...begun });
  await link.serve(incoming);
}

/** One group client's link to the members of its group. */
class GroupLink {
  readonly #ctx: ServerContext;
  readonly #admission: Admission;
  readonly #transport: MessageTransport;
  readonly #group: string;
  readonly #client: ClientStart & { id: string };
  readonly #members = new Map<string, MemberState>();
  readonly #pending = new Map<string, Pending>();
  readonly #stop = new AbortController();
  #next = 1;
  /** Set once the client has the group's state: changes before it are in that state. */
  #ready = false;

  constructor(
    ctx: ServerContext,
    admission: Admission,
    transport: MessageTransport,
    group: string,
    client: ClientStart & { id: string },
  ) {
    this.#ctx = ctx;
    this.#admission = admission;
    this.#transport = transport;
    this.#group = group;
    this.#client = client;
  }

  /** Follows the group and takes the client's commands until it leaves. */
  async serve(incoming: AsyncIterator<Incoming>): Promise<void> {
    const { registry, log } = this.#ctx;
    log(`group ${this.#group}: client ${this.#client.id} attached from ${this.#transport.remote}`);
    try {
      registry.watch((change) => this.#changed(change), this.#stop.signal);
      await registry.subscribe(
        groupTopic(this.#group),
        () => void this.#sendRules(),
        this.#stop.signal,
      );
      const records = (await registry.list()).filter((record) => this.#isMember(record));
      await Promise.all(records.map((record) => this.#add(record)));
      await this.#sendGroup(this.#client.start.id);
      while (true) {
        const next = await incoming.next();
        if (next.done) break;
        await this.#command(next.value);
      }
    } catch (error) {
      log(`group ${this.#group}: client ${this.#client.id}: ${error}; closed`);
      refuse(this.#transport, new ProtocolError("group", `The group cannot be served: ${error}`));
    } finally {
      this.#stop.abort();
      for (const pending of this.#pending.values()) clearTimeout(pending.timer);
      for (const member of this.#members.values()) member.link?.close();
      log(`group ${this.#group}: client ${this.#client.id} left`);
    }
  }

  #isMember(record: SessionRecord): boolean {
    return record.owner !== null && (record.tracer?.groups ?? []).includes(this.#group);
  }

  #changed(change: RegistryChange): void {
    const known = this.#members.get(change.id);
    if (change.record && this.#isMember(change.record)) {
      if (!known || (known.info.state === "ended" && !known.link)) this.#add(change.record);
    } else if (known && change.record === null && known.info.state !== "ended") {
      this.#update(known, { state: "ended", reason: known.info.reason ?? "The session ended" });
    }
  }

  /** A member: its auth is judged for this client, then the client joins its session. */
  async #add(record: SessionRecord): Promise<void> {
    const info: Member = { session: record.id, state: "running", tracer: record.tracer };
    const member: MemberState = { info };
    this.#members.set(record.id, member);
    const access = await this.#admission.authorize({
      role: "client",
      auth: this.#client.auth,
      session: record.id,
      remote: this.#transport.remote,
      start: this.#client.start.p,
      group: this.#group,
    });
    if (this.#stop.signal.aborted) return;
    if (!access) {
      info.state = "refused";
      if (this.#ready) this.#send({ e: "member", p: info });
      return;
    }
    if (access === "read-only") info.readOnly = true;
    const link = new MemberLink(this.#transport, (msg) => this.#event(member, msg));
    member.link = link;
    const peer: ClientPeer = {
      id: this.#client.id,
      name: `${this.#client.name || this.#client.id} (group ${this.#group})`,
      transport: link,
      access,
      protocol: PROTOCOL_VERSION,
    };
    if (this.#ready) this.#send({ e: "member", p: info });
    enter(this.#ctx, record.id, peer, link.incoming[Symbol.asyncIterator](), false)
      .catch((error) => this.#ctx.log(`group ${this.#group}: member ${record.id}: ${error}`))
      .finally(() => {
        link.close();
        if (member.link === link) member.link = undefined;
        for (const pending of this.#pending.values()) this.#answered(pending, record.id);
        const now = member.info;
        if (now.state !== "ended" && !this.#stop.signal.aborted) {
          this.#update(member, { state: "ended", reason: now.reason ?? "The session ended" });
        }
      });
  }

  /** Changes a member's state; the client hears of each change once. */
  #update(member: MemberState, change: Partial<Member>): void {
    const next: Member = { ...member.info, ...change };
    if (next.state !== "stopped") delete next.where;
    if (JSON.stringify(next) === JSON.stringify(member.info)) return;
    member.info = next;
    if (next.state === "ended") this.#forgetEnded();
    // The tracer was told when the member joined: a change says only what changed.
    const { tracer: _tracer, ...changed } = next;
    if (this.#ready) this.#send({ e: "member", p: changed });
  }

  /**
   * A fleet that churns (jobs that come and go for days) must not grow the link without bound:
   * past {@linkcode MAX_ENDED_MEMBERS} ended members, the oldest are forgotten.
   */
  #forgetEnded(): void {
    const ended = [...this.#members].filter(([, m]) => m.info.state === "ended");
    for (const [id] of ended.slice(0, Math.max(0, ended.length - MAX_ENDED_MEMBERS))) {
      this.#members.delete(id);
    }
  }

  /**
   * An event a member's session sent its group client (checked as a client checks what it
   * gets: its payload is then typed; one that does not check is not acted on).
   */
  #event(member: MemberState, raw: Message): void {
    let msg: ClientEvent | undefined;
    try {
      msg = checkClientEvent(raw);
    } catch {
      return;
    }
    if (msg === undefined) return;
    const session = member.info.session;
    const pending = typeof msg.id === "string" ? this.#pending.get(msg.id) : undefined;
    switch (msg.e) {
      case "attached":
        member.info.tracer = msg.p.tracer;
        return;
      case "stack": {
        const p = msg.p;
        const top = p.stack[p.stack.length - 1];
        const where = top
          ? {
            file: top.file,
            line: top.line,
            func: top.func,
            ...(p.reason ? { reason: p.reason } : {}),
          }
          : { file: "", line: 0 };
        return this.#update(member, { state: "stopped", where });
      }
      case "running":
        return this.#update(member, { state: "running" });
      case "exited": {
        const p = msg.p;
        const reason = p.code === null
          ? `The program was ended by ${p.signal ?? "a signal"}`
          : `The program exited with code ${p.code}`;
        member.info = { ...member.info, reason };
        return;
      }
      case "disable":
        return this.#update(member, {
          state: "ended",
          reason: member.info.reason ?? msg.p?.reason ??
            "The session ended",
        });
      case "print": {
        const p = msg.p;
        if (p.input === "<log>") this.#send({ e: "print", p: { ...p, session } });
        return;
      }
      case "snapshot":
        if (pending) {
          this.#send({
            e: "snapshot",
            p: msg.p,
            ...(pending.id !== undefined ? { id: pending.id } : {}),
          });
          return this.#answered(pending, session, true);
        }
        if (msg.id === undefined) this.#send({ e: "snapshot", p: msg.p });
        return;
      case "snapshots":
        if (pending) {
          pending.snapshots.push(...msg.p);
          this.#answered(pending, session, true);
        }
        return;
      case "breakpoints":
        if (pending) this.#answered(pending, session, true);
        return;
      case "error": {
        const p = msg.p;
        if (pending) {
          pending.errors.push({ session, data: String(p.data) });
          return this.#answered(pending, session, false);
        }
        // A group rule a joining member could not take: said, with the member named.
        if (msg.id === undefined && (p.command === "set_break" || p.command === "clear_break")) {
          this.#send({ e: "error", p: { ...p, data: `${session}: ${String(p.data)}` } });
        }
        return;
      }
    }
  }

  /** A member answered (or left): the command is answered once every member has. */
  #answered(pending: Pending, session: string, ok?: boolean): void {
    if (!pending.waiting.delete(session)) return;
    if (ok) pending.ok++;
    if (pending.waiting.size === 0) this.#finish(pending);
  }

  #finish(pending: Pending): void {
    if (!this.#pending.delete(pending.key)) return;
    clearTimeout(pending.timer);
    const id = pending.id !== undefined ? { id: pending.id } : {};
    if (pending.command === "snapshots") {
      const all = pending.snapshots.sort((a, b) => a.time.localeCompare(b.time));
      return void this.#send({ e: "snapshots", p: all, ...id });
    }
    if (pending.command === "snapshot") {
      if (pending.ok > 0) return;
      const data = pending.errors[0]?.data ?? "The member did not answer";
      return void this.#send(errorEvent(
        new ProtocolError("snapshot", data, { command: "snapshot", id: pending.id }),
      ));
    }
    for (const session of pending.waiting) {
      pending.errors.push({ session, data: "No answer in time" });
    }
    this.#send({
      e: "applied",
      p: {
        command: pending.command,
        sessions: pending.ok,
        of: pending.of,
        ...(pending.rule !== undefined ? { rule: pending.rule } : {}),
        ...(pending.errors.length > 0 ? { errors: pending.errors } : {}),
      },
      ...id,
    });
  }

  /** One message of the group client. */
  async #command(item: Incoming): Promise<void> {
    let msg: ClientMessage;
    try {
      if ("error" in item) throw item.error;
      const e = item.message.e.slice(0, 64);
      const about = { command: e, id: item.message.id };
      if (!GROUP_COMMANDS.has(e)) {
        throw new ProtocolError(
          "group",
          `"${e}" cannot go to a whole group: attach to a member to send it`,
          about,
        );
      }
      if (this.#client.access === "read-only" && !READS.has(e)) {
        throw new ProtocolError(
          "permission",
          `This client is read-only: it sees the group but may not send "${e}"`,
          about,
        );
      }
      msg = checkClientMessage(item.message);
      await this.#run(msg);
    } catch (error) {
      if (!(error instanceof ProtocolError)) throw error;
      this.#send(errorEvent(error));
    }
  }

  async #run(msg: ClientMessage): Promise<void> {
    const about = { command: msg.e, id: msg.id };
    const registry = this.#ctx.registry;
    switch (msg.e) {
      case "start":
        return await this.#sendGroup(msg.id);
      case "set_break": {
        const { rule: _rule, children: _children, ...set } = msg.p;
        const rule = await registry.addGroupRule(this.#group, set);
        if (!rule) {
          throw new ProtocolError(
            "limit",
            `Group ${this.#group} has the most rules it takes`,
            about,
          );
        }
        await this.#rulesChanged();
        return this.#fanOut("set_break", { ...set, rule: rule.rule }, msg.id, rule.rule);
      }
      case "clear_break": {
        const rule = msg.p.rule;
        if (rule === undefined) {
          throw new ProtocolError(
            "group",
            'A group clears its breakpoints by "rule" (ids and lines are each member\'s own)',
            about,
          );
        }
        if (!await registry.removeGroupRule(this.#group, rule)) {
          throw new ProtocolError("clear_break", `Group ${this.#group} has no rule ${rule}`, about);
        }
        await this.#rulesChanged();
        return this.#fanOut("clear_break", { rule }, msg.id, rule);
      }
      case "snapshots":
        return this.#fanOut("snapshots", undefined, msg.id);
      case "snapshot": {
        const session = msg.p.session;
        const member = session === undefined ? undefined : this.#members.get(session);
        if (!member?.link) {
          throw new ProtocolError(
            "snapshot",
            session === undefined
              ? "On a group link, snapshot needs the member's session"
              : `Session "${session}" is not a live member of group ${this.#group}`,
            about,
          );
        }
        return this.#fanOut("snapshot", { id: msg.p.id }, msg.id, undefined, [member]);
      }
      case "continue": {
        const stopped = [...this.#members.values()].filter((m) => m.info.state === "stopped");
        return this.#fanOut("continue", undefined, msg.id, undefined, stopped, true);
      }
    }
  }

  /**
   * Sends a command to members (default: every live one) and waits for their answers. With
   * `noAnswer`, a member that took it counts at once (`continue` is answered by the program's
   * running, which may be long in coming).
   */
  #fanOut(
    command: string,
    p: unknown,
    id: MessageId | undefined,
    rule?: string,
    to?: MemberState[],
    noAnswer = false,
  ): void {
    const members = (to ?? [...this.#members.values()]).filter((m) => m.link && !m.link.isClosed);
    const key = `g${this.#next++}`;
    const pending: Pending = {
      key,
      command,
      id,
      rule,
      waiting: new Set(members.map((m) => m.info.session)),
      of: members.length,
      ok: 0,
      errors: [],
      snapshots: [],
      timer: undefined,
    };
    this.#pending.set(key, pending);
    for (const member of members) {
      const sent: Message = noAnswer ? { e: command } : { e: command, id: key };
      if (p !== undefined) sent.p = p;
      member.link!.push(sent);
      if (noAnswer) this.#answered(pending, member.info.session, true);
    }
    if (pending.waiting.size === 0) return this.#finish(pending);
    pending.timer = setTimeout(() => this.#finish(pending), GROUP_ANSWER_MS);
  }

  /** Tells this group's links (here and on other servers) that its rules changed. */
  async #rulesChanged(): Promise<void> {
    try {
      await this.#ctx.registry.publish(groupTopic(this.#group), "rules");
    } catch (error) {
      this.#ctx.registryFailed(`announcing the rules of group ${this.#group}`, error);
    }
  }

  async #rules(): Promise<GroupRule[]> {
    try {
      return await this.#ctx.registry.groupRules(this.#group);
    } catch (error) {
      this.#ctx.registryFailed(`the rules of group ${this.#group}`, error);
      return [];
    }
  }

  async #sendRules(): Promise<void> {
    this.#send({ e: "rules", p: await this.#rules() });
  }

  async #sendGroup(id: MessageId | undefined): Promise<void> {
    const rules = await this.#rules();
    this.#ready = true;
    this.#send({
      e: "group",
      p: {
        group: this.#group,
        you: this.#client.id,
        members: [...this.#members.values()].map((m) => m.info),
        rules,
      },
      ...(id !== undefined ? { id } : {}),
    });
  }

  #send(msg: Message): void {
    this.#transport.send(msg);
  }
}
