/**
 * The scenario backend that goes through real processes: a `qdb serve`, a `qdb trace` running
 * the program, and a scripted WebSocket client. The client attaches before the tracer starts,
 * so it sees every event the program causes, as the engine backend does; the state the tracer
 * sends in reply to the client's `start` is left out for the same reason.
 *
 * What the tracer prints on its own terminal is the program's output here (it mirrors the
 * program's stdout and stderr, and keeps doing so after a soft disable); at disposal, what the
 * client received must be a prefix of it, stream by stream.
 *
 * @module
 */

import type { ExitStatus } from "../../engine/engine.ts";
import type { Message } from "../../protocol/mod.ts";
import { connectWebSocket } from "../../transport/websocket.ts";
import { QdbProcess, startServe } from "./processes.ts";
import { EventLog, guardExit, type ScenarioBackend } from "./scenario.ts";

/** Server events: checked by the server's own tests, not part of a program's scenario. */
const SERVER_ONLY = new Set(["attached", "clients", "command", "disable", "child"]);
const START_ID = "scenario-start";

const STDIN: Record<string, string> = { inherit: "terminal", piped: "clients", null: "none" };

/** Signals by number (Linux), to read `qdb trace`'s exit code (128 + the signal). */
const SIGNALS: Record<number, string> = {
  1: "SIGHUP",
  2: "SIGINT",
  6: "SIGABRT",
  9: "SIGKILL",
  11: "SIGSEGV",
  15: "SIGTERM",
};

/** Runs scenarios through `qdb serve` and `qdb trace` processes and a WebSocket client. */
export const processBackend: ScenarioBackend = {
  name: "serve+trace",
  async open(python, program, options = {}) {
    const serve = await startServe();
    const session = `scenario-${crypto.randomUUID().slice(0, 8)}`;
    const link = await connectWebSocket(`${serve.clientUrl}/${session}`);
    link.send({ e: "start", p: { name: "scenario" }, id: START_ID });
    const log = new EventLog();
    const { promise: tracerArrived, resolve: arrive } = Promise.withResolvers<void>();
    let arrived = false;
    const pump = (async () => {
      for await (const item of link.incoming) {
        if ("error" in item) {
          log.violations.push(`unreadable message from the server: ${item.error.message}`);
          continue;
        }
        const msg = item.message;
        if (msg.e === "attached" && (msg.p as { tracer: unknown }).tracer) {
          arrived = true;
          arrive();
        }
        if (SERVER_ONLY.has(msg.e) || msg.id === START_ID) continue;
        log.receive(msg);
      }
      log.end();
    })();

    const args = [
      "trace",
      "--server",
      serve.tracerUrl,
      "--session",
      session,
      "--python",
      python,
      "--retries",
      "0",
      "--eval-timeout",
      String(options.evalTimeout ?? 0),
      "--stdin",
      STDIN[options.stdin ?? "inherit"]!,
    ];
    if (options.stopOnEntry === false) args.push("--no-stop");
    // This backend looks for breakpoints with the tracing fallback; the engine backend
    // compiles them (the default): every scenario runs both ways.
    if (options.breakpointMode !== "compiled") args.push("--traced-breakpoints");
    for (const where of options.breakpoints ?? []) args.push("--break", where);
    if (options.breakOn) args.push("--break-on", options.breakOn);
    if (options.evalPolicy) args.push("--eval-policy", options.evalPolicy);
    for (const pattern of options.skip ?? []) args.push("--skip", pattern);
    args.push("--", program, ...(options.args ?? []));
    const tracer = new QdbProcess(args, {
      ...(options.env ? { env: options.env } : {}),
      ...(options.cwd ? { cwd: options.cwd } : {}),
    });

    // Commands are sent once the tracer is there (before, the server refuses them).
    // A quick program may be over before the server's `attached` is read here: the tracer has
    // failed only if it exited and no `attached` came (the link ends, or a grace passes).
    const failed = tracer.status.then(async (status) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([pump, new Promise((r) => timer = setTimeout(r, 5000))]);
      clearTimeout(timer);
      if (arrived) return;
      throw new Error(
        `qdb trace exited (${status.code}) before attaching:\n${tracer.text.stderr}`,
      );
    });
    try {
      await Promise.race([tracerArrived, failed]);
    } catch (error) {
      link.close();
      await pump;
      await serve[Symbol.asyncDispose]();
      throw error;
    }
    failed.catch(() => {});

    // The tracer's own status lines are not the program's.
    const stdout = () => tracer.text.stdout;
    const stderr = () => tracer.text.stderr.replace(/^qdb trace: .*\n/gm, "");
    const exited = (async (): Promise<ExitStatus> => {
      const status = await tracer.status;
      await tracer.close(); // Reads the rest of its output.
      const reported = log.seen.find((m) => m.e === "exited");
      if (reported) return { code: reported.p.code ?? null, signal: reported.p.signal ?? null };
      if (status.code > 128 && SIGNALS[status.code - 128]) {
        return { code: null, signal: SIGNALS[status.code - 128]! };
      }
      return { code: status.code, signal: null };
    })();
    const waitExit = guardExit(exited, () => tracer.close());

    let nextId = 1;
    return {
      send(e, p) {
        const id = nextId++;
        const msg: Message = { e, id };
        // A client's `start` carries its own auth, not the tracer-side `{client}` payload.
        if (p !== undefined && e !== "start") msg.p = p;
        link.send(msg);
        return id;
      },
      expect: (e, where) => log.expect(e, where),
      seen: log.seen,
      stdout,
      stderr,
      get exited() {
        return waitExit();
      },
      async [Symbol.asyncDispose]() {
        await tracer.close();
        link.close();
        await pump;
        await serve[Symbol.asyncDispose]();
        for (const stream of ["<stdout>", "<stderr>"] as const) {
          const received = log.output(stream);
          const printed = stream === "<stdout>" ? stdout() : stderr();
          if (!printed.startsWith(received) && !received.startsWith(printed)) {
            log.violations.push(
              `the client's ${stream} is not what the tracer printed: ${
                JSON.stringify(received.slice(0, 200))
              } vs ${JSON.stringify(printed.slice(0, 200))}`,
            );
          }
        }
        if (log.violations.length > 0) {
          throw new Error(`Protocol violations: ${log.violations.join("; ")}`);
        }
      },
    };
  },
};
