/**
 * `deno task install [--root DIR] [--share DIR]`: a `qdb` that stands alone. It copies what qdb
 * runs from (the files git tracks, without tests, benchmarks and docs) into a directory of its
 * own, `~/.local/share/qdb/VERSION` by default, caches its dependencies there, and installs the
 * `qdb` command from that copy with `deno install -g`. Removing or changing the clone afterwards
 * leaves the installed `qdb` as it was; `qdb --version` says where it runs from. (`deno task
 * compile` makes one binary instead, but needs Deno's download site for the runtime.)
 *
 * @module
 */

import { VERSION } from "../version.ts";

/** What is not needed to run qdb. */
const LEFT_OUT =
  /^(tests|bench|docs|testdata|\.ci|tools|editors\/vscode|editors\/nvim)\/|_test\.ts$/;

async function run(command: string, args: string[], cwd?: string): Promise<string> {
  const out = await new Deno.Command(command, {
    args,
    ...(cwd ? { cwd } : {}),
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  if (!out.success) {
    throw new Error(`${command} ${args.join(" ")} failed: ${new TextDecoder().decode(out.stderr)}`);
  }
  return text;
}

/** Copies the files qdb runs from, out of the clone at `from`, into `to`; how many. */
export async function pack(from: string, to: string): Promise<number> {
  const files = (await run("git", ["ls-files", "-z"], from)).split("\0")
    .filter((f) => f !== "" && !LEFT_OUT.test(f));
  await Deno.remove(to, { recursive: true }).catch(() => {});
  for (const file of files) {
    const target = `${to}/${file}`;
    await Deno.mkdir(target.slice(0, target.lastIndexOf("/")), { recursive: true });
    await Deno.copyFile(`${from}/${file}`, target);
  }
  return files.length;
}

if (import.meta.main) {
  const args = [...Deno.args];
  const option = (name: string): string | undefined => {
    const at = args.indexOf(name);
    return at >= 0 ? args.splice(at, 2)[1] : undefined;
  };
  const root = option("--root");
  const home = Deno.env.get("HOME") ?? ".";
  const share = option("--share") ?? `${home}/.local/share/qdb/${VERSION}`;
  const clone = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
  const count = await pack(clone, share);
  console.log(`qdb ${VERSION}: ${count} files copied to ${share}`);
  await run(Deno.execPath(), [
    "install",
    "-g",
    "-f",
    "--allow-all",
    "--name",
    "qdb",
    "--config",
    `${share}/deno.json`,
    ...(root ? ["--root", root] : []),
    `${share}/mod.ts`,
  ]);
  console.log(
    `installed qdb${root ? ` in ${root}/bin` : ""}; it runs from ${share}, not from this clone ` +
      "(qdb --version says so)",
  );
}
