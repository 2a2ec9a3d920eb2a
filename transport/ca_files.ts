/**
 * Reading the CA certificates a command line names (`--ca FILE`), for Deno's TLS clients.
 *
 * @module
 */

/** Reads the PEM files `--ca` names; a clear error when one cannot be read. */
export async function readCaFiles(paths: readonly string[]): Promise<string[] | undefined> {
  if (paths.length === 0) return undefined;
  return await Promise.all(paths.map(async (path) => {
    let text: string;
    try {
      text = await Deno.readTextFile(path);
    } catch (error) {
      throw new Error(`Cannot read the CA certificate ${path}: ${(error as Error).message}`);
    }
    if (!text.includes("-----BEGIN CERTIFICATE-----")) {
      throw new Error(`${path} is not a PEM certificate (no BEGIN CERTIFICATE line)`);
    }
    return text;
  }));
}
