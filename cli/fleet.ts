/**
 * `qdb attach --group NAME`: the fleet view. One prompt for every member of a group: breakpoints,
 * logpoints and snapshots set on all of them (and on members that join later), their stops
 * counted together, logpoint output and snapshots named by member, and `attach ID` to drive
 * one member with the whole terminal client (`attach ..` comes back).
 *
 * @module
 */

import { GroupClient } from "../client/group.ts";
import { ReconnectingSession } from "../client/reconnect.ts";
import type { PlainConsole, TerminalConsole } from "../client/terminal/console.ts";
import { ArgumentError, parseBreak, splitCommand } from "../client/terminal/parse.ts";
import { displayPath, formatSnapshot, parseSnap } from "../client/terminal/render.ts";
import { sanitize } from "../client/terminal/sanitize.ts";
import { TerminalClient } from "../client/terminal/terminal.ts";
import type { Applied, GroupLinkEvent, GroupRule, Member, Snapshot } from "../protocol/mod.ts";
import { terminalOptions, withScreen } from "./_terminal.ts";

/** Options of {@linkcode runFleet}. */
export interface FleetOptions {
  /** The server's client address. */
  server: string;
  /** The group. */
  group: string;
  /** The server's token. */
  token?: string | undefined;
  /** CA certificates for `wss://`. */
  caCerts?: string[] | undefined;
  /** The user's name, as the members' other clients see it. */
  name: string;
  /** How long a member's terminal tries to attach again after losing the server, in ms. */
  retryFor: number;
}

/** How long news of members waits for more to be shown with it, in ms. */
const NOTICE_MS = 200;
/** Most snapshots the view remembers (their values, for the table). */
const MAX_KNOWN = 1000;
/** Snapshots fetched at once for the table. */
const FETCH_AT_ONCE = 16;

/** Runs the fleet view of a group until the user quits; resolves with the exit code. */
export async function runFleet(options: FleetOptions): Promise<number> {
  const group = await GroupClient.connect(options.server, {
    group: options.group,
    auth: options.token,
    name: options.name,
    caCerts: options.caCerts,
  });
  try {
    return await withScreen({}, (screen) => new FleetView(group, screen, options).run());
  } finally {
    group.close();
  }
}

type Screen = TerminalConsole | PlainConsole;

/** One snapshot the view knows: listed, and its values once fetched or seen. */
interface Known {
  session: string;
  id: number;
  time: string;
  where: { file: string; line: number; func: string };
  rule?: string | undefined;
  snapshot?: Snapshot | undefined;
}

/** News of members, shown together. */
interface Notices {
  joined: string[];
  stopped: Map<string, string[]>;
  ended: string[];
}

class FleetView {
  readonly #group: GroupClient;
  readonly #screen: Screen;
  readonly #options: FleetOptions;
  readonly #members = new Map<string, Member>();
  #rules: GroupRule[];
  readonly #known: Known[] = [];
  #queue: Promise<void> = Promise.resolve();
  #notices: Notices = { joined: [], stopped: new Map(), ended: [] };
  #noticeTimer: ReturnType<typeof setTimeout> | undefined;
  /** Set while a member's terminal has the screen. */
  #driving = false;
  #quit!: (code: number) => void;
  readonly #done: Promise<number>;

  constructor(group: GroupClient, screen: Screen, options: FleetOptions) {
    this.#group = group;
    this.#screen = screen;
    this.#options = options;
    for (const member of group.state.members) this.#members.set(member.session, member);
    this.#rules = group.state.rules;
    this.#done = new Promise((resolve) => this.#quit = resolve);
  }

  get #prompt(): string {
    return `(qdb ${this.#options.group}) `;
  }

  run(): Promise<number> {
    this.#say(
      `Attached to group ${this.#options.group}: ${this.#summary()}.` +
        (this.#rules.length > 0 ? ` ${this.#rules.length} group breakpoints (rules).` : "") +
        ` Type "help" for the group's commands.`,
    );
    this.#take();
    this.#pump();
    return this.#done;
  }

  /** The screen is the view's: lines are its commands. */
  #take(): void {
    this.#screen.attach({
      line: (line) => {
        this.#queue = this.#queue.then(() => this.#line(line)).catch(() => {});
      },
      interrupt: () => this.#say('(the group runs on; "q" leaves it)'),
      eof: () => {
        this.#queue = this.#queue.then(() => this.#quit(0));
      },
    });
    this.#screen.setPrompt(this.#prompt);
  }

  #say(text: string): void {
    this.#screen.say(text);
  }

  async #pump(): Promise<void> {
    for await (const msg of this.#group.events) this.#event(msg);
    if (!this.#driving) this.#say("[the server closed the group link]");
    this.#quit(1);
  }

  #event(msg: GroupLinkEvent): void {
    switch (msg.e) {
      case "member":
        return this.#memberChanged(msg.p);
      case "rules":
        this.#rules = msg.p;
        return;
      case "print": {
        if (this.#driving) return;
        const p = msg.p;
        const lines = p.output.replace(/\n$/, "").split("\n");
        return this.#say(
          lines.map((l) => `[${sanitize(p.session ?? "?")}] ${sanitize(l)}`).join("\n"),
        );
      }
      case "snapshot": {
        const snapshot = msg.p;
        const n = this.#remember(snapshot);
        if (this.#driving || n === undefined) return;
        const top = snapshot.stack[snapshot.stack.length - 1];
        return this.#say(
          `[snapshot ${n}: ${sanitize(snapshot.session ?? "?")} at ${
            top ? this.#where(snapshot.session, top) : "?"
          } ("snapshot ${n}" shows it)]`,
        );
      }
      case "error": {
        return this.#say(`*** ${sanitize(String(msg.p.data))}`);
      }
    }
  }

  /** A snapshot that came: remembered with its values; its number in the view. */
  #remember(snapshot: Snapshot): number | undefined {
    if (snapshot.id === undefined || snapshot.session === undefined) return undefined;
    const top = snapshot.stack[snapshot.stack.length - 1];
    const found = this.#known.findIndex((k) =>
      k.session === snapshot.session && k.id === snapshot.id
    );
    if (found >= 0) {
      this.#known[found]!.snapshot = snapshot;
      return found + 1;
    }
    if (this.#known.length >= MAX_KNOWN) return undefined;
    this.#known.push({
      session: snapshot.session,
      id: snapshot.id,
      time: snapshot.time,
      where: top
        ? { file: top.file, line: top.line, func: top.func }
        : { file: "", line: 0, func: "" },
      rule: snapshot.rule,
      snapshot,
    });
    return this.#known.length;
  }

  #memberChanged(change: Member): void {
    const before = this.#members.get(change.session);
    const member: Member = { ...before, ...change };
    if (member.state !== "stopped") delete member.where;
    this.#members.set(change.session, member);
    const id = sanitize(change.session);
    if (!before) this.#notices.joined.push(id);
    if (member.state === "stopped" && member.where) {
      const at = this.#where(member.session, member.where);
      const list = this.#notices.stopped.get(at) ?? [];
      list.push(id);
      this.#notices.stopped.set(at, list);
    } else if (member.state === "ended" && before?.state !== "ended") {
      this.#notices.ended.push(`${id} (${sanitize(member.reason ?? "ended")})`);
    } else if (member.state === "refused") {
      this.#notices.ended.push(`${id} (the server refused you this member)`);
    }
    this.#noticeTimer ??= setTimeout(() => this.#showNotices(), NOTICE_MS);
  }

  #showNotices(): void {
    this.#noticeTimer = undefined;
    const { joined, stopped, ended } = this.#notices;
    this.#notices = { joined: [], stopped: new Map(), ended: [] };
    if (this.#driving) return;
    const lines: string[] = [];
    const live = [...this.#members.values()].filter((m) => m.state !== "ended").length;
    if (joined.length > 0) lines.push(`[+${joined.length} joined: ${list(joined)}]`);
    for (const [at, ids] of stopped) {
      const still = ids.filter((id) => this.#members.get(id)?.state === "stopped");
      if (still.length === 0) continue;
      lines.push(
        `[${still.length} of ${live} stopped at ${at}: ${list(still)} ("attach ID" drives one)]`,
      );
    }
    if (ended.length > 0) lines.push(`[${ended.length} ended: ${list(ended)}]`);
    if (lines.length > 0) this.#say(lines.join("\n"));
  }

  /** `file:line in func`, the file as the member's working directory shows it. */
  #where(session: string | undefined, at: { file: string; line: number; func?: string }): string {
    const cwd = session ? this.#members.get(session)?.tracer?.cwd : undefined;
    const file = sanitize(displayPath(at.file, cwd ?? undefined));
    return `${file}:${at.line}` + (at.func ? ` in ${sanitize(at.func)}` : "");
  }

  #summary(): string {
    const members = [...this.#members.values()];
    const count = (state: string) => members.filter((m) => m.state === state).length;
    const parts = [`${members.length} member${members.length === 1 ? "" : "s"}`];
    for (const state of ["running", "stopped", "ended", "refused"]) {
      const n = count(state);
      if (n > 0 && !(state === "running" && n === members.length)) parts.push(`${n} ${state}`);
    }
    return parts.join(", ");
  }

  async #line(line: string): Promise<void> {
    const { word, rest } = splitCommand(line.trim());
    try {
      await this.#command(word, rest);
    } catch (error) {
      this.#say(`*** ${sanitize(error instanceof Error ? error.message : String(error))}`);
    }
    if (!this.#driving) this.#screen.setPrompt(this.#prompt);
  }

  async #command(word: string, rest: string): Promise<void> {
    switch (word) {
      case "":
        return;
      case "b":
      case "break":
        if (rest.trim() === "") return this.#showRules();
        return await this.#set(parseBreak(rest));
      case "tbreak":
        return await this.#set({ ...parseBreak(rest), temp: true });
      case "log":
        return await this.#set(parseLog(rest));
      case "snap":
        return await this.#set(snapRule(rest));
      case "clear":
      case "cl":
        return await this.#clear(rest);
      case "rules":
        return this.#showRules();
      case "sessions":
      case "members":
        return this.#showMembers();
      case "snapshots":
        return await this.#showSnapshots();
      case "snapshot":
        return await this.#showSnapshot(rest);
      case "c":
      case "cont":
      case "continue":
        return this.#applied(await this.#group.apply("continue"));
      case "attach":
        return await this.#drive(rest.trim());
      case "h":
      case "help":
        return this.#say(HELP);
      case "q":
      case "quit":
      case "exit":
        return this.#quit(0);
      default:
        throw new ArgumentError(
          `"${word}" is not a group command ("help" lists them; "attach ID" drives one member)`,
        );
    }
  }

  async #set(p: object): Promise<void> {
    this.#applied(await this.#group.apply("set_break", p));
  }

  /** What a group command did, member by member when some refused it. */
  #applied(p: Applied): void {
    const what = p.command === "set_break"
      ? `Rule ${p.rule} set on`
      : p.command === "clear_break"
      ? `Rule ${p.rule} cleared on`
      : `${p.command} sent to`;
    const later = p.command === "set_break" ? " (and members that join later)" : "";
    const lines = [`${sanitize(what)} ${p.sessions} of ${p.of} members${later}`];
    for (const e of p.errors ?? []) lines.push(`  ${sanitize(e.session)}: ${sanitize(e.data)}`);
    this.#say(lines.join("\n"));
  }

  async #clear(arg: string): Promise<void> {
    const names = arg.trim() === ""
      ? this.#rules.map((r) => r.rule)
      : arg.trim().split(/\s+/).map((n) => /^\d+$/.test(n) ? `${this.#options.group}#${n}` : n);
    if (names.length === 0) return this.#say("The group has no rules");
    for (const rule of names) this.#applied(await this.#group.apply("clear_break", { rule }));
  }

  #showRules(): void {
    if (this.#rules.length === 0) return this.#say("The group has no rules (b, log, snap set one)");
    const lines = ["Rule        What"];
    for (const { rule, set } of this.#rules) {
      const at = set.func ? String(set.func) : `${set.file ?? "(main file)"}:${set.line}`;
      const kind = set.snapshot
        ? `snapshot (max ${set.max ?? 1})`
        : typeof set.log === "string"
        ? `log ${JSON.stringify(set.log)}`
        : set.temp
        ? "tbreak"
        : "break";
      const cond = typeof set.cond === "string" ? `, if ${set.cond}` : "";
      lines.push(`${rule.padEnd(11)} ${sanitize(`${kind} at ${at}${cond}`)}`);
    }
    this.#say(lines.join("\n"));
  }

  #showMembers(): void {
    const lines = [`${this.#summary()}:`];
    for (const m of this.#members.values()) {
      const t = m.tracer;
      const what = m.state === "stopped" && m.where
        ? `at ${this.#where(m.session, m.where)}`
        : m.state === "ended"
        ? sanitize(m.reason ?? "")
        : t
        ? sanitize(`${t.argv.join(" ")} (${t.host}, pid ${t.pid})`)
        : "";
      lines.push(`  ${sanitize(m.session).padEnd(16)} ${m.state.padEnd(8)} ${what}`);
    }
    this.#say(lines.join("\n"));
  }

  /** Every snapshot of the group as one table: when, where, and the newest frame's values. */
  async #showSnapshots(): Promise<void> {
    for (const s of await this.#group.snapshots()) {
      const known = this.#known.some((k) => k.session === s.session && k.id === s.id);
      if (!known && s.session !== undefined && this.#known.length < MAX_KNOWN) {
        this.#known.push({
          session: s.session,
          id: s.id,
          time: s.time,
          where: s.where,
          rule: s.rule,
        });
      }
    }
    if (this.#known.length === 0) return this.#say('No snapshots yet ("snap FILE:LINE" sets one)');
    await this.#fetchMissing();
    const lines = [" #  session           time          where                      values"];
    this.#known.forEach((k, i) => {
      const top = k.snapshot?.stack[k.snapshot.stack.length - 1];
      const values = Object.entries(top?.locals ?? {}).map(([n, v]) => `${n}=${v}`).join(" ");
      lines.push(
        `${String(i + 1).padStart(2)}  ${sanitize(k.session).padEnd(17)} ${k.time.slice(11, 23)}  ${
          this.#where(k.session, k.where).padEnd(26)
        } ${sanitize(values).slice(0, 120)}`,
      );
    });
    this.#say(lines.join("\n"));
  }

  async #fetchMissing(): Promise<void> {
    const missing = this.#known.filter((k) => !k.snapshot);
    for (let i = 0; i < missing.length; i += FETCH_AT_ONCE) {
      await Promise.all(
        missing.slice(i, i + FETCH_AT_ONCE).map(async (k) => {
          try {
            k.snapshot = await this.#group.snapshot({ session: k.session, id: k.id });
          } catch {
            // Gone (its session ended, or it was dropped past the bounds): shown without values.
          }
        }),
      );
    }
  }

  /** `snapshot N`: one snapshot as `where` and `locals` would show it at that moment. */
  async #showSnapshot(arg: string): Promise<void> {
    const n = Number(arg.trim());
    const known = Number.isInteger(n) ? this.#known[n - 1] : undefined;
    if (!known) {
      throw new ArgumentError(
        `No snapshot ${arg.trim() || "?"} ("snapshots" lists them, numbered from 1)`,
      );
    }
    if (!known.snapshot) {
      known.snapshot = await this.#group.snapshot({ session: known.session, id: known.id });
    }
    const cwd = this.#members.get(known.session)?.tracer?.cwd;
    const lines = formatSnapshot(known.snapshot, `Snapshot ${n} of ${known.session}`, cwd);
    this.#say(lines.map((l) => sanitize(l)).join("\n"));
  }

  /** `attach ID`: one member's terminal has the screen until `attach ..` (or it ends). */
  async #drive(target: string): Promise<void> {
    if (target === "" || target === "..") throw new ArgumentError("Usage: attach SESSION");
    const member = this.#members.get(target) ??
      [...this.#members.values()].find((m) => String(m.tracer?.pid) === target);
    if (!member || member.state === "ended" || member.state === "refused") {
      throw new ArgumentError(
        `${target} is not a live member of group ${this.#options.group} ("sessions" lists them)`,
      );
    }
    const { server, token, caCerts, name, retryFor } = this.#options;
    const client = await ReconnectingSession.connect(server, {
      session: member.session,
      auth: token,
      caCerts,
      name,
      retryFor,
    });
    const tracer = client.attached.tracer;
    this.#driving = true;
    this.#screen.setPrompt(null);
    this.#say(
      `[session ${sanitize(member.session)}` +
        (tracer ? `: ${sanitize(tracer.argv.join(" "))} (pid ${tracer.pid})` : "") +
        `; "attach .." goes back to group ${this.#options.group}]`,
    );
    let next: string | undefined;
    const terminal: TerminalClient = new TerminalClient({
      ...terminalOptions(client, { tracer, attached: client.attached }),
      screen: this.#screen,
      up: `group ${this.#options.group}`,
      onAttach: (to) => {
        if (to !== "..") next = to;
        terminal.leave();
        return Promise.resolve();
      },
    });
    try {
      await terminal.run();
    } finally {
      client.close();
      this.#driving = false;
    }
    if (next !== undefined) return await this.#drive(next);
    this.#take();
    this.#say(`[back in group ${this.#options.group}: ${this.#summary()}]`);
  }
}

function list(items: string[]): string {
  return items.length <= 8
    ? items.join(", ")
    : `${items.slice(0, 8).join(", ")} and ${items.length - 8} more`;
}

/** `log LOCATION MESSAGE`: a logpoint; `{expression}` parts are evaluated at each hit. */
function parseLog(arg: string): Record<string, unknown> {
  const [word = "", ...words] = arg.trim().split(/\s+/);
  const rest = words.join(" ");
  if (word === "" || rest.trim() === "") {
    throw new ArgumentError("Usage: log [file:]line | function MESSAGE ({expr} is evaluated)");
  }
  return { ...parseBreak(word), log: rest.trim() };
}

/** `snap [-n N] LOCATION [, CONDITION]`: a snapshot breakpoint (at most N per member). */
function snapRule(arg: string): Record<string, unknown> {
  const { text, max } = parseSnap(arg);
  if (text === "") {
    throw new ArgumentError("Usage: snap [-n N] [file:]line | function [, condition]");
  }
  if (max < 1 || max > 1000) throw new ArgumentError("snap -n takes 1 to 1000 snapshots");
  return { ...parseBreak(text), snapshot: true, max };
}

const HELP = `The group's commands (each acts on every member, and on members that join later):
  b [file:]line | function [, cond]   stop members there (b alone lists the rules)
  tbreak ...                          the same, once per member
  log [file:]line | function MESSAGE  print MESSAGE from each member ({expr} is evaluated)
  snap [-n N] [file:]line [, cond]    take up to N snapshots per member; they never stop
  clear [RULE ...]                    clear rules (all without one)
  rules                               the group's breakpoints
  sessions                            the members and their state
  snapshots                           every snapshot taken, as one table
  snapshot N                          one snapshot: its stack and values
  continue                            every stopped member runs on
  attach ID                           drive one member (pdb's commands); "attach .." comes back
  q                                   leave the group (its members run on)`;
