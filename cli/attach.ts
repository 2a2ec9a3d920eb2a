/** `qdb attach`: the terminal client, attached to a session of a server. */

import { sanitize } from "../client/terminal/sanitize.ts";
import { listSessions } from "../client.ts";
import { runJsonPipe } from "../client/json_pipe.ts";
import { ReconnectingSession } from "../client/reconnect.ts";
import { readCaFiles } from "../transport/ca_files.ts";
import { type CommandSpec, list, num, str } from "./args.ts";
import { runTerminal, writeAll } from "./_terminal.ts";
import { type FleetOptions, runFleet } from "./fleet.ts";
import { GroupClient } from "../client/group.ts";
import {
  CA_OPTION,
  DEFAULT_CLIENT_URL,
  describeSession,
  SERVER_OPTION,
  TOKEN_OPTION,
} from "./sessions.ts";

/** The `attach` command. */
export const attachCommand: CommandSpec = {
  name: "attach",
  usage: "[options] [SESSION]",
  summary: "Attach the terminal client to a session (pdb's commands, remotely).",
  description: "Without SESSION it lists the live sessions: with one, it attaches to it; with\n" +
    "several, it asks which. Quitting (q, Ctrl-D) lets the program run on; `q hard` ends it;\n" +
    "`detach` leaves the session as it is for a later attach.",
  options: [
    SERVER_OPTION,
    TOKEN_OPTION,
    CA_OPTION,
    {
      name: "wait",
      type: "boolean",
      help: "Attach even when SESSION has no tracer yet, and wait for it",
    },
    {
      name: "reconnect",
      type: "string",
      placeholder: "SECONDS",
      help: "After losing the server, keep trying to attach again this long (0: never)",
      default: "60",
    },
    {
      name: "name",
      type: "string",
      placeholder: "NAME",
      help:
        "Your name, as other clients of the session see it (default: $USER, else $LOGNAME, else user@host)",
      env: "USER",
    },
    {
      name: "json",
      type: "boolean",
      help: "For programs (the Emacs mode): the session's messages as JSON lines on standard " +
        "output, commands as JSON lines on standard input",
    },
    {
      name: "group",
      short: "g",
      type: "string",
      placeholder: "NAME",
      help:
        "Attach to every member of a group (the fleet view): breakpoints, logpoints and snapshots on all of them; `attach ID` drives one",
    },
    {
      name: "terminal",
      type: "boolean",
      help: 'With --json: the terminal client runs in the pipe too ("line" commands in pdb\'s ' +
        'language; "say", "output" and "prompt" out)',
    },
  ],
  examples: ["qdb attach", 'qdb attach --server ws://server:8002 --token "$QDB_TOKEN" backtest-42'],
  async run({ values, positionals }) {
    const server = str(values, "server") ?? DEFAULT_CLIENT_URL;
    const token = str(values, "token");
    const caCerts = await readCaFiles(list(values, "ca"));
    let session = positionals[0];
    if (positionals.length > 1) {
      throw new Error(`attach takes one session id, got ${positionals.length} arguments`);
    }
    const group = str(values, "group");
    if (group !== undefined) {
      if (session !== undefined) throw new Error("give a SESSION or --group NAME, not both");
      const fleet = {
        server,
        group,
        token,
        caCerts,
        name: str(values, "name") ?? defaultClientName(),
        retryFor: num(values, "reconnect", 60, { min: 0 }) * 1000,
      };
      return values.json === true ? await groupJson(fleet) : await runFleet(fleet);
    }
    if (values.json === true) {
      return await attachJson(server, token, caCerts, session, {
        terminal: values.terminal === true,
        wait: values.wait === true,
        name: str(values, "name") ?? defaultClientName(),
        retryFor: num(values, "reconnect", 60, { min: 0 }) * 1000,
      });
    }
    if (session === undefined) {
      const picked = await pickSession(server, token, caCerts);
      if (picked === undefined) return 1;
      session = picked;
    } else if (values.wait !== true) {
      // A typo must not create a session and wait for ever: say what is there instead.
      const found = await listSessions(server, { token, caCerts });
      const live = found.sessions.filter((s) => s.tracer !== null);
      if (!live.some((s) => s.id === session)) {
        const ids = live.map((s) => s.id);
        console.error(
          `qdb attach: no live session "${sanitize(session)}" on ${server}` +
            (ids.length
              ? `; live sessions: ${sanitize(ids).join(", ")}`
              : "; there are no live sessions") +
            ". Use --wait to attach and wait for its tracer.",
        );
        return 1;
      }
    }
    const connectOptions = {
      auth: token,
      caCerts,
      name: str(values, "name") ?? defaultClientName(),
      retryFor: num(values, "reconnect", 60, { min: 0 }) * 1000,
    };
    const client = await ReconnectingSession.connect(server, { ...connectOptions, session });
    const tracer = client.attached.tracer;
    const others = client.attached.clients.length - 1;
    const readOnly = client.attached.clients.find((c) => c.id === client.attached.you)?.readOnly;
    console.log(
      tracer
        ? `Attached to session ${session}: ${
          tracer.argv.join(" ")
        } (${tracer.host}, pid ${tracer.pid})` +
          (others > 0 ? `, with ${others} other client${others > 1 ? "s" : ""}` : "")
        : `Attached to session ${session}; waiting for its tracer`,
    );
    if (readOnly) {
      console.log(
        "Read-only: you see everything that happens in the session; the server refuses commands.",
      );
    }
    return await runTerminal(client, {
      tracer,
      attached: client.attached,
      local: false,
      session,
      // `attach PID`: a child session of the program, in the same terminal.
      openSession: async (id) => {
        const other = await ReconnectingSession.connect(server, { ...connectOptions, session: id });
        return { connection: other, attached: other.attached };
      },
    });
  },
};

/**
 * `attach --json`: the session as JSON lines (client/json_pipe.ts). What keeps it from
 * attaching is one `error` line too (type `attach`), so that its reader needs no other parser.
 */
async function attachJson(
  server: string,
  token: string | undefined,
  caCerts: string[] | undefined,
  session: string | undefined,
  options: { terminal: boolean; wait: boolean; name: string | undefined; retryFor: number },
): Promise<number> {
  const fail = (data: string) => {
    writeAll(Deno.stdout, JSON.stringify({ e: "error", p: { type: "attach", data } }) + "\n");
    return 1;
  };
  let client: ReconnectingSession;
  try {
    if (session === undefined || !options.wait) {
      const live = (await listSessions(server, { token, caCerts })).sessions
        .filter((s) => s.tracer !== null).map((s) => s.id);
      const names = live.join(", ") || "none";
      if (session === undefined && live.length !== 1) {
        return fail(
          live.length === 0
            ? `No live sessions on ${server}`
            : `${live.length} live sessions on ${server}: name one (${names})`,
        );
      }
      session ??= live[0]!;
      if (!live.includes(session)) {
        return fail(`No live session "${session}" on ${server}; live sessions: ${names}`);
      }
    }
    client = await ReconnectingSession.connect(server, {
      session,
      auth: token,
      caCerts,
      name: options.name,
      retryFor: options.retryFor,
    });
  } catch (error) {
    return fail(error instanceof Error ? error.message : String(error));
  }
  await runJsonPipe(client, {
    input: Deno.stdin.readable,
    write: (line) => writeAll(Deno.stdout, line + "\n"),
    ...(options.terminal ? { terminal: {} } : {}),
  });
  return 0;
}

/** `attach --json --group`: the group link as JSON lines (the group's events, its replies). */
async function groupJson(options: FleetOptions): Promise<number> {
  let group: GroupClient;
  try {
    group = await GroupClient.connect(options.server, {
      group: options.group,
      auth: options.token,
      name: options.name,
      caCerts: options.caCerts,
    });
  } catch (error) {
    const data = error instanceof Error ? error.message : String(error);
    writeAll(Deno.stdout, JSON.stringify({ e: "error", p: { type: "attach", data } }) + "\n");
    return 1;
  }
  await runJsonPipe(group, {
    first: "group",
    input: Deno.stdin.readable,
    write: (line) => writeAll(Deno.stdout, line + "\n"),
  });
  return 0;
}

async function pickSession(
  server: string,
  token: string | undefined,
  caCerts: string[] | undefined,
): Promise<string | undefined> {
  // Program names and hosts are what tracers chose: never let them drive the terminal.
  const list = sanitize(await listSessions(server, { token, caCerts }));
  const now = Date.parse(list.now);
  const live = list.sessions.filter((s) => s.tracer !== null);
  if (live.length === 0) {
    console.error(
      `No live sessions on ${server}. Start one with: qdb trace --server tcp://HOST:8001 -- python3 app.py`,
    );
    return undefined;
  }
  const describe = (s: (typeof live)[number]) => {
    const [id, program, where, clients, age] = describeSession(s, now);
    return `${id}  ${program}  (${where}, ${clients} client${clients === "1" ? "" : "s"}, ${age})`;
  };
  if (live.length === 1) {
    console.log(`  1 live session:  ${describe(live[0]!)}`);
    return live[0]!.id;
  }
  console.log(`${live.length} live sessions:`);
  live.forEach((s, i) => console.log(`  ${i + 1}. ${describe(s)}`));
  if (!Deno.stdin.isTerminal()) {
    console.error("Name the session to attach to: qdb attach SESSION");
    return undefined;
  }
  const answer = prompt(`Attach to which? [1-${live.length}]`);
  const index = Number(answer) - 1;
  const chosen = live[index] ?? live.find((s) => s.id === answer);
  if (!chosen) {
    console.error(`No session "${answer}"`);
    return undefined;
  }
  return chosen.id;
}

/**
 * The name other clients see when `--name` and `$USER` are not set: `$LOGNAME`, or the user's
 * name from the system and the host (`ana@box`), rather than a bare client id.
 */
export function defaultClientName(env = Deno.env, host = () => Deno.hostname()): string {
  const login = env.get("LOGNAME") ?? env.get("USERNAME");
  if (login) return login;
  let machine = "";
  try {
    machine = host();
  } catch {
    // No permission or no name: the user alone.
  }
  let user = "user";
  try {
    const uid = Deno.uid();
    if (uid !== null) {
      const line = Deno.readTextFileSync("/etc/passwd").split("\n")
        .find((l) => l.split(":")[2] === String(uid));
      if (line) user = line.split(":")[0]!;
    }
  } catch {
    // No /etc/passwd (not Unix, or no permission).
  }
  return machine ? `${user}@${machine}` : user;
}
