/**
 * `qdb dap` attached to a group (`"group": NAME` in the attach configuration): the editor's
 * breakpoints become the group's rules, set on every member (and on members that join later).
 * A breakpoint without a log message is a **snapshot** by default (`"groupBreakpoints":
 * "stop"` makes it stop members instead): a fleet is watched, not held. Logpoint output comes as
 * output events naming the member; each snapshot as an output event whose values the editor
 * expands (its frames, then each frame's locals). A member that stops is offered to the editor
 * as a debug session of its own (`startDebugging`), as a child process is.
 *
 * @module
 */

import { GroupClient } from "../client/group.ts";
import type { GroupLinkEvent, Member, Snapshot } from "../protocol/mod.ts";
import type { PathMapper } from "./paths.ts";

/** What the group's debug session needs of its adapter. */
export interface GroupHost {
  /** Sends a DAP event. */
  event(event: string, body?: unknown): void;
  /** Asks the editor to debug a member as a session of its own (when it can). */
  startMember(session: string, name: string): void;
  /** Paths between the editor's machine and the members'. */
  paths: PathMapper;
  /** The group ended (the server closed its link). */
  ended(): void;
}

/** One variables reference: a snapshot's frames, or one frame's locals. */
type Reference =
  | { kind: "frames"; snapshot: Snapshot }
  | { kind: "locals"; locals: Record<string, string> };

/** Most variables references kept (the oldest snapshots' are forgotten past it). */
const MAX_REFERENCES = 10_000;

/** The group's debug session. */
export class DapGroup {
  readonly #group: GroupClient;
  readonly #host: GroupHost;
  readonly #stopMembers: boolean;
  readonly #name: string;
  /** The rules of each of the editor's files (replaced as a whole, as DAP does). */
  readonly #rulesOf = new Map<string, string[]>();
  #functionRules: string[] = [];
  readonly #references = new Map<number, Reference>();
  #nextReference = 1;
  readonly #started = new Set<string>();

  private constructor(group: GroupClient, host: GroupHost, name: string, stop: boolean) {
    this.#group = group;
    this.#host = host;
    this.#name = name;
    this.#stopMembers = stop;
  }

  /** Attaches to group `args.group` of `args.server`. */
  static async attach(args: Record<string, unknown>, host: GroupHost): Promise<DapGroup> {
    const server = typeof args.server === "string" ? args.server : "ws://127.0.0.1:8002";
    const group = await GroupClient.connect(server, {
      group: String(args.group),
      auth: typeof args.token === "string" ? args.token : undefined,
      name: "dap",
    });
    const self = new DapGroup(group, host, String(args.group), args.groupBreakpoints === "stop");
    const members = group.state.members.filter((m) => m.state !== "refused").length;
    host.event("output", {
      category: "console",
      output: `qdb: group ${self.#name}, ${members} member${members === 1 ? "" : "s"}; ` +
        (self.#stopMembers
          ? "breakpoints stop members"
          : "breakpoints take snapshots (the members run on)") +
        "\n",
    });
    for (const member of group.state.members) self.#member(member);
    void self.#pump();
    return self;
  }

  async #pump(): Promise<void> {
    for await (const msg of this.#group.events) this.#on(msg);
    this.#host.ended();
  }

  #on(msg: GroupLinkEvent): void {
    switch (msg.e) {
      case "member":
        return this.#member(msg.p);
      case "print": {
        const p = msg.p;
        const lines = p.output.replace(/\n$/, "").split("\n");
        const output = lines.map((l) => `[${p.session}] ${l}`).join("\n") + "\n";
        return this.#host.event("output", { category: "console", output });
      }
      case "snapshot":
        return void this.#snapshot(msg.p);
      case "error": {
        return this.#host.event("output", {
          category: "stderr",
          output: `qdb: ${msg.p.data}\n`,
        });
      }
    }
  }

  #member(member: Member): void {
    if (member.state !== "stopped" || this.#started.has(member.session)) return;
    this.#started.add(member.session);
    this.#host.startMember(member.session, `${member.session} (group ${this.#name})`);
  }

  /** A snapshot as an output event whose values expand. */
  async #snapshot(snapshot: Snapshot): Promise<void> {
    const top = snapshot.stack[snapshot.stack.length - 1];
    const body: Record<string, unknown> = {
      category: "console",
      output: `snapshot ${snapshot.id} of ${snapshot.session}` +
        (top ? ` at ${top.file}:${top.line} in ${top.func}` : "") + "\n",
      variablesReference: this.#reference({ kind: "frames", snapshot }),
    };
    if (top) {
      body.source = await this.#host.paths.source(top.file);
      body.line = top.line;
    }
    this.#host.event("output", body);
  }

  #reference(ref: Reference): number {
    const id = this.#nextReference++;
    this.#references.set(id, ref);
    if (this.#references.size > MAX_REFERENCES) {
      this.#references.delete(this.#references.keys().next().value!);
    }
    return id;
  }

  /** The requests of a group's debug session; undefined for one it does not take. */
  async dispatch(command: string, args: Record<string, unknown>): Promise<unknown> {
    switch (command) {
      case "setBreakpoints":
        return await this.#setBreakpoints(args);
      case "setFunctionBreakpoints":
        return await this.#setFunctionBreakpoints(args);
      case "setExceptionBreakpoints":
      case "configurationDone":
        return undefined;
      case "threads":
        return { threads: [{ id: 1, name: `group ${this.#name}` }] };
      case "variables":
        return { variables: this.#variables(Number(args.variablesReference)) };
      case "continue":
        await this.#group.request("continue");
        return { allThreadsContinued: true };
      case "disconnect":
      case "terminate":
        this.#group.close();
        return undefined;
      default:
        throw new Error(
          `"${command}" is not for a group: debug one member (it opens when it stops)`,
        );
    }
  }

  #variables(reference: number): Record<string, unknown>[] {
    const ref = this.#references.get(reference);
    if (!ref) return [];
    if (ref.kind === "locals") {
      return Object.entries(ref.locals).map(([name, value]) => ({
        name,
        value,
        variablesReference: 0,
      }));
    }
    return [...ref.snapshot.stack].reverse().map((frame) => ({
      name: `${frame.func} (${frame.file}:${frame.line})`,
      value: frame.locals ? `${Object.keys(frame.locals).length} locals` : "",
      variablesReference: frame.locals
        ? this.#reference({ kind: "locals", locals: frame.locals })
        : 0,
    }));
  }

  /** What the editor's breakpoint becomes on the group. */
  #rule(b: Record<string, unknown>): Record<string, unknown> {
    const spec: Record<string, unknown> = {};
    if (typeof b.condition === "string" && b.condition) spec.cond = b.condition;
    if (typeof b.hitCondition === "string" && b.hitCondition) {
      spec.hit_condition = b.hitCondition;
    }
    if (typeof b.logMessage === "string") spec.log = b.logMessage;
    else if (!this.#stopMembers) spec.snapshot = true;
    return spec;
  }

  /** Replaces `old` rules by the rules of `specs`; each one's answer, as DAP wants it. */
  async #replace(
    old: string[],
    specs: Record<string, unknown>[],
    shown: (spec: Record<string, unknown>) => Record<string, unknown>,
  ): Promise<{ rules: string[]; breakpoints: Record<string, unknown>[] }> {
    for (const rule of old) {
      await this.#group.request("clear_break", { rule }).catch(() => {});
    }
    const rules: string[] = [];
    const breakpoints: Record<string, unknown>[] = [];
    for (const spec of specs) {
      try {
        const applied = await this.#group.apply("set_break", spec);
        rules.push(applied.rule!);
        breakpoints.push({
          ...shown(spec),
          verified: applied.sessions > 0 || applied.of === 0,
          message: `${applied.rule}: on ${applied.sessions} of ${applied.of} members` +
            (applied.errors?.length
              ? ` (${applied.errors[0]!.session}: ${applied.errors[0]!.data})`
              : ""),
        });
      } catch (error) {
        breakpoints.push({ ...shown(spec), verified: false, message: String(error) });
      }
    }
    return { rules, breakpoints };
  }

  async #setBreakpoints(args: Record<string, unknown>): Promise<unknown> {
    const source = (args.source ?? {}) as { path?: string };
    if (typeof source.path !== "string") throw new Error("setBreakpoints needs a path");
    const file = this.#host.paths.remote(source.path);
    const wanted = (args.breakpoints as Record<string, unknown>[] | undefined) ?? [];
    const specs = wanted.map((b) => ({ file, line: Number(b.line), ...this.#rule(b) }));
    const { rules, breakpoints } = await this.#replace(
      this.#rulesOf.get(source.path) ?? [],
      specs,
      (spec) => ({ line: spec.line, source: { path: source.path } }),
    );
    this.#rulesOf.set(source.path, rules);
    return { breakpoints };
  }

  async #setFunctionBreakpoints(args: Record<string, unknown>): Promise<unknown> {
    const wanted = (args.breakpoints as Record<string, unknown>[] | undefined) ?? [];
    const specs = wanted.map((b) => ({ func: String(b.name), ...this.#rule(b) }));
    const { rules, breakpoints } = await this.#replace(this.#functionRules, specs, () => ({}));
    this.#functionRules = rules;
    return { breakpoints };
  }
}
