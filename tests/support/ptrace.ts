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
