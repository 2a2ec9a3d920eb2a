/** `qdb sessions`: list the live sessions of a server. */

import { listSessions } from "../client.ts";
import { sanitize } from "../client/terminal/sanitize.ts";
import type { SessionInfo } from "../protocol/mod.ts";
import { readCaFiles } from "../transport/ca_files.ts";
import { type CommandSpec, list, type OptionSpec, str } from "./args.ts";

/** Default client address of a server. */
export const DEFAULT_CLIENT_URL = "ws://127.0.0.1:8002";

/** `--server`: where clients connect, for the commands that are clients. */
export const SERVER_OPTION: OptionSpec = {
  name: "server",
  short: "s",
  type: "string",
  placeholder: "URL",
  help:
    "The server's client address; several servers of one cluster, comma-separated, are tried in turn",
  default: DEFAULT_CLIENT_URL,
  env: "QDB_SERVER",
};

/** `--token`: the server's shared secret. */
export const TOKEN_OPTION: OptionSpec = {
  name: "token",
  type: "string",
  placeholder: "TOKEN",
  help: "The server's token",
  env: "QDB_TOKEN",
};

/** `--ca`: the CA certificates that may sign a TLS server's certificate. */
export const CA_OPTION: OptionSpec = {
  name: "ca",
  type: "string",
  multiple: true,
  placeholder: "FILE",
  help: "Trust TLS servers whose certificate this CA signed (PEM), instead of the system's CAs",
  env: "QDB_CA",
};

/** The `sessions` command. */
export const sessionsCommand: CommandSpec = {
  name: "sessions",
  usage: "[options]",
  summary: "List the live sessions of a qdb server.",
  options: [
    SERVER_OPTION,
    TOKEN_OPTION,
    CA_OPTION,
    { name: "json", type: "boolean", help: "Print the server's JSON as is" },
    {
      name: "group",
      short: "g",
      type: "string",
      placeholder: "NAME",
      help: "Only this group's members",
    },
  ],
  async run({ values }) {
    const server = str(values, "server") ?? DEFAULT_CLIENT_URL;
    const caCerts = await readCaFiles(list(values, "ca"));
    const group = str(values, "group");
    const found = await listSessions(server, { token: str(values, "token"), caCerts, group });
    if (values.json) {
      console.log(JSON.stringify(found, null, 2));
      return 0;
    }
    if (found.sessions.length === 0) {
      console.log(
        group === undefined
          ? `No live sessions on ${server}`
          : `No live members of group ${sanitize(group)} on ${server}`,
      );
      return 0;
    }
    const now = Date.parse(found.now);
    // Program names and hosts are what tracers chose: never let them drive the terminal.
    // Child sessions under their parents, indented.
    const rows = treeOrder(sanitize(found.sessions)).map(({ session, depth }) => {
      const row = describeSession(session, now);
      row[0] = `${"  ".repeat(depth)}${row[0]}`;
      return row;
    });
    const header = ["SESSION", "PROGRAM", "WHERE", "CLIENTS", "AGE"];
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
    for (const row of [header, ...rows]) {
      console.log(row.map((cell, i) => cell.padEnd(widths[i]!)).join("  ").trimEnd());
    }
    return 0;
  },
};

/** One session as table cells: id, program, where, clients, age. */
export function describeSession(session: SessionInfo, now: number): string[] {
  const tracer = session.tracer;
  return [
    session.id,
    tracer ? tracer.argv.join(" ") : "(no tracer yet)",
    tracer ? `${tracer.host}, pid ${tracer.pid}` : "",
    String(session.clients),
    formatAge(now - Date.parse(session.created)),
  ];
}

/**
 * Sessions in tree order: each session that is not a live one's child, then its descendants
 * (depth-first, in the order listed), each with its depth.
 */
export function treeOrder(sessions: SessionInfo[]): { session: SessionInfo; depth: number }[] {
  const ids = new Set(sessions.map((s) => s.id));
  const children = new Map<string, SessionInfo[]>();
  for (const s of sessions) {
    if (s.parent !== undefined && ids.has(s.parent)) {
      children.set(s.parent, [...children.get(s.parent) ?? [], s]);
    }
  }
  const out: { session: SessionInfo; depth: number }[] = [];
  const visit = (session: SessionInfo, depth: number) => {
    out.push({ session, depth });
    for (const child of children.get(session.id) ?? []) visit(child, depth + 1);
  };
  for (const s of sessions) {
    if (s.parent === undefined || !ids.has(s.parent)) visit(s, 0);
  }
  return out;
}

/** `12 s`, `3 min`, `2 h 5 min`. */
export function formatAge(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}
