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

/** The runtime qdb started, its inspector's address, and what it printed before it. */
export interface StartedRuntime {
  /** The runtime's process. */
  child: Deno.ChildProcess;
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
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(launch.runtime, {
      args: inspectArgs(launch.runtime, launch.program, launch.args, launch.runtimeArgs),
      cwd: launch.cwd,
      ...(launch.env ? { env: launch.env } : {}),
      stdin: launch.stdin,
      stdout: "piped",
      stderr: "piped",
      // Its own session: a Ctrl-C in the tracer's terminal is not delivered to it.
      detached: true,
    }).spawn();
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new Error(`${launch.runtime}: no such runtime (give its path with --node PATH)`);
    }
    throw error;
  }
  const [mine, rest] = child.stderr.tee();
  const reader = mine.getReader();
  const decoder = new TextDecoder();
  let seen = "";
  try {
    while (true) {
      if (launch.signal?.aborted) throw new Error("Aborted while starting the runtime");
      const { value, done } = await reader.read();
      if (done) {
        const status = await child.status;
        throw new Error(
          `${launch.runtime} exited (code ${status.code}) before its inspector listened: ` +
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
        return { child, url: found[1]!, stderr: skipUntil(rest, found[0]), early };
      }
      if (seen.length > 64 * 1024) throw new Error("The runtime never said where its inspector is");
    }
  } catch (error) {
    try {
      child.kill("SIGKILL");
    } catch {
      // Gone already.
    }
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
