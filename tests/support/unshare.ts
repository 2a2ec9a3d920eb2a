// Tests that need a file only the tracer can see: its own mount namespace (root and unshare).

/** Whether this machine lets a test give a process its own mounts (root and unshare). */
export async function canUnshare(): Promise<boolean> {
  if (Deno.uid() !== 0) return false;
  try {
    const { success } = await new Deno.Command("unshare", {
      args: ["--mount", "true"],
      stdout: "null",
      stderr: "null",
    }).output();
    return success;
  } catch {
    return false;
  }
}

/**
 * The argument of `sh -c` that gives the command `argv` a tmpfs at `dir` (seen by it alone)
 * holding a copy of what is in `stage`.
 */
export function onlyHere(dir: string, stage: string, argv: string[]): string {
  const command = argv.map((a) => `'${a}'`).join(" ");
  return `mount -t tmpfs none '${dir}' && cp -r '${stage}/.' '${dir}/' && exec ${command}`;
}
