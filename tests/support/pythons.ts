/**
 * Finds the CPython interpreters (3.8 and newer) that the Python engine's tests run on: every
 * version under pyenv's versions directory (`pyenv root`, `$PYENV_ROOT` or `~/.pyenv`), or the
 * executables listed, comma-separated, in `QDB_TEST_PYTHONS`. For each of 3.8 to 3.13 that is
 * missing, one skip line is printed (once per process).
 *
 * @module
 */

/** One interpreter to test with. */
export interface PythonInstall {
  /** The executable. */
  path: string;
  /** Full version, such as `3.12.1`. */
  version: string;
  /** Major.minor, such as `3.12`. */
  minor: string;
}

/** The minor versions the suite expects to cover. */
export const WANTED_MINORS = ["3.8", "3.9", "3.10", "3.11", "3.12", "3.13"];

let found: Promise<PythonInstall[]> | undefined;

/** Every usable CPython 3.8+, one per minor version, oldest first. Cached per process. */
export function findPythons(): Promise<PythonInstall[]> {
  found ??= discover();
  return found;
}

async function discover(): Promise<PythonInstall[]> {
  const candidates: string[] = [];
  const override = Deno.env.get("QDB_TEST_PYTHONS");
  if (override) {
    candidates.push(...override.split(",").map((s) => s.trim()).filter(Boolean));
  } else {
    const root = await pyenvRoot();
    if (root) {
      try {
        for await (const entry of Deno.readDir(`${root}/versions`)) {
          if (entry.isDirectory || entry.isSymlink) {
            candidates.push(`${root}/versions/${entry.name}/bin/python3`);
          }
        }
      } catch {
        // No versions directory.
      }
    }
    if (candidates.length === 0) candidates.push("python3");
  }
  const byMinor = new Map<string, PythonInstall>();
  for (const path of candidates) {
    const version = await versionOf(path);
    if (!version) continue;
    const [major, minor] = version.split(".").map(Number);
    if (major !== 3 || minor === undefined || minor < 8) continue;
    const key = `${major}.${minor}`;
    const known = byMinor.get(key);
    if (!known || compareVersions(version, known.version) > 0) {
      byMinor.set(key, { path, version, minor: key });
    }
  }
  const out = [...byMinor.values()].sort((a, b) => compareVersions(a.version, b.version));
  for (const minor of WANTED_MINORS) {
    if (!byMinor.has(minor)) {
      console.warn(`skip: Python ${minor} not found (pyenv or QDB_TEST_PYTHONS)`);
    }
  }
  return out;
}

async function pyenvRoot(): Promise<string | undefined> {
  const env = Deno.env.get("PYENV_ROOT");
  if (env) return env;
  try {
    const out = await new Deno.Command("pyenv", { args: ["root"], stdout: "piped", stderr: "null" })
      .output();
    const text = new TextDecoder().decode(out.stdout).trim();
    if (out.success && text) return text;
  } catch {
    // No pyenv on PATH.
  }
  const home = Deno.env.get("HOME");
  return home ? `${home}/.pyenv` : undefined;
}

async function versionOf(path: string): Promise<string | undefined> {
  try {
    const out = await new Deno.Command(path, {
      args: ["-c", "import sys; print('%d.%d.%d' % tuple(sys.version_info[:3]))"],
      stdout: "piped",
      stderr: "null",
      stdin: "null",
    }).output();
    if (!out.success) return undefined;
    return new TextDecoder().decode(out.stdout).trim() || undefined;
  } catch {
    return undefined;
  }
}

function compareVersions(a: string, b: string): number {
  const pa = a.split(".").map(Number);
  const pb = b.split(".").map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/** A test run side by side on every Python found (`skip`: not on this machine). */
export function onEveryPython(
  name: string,
  scenario: (python: PythonInstall) => Promise<void>,
  skip = false,
): void {
  Deno.test({
    name,
    ignore: skip,
    // Test clients' own timers and child processes outlive a failing step otherwise.
    sanitizeOps: false,
    sanitizeResources: false,
    async fn(t) {
      const pythons = await findPythons();
      if (pythons.length === 0) return console.log("skip: no Python 3.8+ found");
      await Promise.all(pythons.map((python) =>
        t.step({
          name: `Python ${python.version}`,
          sanitizeOps: false,
          sanitizeResources: false,
          sanitizeExit: false,
          fn: () => scenario(python),
        })
      ));
    },
  });
}
