/**
 * The web client's group page (`/g/GROUP`): a fleet at a glance. Its members (each a link to its
 * own page), the group's rules with a form to add a snapshot, a logpoint or a breakpoint on every
 * member and a button to clear each, the snapshots taken as one table of values by member (a
 * click shows one whole), and the logpoint output named by member. It speaks the group link
 * (`BASE?group=NAME`) of the protocol.
 *
 * @module
 */

import { AttachError, CommandError } from "../../client.ts";
import { GroupClient } from "../../group.ts";
import type {
  Applied,
  GroupLinkEvent,
  GroupRule,
  Member,
  Snapshot,
} from "../../../protocol/mod.ts";
import { askToken, base, body, button, el, panel, token } from "./dom.ts";

/** Most log lines the page keeps. */
const MAX_LOG = 500;
/** Most snapshots the table shows (the newest). */
const MAX_SNAPSHOTS = 500;

/** Runs the page of group `name`. */
export function groupPage(name: string): void {
  document.title = `qdb: group ${name}`;
  const members = new Map<string, Member>();
  let rules: GroupRule[] = [];
  const snapshots: Snapshot[] = [];
  const log: string[] = [];
  /** The group's client: it tracks the replies of the page's commands. */
  let group: GroupClient | undefined;

  const header = el("header");
  const status = el("span", "status", "connecting");
  status.setAttribute("role", "status");
  header.append(el("h1", "", `group ${name}`), status);

  const membersBox = panel("Members");
  const memberTable = el("table", "members");
  membersBox.body.append(memberTable);

  const rulesBox = panel("Rules");
  const ruleList = el("ul", "rules");
  const form = el("form", "rule-form");
  form.setAttribute("aria-label", "Add a rule");
  const kind = el("select");
  kind.setAttribute("aria-label", "Kind");
  for (
    const [value, label] of [["snapshot", "Snapshot"], ["log", "Logpoint"], ["stop", "Breakpoint"]]
  ) {
    const option = el("option", "", label);
    option.value = value!;
    kind.append(option);
  }
  const where = input("Location (file:line or function)");
  const cond = input("Condition (optional)");
  const message = input("Log message ({expression} is evaluated)");
  const add = el("button", "", "Add to every member");
  add.type = "submit";
  form.append(kind, where, cond, message, add);
  const said = el("p", "said");
  said.setAttribute("role", "status");
  rulesBox.body.append(ruleList, form, said);

  const snapBox = panel("Snapshots");
  const snapTable = el("table", "snapshots");
  const snapDetail = el("pre", "snapshot");
  snapDetail.setAttribute("aria-label", "Snapshot");
  snapBox.body.append(snapTable, snapDetail);

  const logBox = panel("Logpoint output");
  const logView = el("pre", "output");
  logView.setAttribute("role", "log");
  logBox.body.append(logView);

  const main = el("main", "group");
  main.append(membersBox.box, rulesBox.box, snapBox.box, logBox.box);
  body.append(header, main);

  function input(label: string): HTMLInputElement {
    const field = el("input");
    field.setAttribute("aria-label", label);
    field.placeholder = label;
    return field;
  }

  /** A command to every member, and what it did (or why not), in words. */
  async function apply(e: string, p: unknown): Promise<string> {
    if (!group) return "Not connected to the server";
    try {
      return describe(await group.apply(e, p));
    } catch (error) {
      if (error instanceof CommandError) return `Refused: ${error.error.data}`;
      return error instanceof Error ? error.message : String(error);
    }
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const spec: Record<string, unknown> = {};
    const at = where.value.trim();
    const fileLine = /^(.+):(\d+)$/.exec(at);
    if (fileLine) {
      spec.file = fileLine[1];
      spec.line = Number(fileLine[2]);
    } else if (/^\d+$/.test(at)) spec.line = Number(at);
    else if (/^[A-Za-z_][\w.]*$/.test(at)) spec.func = at;
    else {
      said.textContent = "Give a location: file:line, a line, or a function";
      return;
    }
    if (cond.value.trim()) spec.cond = cond.value.trim();
    if (kind.value === "snapshot") spec.snapshot = true;
    if (kind.value === "log") {
      if (!message.value.trim()) {
        said.textContent = "A logpoint needs a message";
        return;
      }
      spec.log = message.value.trim();
    }
    said.textContent = await apply("set_break", spec);
  });

  function describe(p: Applied): string {
    const what = p.command === "set_break" ? `${p.rule} set on` : `${p.rule} cleared on`;
    const errors = (p.errors ?? []).map((e) => `; ${e.session}: ${e.data}`).join("");
    return `${what} ${p.sessions} of ${p.of} members${errors}`;
  }

  function renderMembers(): void {
    const head = el("tr");
    for (const h of ["Member", "State", "Where", "Program"]) head.append(el("th", "", h));
    const rows = [...members.values()].map((m) => {
      const row = el("tr", m.state);
      const cell = el("td");
      const link = el("a", "", m.session);
      link.href = `${base}s/${encodeURIComponent(m.session)}`;
      cell.append(link);
      const at = m.where ? `${basename(m.where.file)}:${m.where.line}` : m.reason ?? "";
      const program = m.tracer
        ? `${m.tracer.argv.join(" ")} (${m.tracer.host}, pid ${m.tracer.pid})`
        : "";
      row.append(cell, el("td", "", m.state), el("td", "", at), el("td", "", program));
      return row;
    });
    memberTable.replaceChildren(head, ...rows);
    const live = [...members.values()].filter((m) => m.state !== "ended").length;
    const stopped = [...members.values()].filter((m) => m.state === "stopped").length;
    status.textContent = `${live} live member${live === 1 ? "" : "s"}` +
      (stopped > 0 ? `, ${stopped} stopped` : "");
  }

  function renderRules(): void {
    ruleList.replaceChildren(...rules.map(({ rule, set }) => {
      const item = el("li");
      const at = set.func ? String(set.func) : `${set.file ?? "(main file)"}:${set.line}`;
      const what = set.snapshot
        ? "snapshot"
        : typeof set.log === "string"
        ? `log "${set.log}"`
        : "breakpoint";
      const cond = typeof set.cond === "string" ? ` if ${set.cond}` : "";
      item.append(
        el("span", "", `${rule}: ${what} at ${at}${cond} `),
        button("Clear", `Clear ${rule} on every member`, async () => {
          said.textContent = await apply("clear_break", { rule });
        }, `Clear ${rule}`),
      );
      return item;
    }));
  }

  function renderSnapshots(): void {
    const head = el("tr");
    for (const h of ["Member", "Time", "Where", "Values"]) head.append(el("th", "", h));
    const rows = snapshots.map((s) => {
      const row = el("tr");
      const top = s.stack[s.stack.length - 1];
      const values = Object.entries(top?.locals ?? {}).map(([k, v]) => `${k}=${v}`).join(" ");
      const open = button(
        s.session ?? "?",
        "Show this snapshot",
        () => showSnapshot(s),
        `Snapshot ${s.id} of ${s.session}`,
      );
      const cell = el("td");
      cell.append(open);
      row.append(
        cell,
        el("td", "", s.time.slice(11, 23)),
        el("td", "", top ? `${basename(top.file)}:${top.line} in ${top.func}` : ""),
        el("td", "values", values.slice(0, 300)),
      );
      return row;
    });
    snapTable.replaceChildren(head, ...rows);
  }

  function showSnapshot(s: Snapshot): void {
    const lines = [`Snapshot ${s.id} of ${s.session}, taken ${s.time}`];
    for (const frame of [...s.stack].reverse()) {
      lines.push(`${frame.func} (${frame.file}:${frame.line})`);
      for (const [k, v] of Object.entries(frame.locals ?? {})) lines.push(`    ${k} = ${v}`);
    }
    snapDetail.textContent = lines.join("\n");
  }

  /** The group as attaching found it, then the snapshots kept from before this page came. */
  async function attached(client: GroupClient): Promise<void> {
    members.clear();
    for (const m of client.state.members) members.set(m.session, m);
    rules = client.state.rules;
    renderMembers();
    renderRules();
    try {
      for (const summary of await client.snapshots()) {
        if (summary.session === undefined) continue; // a group's always name their member
        addSnapshot(await client.snapshot({ session: summary.session, id: summary.id }));
      }
    } catch {
      // The link closed meanwhile: the status says so.
    }
  }

  function receive(msg: GroupLinkEvent): void {
    switch (msg.e) {
      case "member": {
        const m = msg.p;
        members.set(m.session, { ...members.get(m.session), ...m });
        renderMembers();
        break;
      }
      case "rules":
        rules = msg.p;
        renderRules();
        break;
      case "snapshot":
        addSnapshot(msg.p);
        break;
      case "print": {
        const p = msg.p;
        for (const line of p.output.replace(/\n$/, "").split("\n")) {
          log.push(`[${p.session}] ${line}`);
        }
        log.splice(0, Math.max(0, log.length - MAX_LOG));
        logView.textContent = log.join("\n");
        break;
      }
      case "error":
        said.textContent = String(msg.p.data);
        break;
    }
  }

  function addSnapshot(s: Snapshot): void {
    if (snapshots.some((k) => k.session === s.session && k.id === s.id)) return;
    snapshots.push(s);
    snapshots.sort((a, b) => a.time.localeCompare(b.time));
    snapshots.splice(0, Math.max(0, snapshots.length - MAX_SNAPSHOTS));
    renderSnapshots();
  }

  async function connect(): Promise<void> {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    try {
      group = await GroupClient.connect(`${scheme}://${location.host}${base}`, {
        group: name,
        auth: token(),
        name: "web",
      });
    } catch (error) {
      if (error instanceof AttachError && error.type === "auth") {
        askToken("The server needs a token.", () => void connect());
      } else {
        status.textContent = `not attached: ${error instanceof Error ? error.message : error}`;
      }
      return;
    }
    void attached(group);
    for await (const msg of group.events) receive(msg);
    group = undefined;
    status.textContent = "disconnected (reload to attach again)";
  }
  renderSnapshots();
  void connect();
}

function basename(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1);
}
