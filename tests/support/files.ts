/**
 * A temporary directory holding given files, for a test: made, handed over, removed.
 *
 * @module
 */

/** A temporary directory (named after `prefix`) with these files, removed after `fn`. */
export async function withFiles(
  files: Record<string, string>,
  fn: (dir: string) => Promise<void>,
  prefix = "qdb-test-",
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix });
  try {
    for (const [name, text] of Object.entries(files)) {
      await Deno.writeTextFile(`${dir}/${name}`, text);
    }
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
