import { assert, assertEquals } from "./assert.ts";
import type { PythonInstall } from "./pythons.ts";

/**
 * Whether this machine lets tests attach to a process with gdb (issue 29's tests): why not, or
 * undefined when it does.
 *
 * @module
 */

/** Why attaching to a process cannot be tested here (no gdb, ptrace forbidden), or undefined. */
export async function attachSkipReason(): Promise<string | undefined> {
  try {
    await new Deno.Command("gdb", { args: ["--version"], stdout: "null", stderr: "null" })
      .output();
  } catch {
    return "gdb is not installed";
  }
  const scope = await Deno.readTextFile("/proc/sys/kernel/yama/ptrace_scope").catch(() => "0");
  if (scope.trim() !== "0" && Deno.uid() !== 0) return `ptrace_scope is ${scope.trim()}`;
  return undefined;
}

/** The program attached to in those tests, and the code that lets it end. */
export const ATTACH_TARGET: string =
  new URL("../../testdata/attach_target.py", import.meta.url).pathname;
/** What the target waits for (binding nothing in its __main__). */
export const ATTACH_GO = "__import__('builtins').qdb_go = True";

/** The program attached to by pid in those tests (testdata/attach_service.py). */
export const SERVICE: string =
  new URL("../../testdata/attach_service.py", import.meta.url).pathname;
/** The line of its worker's breakpoint. */
export const WORK_LINE: number = Deno.readTextFileSync(SERVICE).split("\n")
  .findIndex((line) => line.includes("# the worker's breakpoint")) + 1;

/** The service, started as plain `python3 attach_service.py MODE`, and its stdout so far. */
export function startService(python: PythonInstall, mode: string) {
  const child = new Deno.Command(python.path, {
    args: [SERVICE, mode],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const reader = child.stdout.getReader();
  const decoder = new TextDecoder();
  const service = {
    child,
    stdout: "",
    async readUntil(text: string) {
      while (!service.stdout.includes(text)) {
        const { value, done } = await reader.read();
        if (done) throw new Error(`The service ended: ${service.stdout}`);
        service.stdout += decoder.decode(value, { stream: true });
      }
    },
    /**
     * Waits until it has printed `n` more ticks: its threads run the program's own code again
     * (a signal the test sends then reaches the program, not qdb's code leaving a stop).
     */
    async moreTicks(n: number) {
      const last = () => Number(/tick (\d+)\n(?![\s\S]*tick)/.exec(service.stdout)?.[1] ?? -1);
      const target = last() + n;
      while (last() < target) await service.readUntil(`tick ${target}\n`);
    },
    /**
     * Once it runs its own code again (3 more ticks), its own SIGUSR2 handler ends its wait:
     * the signal is sent now and then until it has ended (one that comes while its main thread
     * is still leaving qdb's code may be absorbed there: README).
     */
    async stopBySignal() {
      await service.moreTicks(3);
      let ended = false;
      void child.status.then(() => ended = true);
      while (!ended) {
        try {
          Deno.kill(child.pid, "SIGUSR2");
        } catch {
          break; // Gone.
        }
        await Promise.race([child.status, new Promise((r) => setTimeout(r, 500))]);
      }
    },
    /**
     * Reads it to its end and checks how it ended: its own code 3, nothing on stderr, every tick
     * in order from 0, and nothing of qdb left in it.
     */
    async assertEndedClean() {
      const { code, stderr } = await service.end();
      assertEquals([code, stderr], [3, ""]);
      assertTicksInOrder(service.stdout, 0);
      assert(service.stdout.endsWith("leftovers: []\nafter\n"), service.stdout.slice(-300));
    },
    async end() {
      while (true) {
        const { value, done } = await reader.read();
        if (done) break;
        service.stdout += decoder.decode(value, { stream: true });
      }
      const status = await child.status;
      const stderr = await new Response(child.stderr).text();
      return { code: status.code, stderr };
    },
    async kill() {
      try {
        child.kill("SIGKILL");
      } catch { /* ended */ }
      await child.status;
      await child.stderr.cancel().catch(() => {});
    },
  };
  return service;
}

/** The ticks of `text`, checked to run 0, 1, 2... with nothing lost or reordered. */
export function assertTicksInOrder(text: string, from?: number) {
  const ticks = text.split("\n").filter((l) => l.startsWith("tick ")).map((l) =>
    Number(l.slice(5))
  );
  assert(ticks.length > 0, `no ticks in ${JSON.stringify(text.slice(0, 200))}`);
  const first = from ?? ticks[0]!;
  const wrong = ticks.findIndex((tick, i) => tick !== first + i);
  if (wrong >= 0) {
    const at = text.indexOf(`tick ${ticks[wrong - 1] ?? first}\n`);
    throw new Error(
      `ticks lost or out of order at ${first + wrong}: ${JSON.stringify(text.slice(at, at + 300))}`,
    );
  }
}
