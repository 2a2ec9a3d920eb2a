/**
 * Starting a JavaScript runtime (Node, or Deno) with its V8 inspector on a private address:
 * bound to 127.0.0.1 on a port the system picks, at a path with a random UUID that the runtime
 * prints only on its standard error, which qdb reads (Node's `--inspect-publish-uid=stderr`
 * keeps it out of the inspector's `/json/list`, where any local user could read it: the
 * CVE-2018-7160 lesson). No one else learns the address; the program is stopped before its
 * first line until qdb has connected.
 *
 * @module
 */

import { ProgramProcess } from "../process.ts";

/** The runtime qdb started, its inspector's address, and what it printed before it. */
export interface StartedRuntime {
  /** The runtime's process. */
  process: ProgramProcess;
  /** The inspector's WebSocket address. */
  url: string;
  /** Standard error from after the address on (the program's own, and the runtime's). */
  stderr: ReadableStream<Uint8Array>;
  /** What the runtime wrote on standard error before its address (shown as the program's). */
  early: string;
}

/** Options of {@linkcode startRuntime}. */
export interface RuntimeLaunch {
  runtime: string;
  program: string;
  args: string[];
  runtimeArgs?: string[] | undefined;
  cwd: string;
  env: Record<string, string> | undefined;
  stdin: "inherit" | "piped" | "null";
  /** Aborting stops waiting for the address (and kills the runtime). */
  signal?: AbortSignal | undefined;
}

/** Whether a runtime command is Deno's (else Node's command line is used). */
export function isDeno(runtime: string): boolean {
  return /(^|\/)deno$/.test(runtime);
}

/**
 * The runtime's command line with its inspector on a private address, stopped at the start:
 * the runtime's own arguments as the person gave them (Deno's permissions are theirs to give:
 * `qdb run -- deno run --allow-net app.ts`), then qdb's, then the program's.
 */
export function inspectArgs(
  runtime: string,
  program: string,
  args: string[],
  runtimeArgs: string[] = [],
): string[] {
  const own = runtimeArgs.filter((a) => !/^--inspect/.test(a));
  if (isDeno(runtime)) {
    const flags = own[0] === "run" ? own.slice(1) : own;
    return ["run", ...flags, "--inspect-brk=127.0.0.1:0", program, ...args];
  }
  return [...own, "--inspect-brk=127.0.0.1:0", "--inspect-publish-uid=stderr", program, ...args];
}

const LISTENING = /Debugger listening on (ws:\/\/127\.0\.0\.1:\d+\/[\w/-]+)/;

/** Starts the runtime and reads its inspector's address from its standard error. */
export async function startRuntime(launch: RuntimeLaunch): Promise<StartedRuntime> {
  const process = ProgramProcess.spawn({
    command: launch.runtime,
    args: inspectArgs(launch.runtime, launch.program, launch.args, launch.runtimeArgs),
    cwd: launch.cwd,
    env: launch.env,
    stdin: launch.stdin,
    what: `the runtime "${launch.runtime}"`,
    missing: "install Node.js or Deno, or give its path with --node PATH",
  });
  const child = process.child;
  const [mine, rest] = child.stderr.tee();
  const reader = mine.getReader();
  const decoder = new TextDecoder();
  let seen = "";
  try {
    while (true) {
      if (launch.signal?.aborted) throw new Error("Aborted while starting the runtime");
      const { value, done } = await reader.read();
      if (done) {
        const status = await process.status;
        const how = status.signal !== null ? `ended by ${status.signal}` : `code ${status.code}`;
        throw new Error(
          `${launch.runtime} exited (${how}) before its inspector listened: ` +
            seen.trim().slice(-2000),
        );
      }
      seen += decoder.decode(value, { stream: true });
      const found = LISTENING.exec(seen);
      if (found) {
        reader.releaseLock();
        // What came before the address is the runtime's own (none, usually).
        const early = seen.slice(0, found.index);
        // The rest of `mine` is not read again: cancel it (`rest` has it all).
        mine.cancel().catch(() => {});
        return { process, url: found[1]!, stderr: skipUntil(rest, found[0]), early };
      }
      if (seen.length > 64 * 1024) throw new Error("The runtime never said where its inspector is");
    }
  } catch (error) {
    process.kill("SIGKILL");
    throw error;
  }
}

/** A copy of a stream that skips everything up to the end of the line holding `marker`. */
function skipUntil(stream: ReadableStream<Uint8Array>, marker: string): ReadableStream<Uint8Array> {
  const decoder = new TextDecoder();
  const encoder = new TextEncoder();
  let buffer = "";
  let found = false;
  return stream.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, out) {
        if (found) return out.enqueue(chunk);
        buffer += decoder.decode(chunk, { stream: true });
        const at = buffer.indexOf(marker);
        if (at < 0) return;
        const end = buffer.indexOf("\n", at);
        if (end < 0) return;
        found = true;
        const after = buffer.slice(end + 1);
        if (after) out.enqueue(encoder.encode(after));
      },
    }),
  );
}

/** Lines the runtime writes about its inspector, not the program's output. */
export const INSPECTOR_NOISE =
  /^(For help, see: https:\/\/nodejs\.org\/en\/docs\/inspector|Debugger attached\.|Waiting for the debugger to disconnect\.\.\.|Debugger session (?:started|ended)\.?|Visit chrome:\/\/inspect to connect to the debugger\.|Deno is waiting for debugger to connect\.|Program finished\. Waiting for inspector to disconnect to exit the process\.\.\.)\r?$/;
