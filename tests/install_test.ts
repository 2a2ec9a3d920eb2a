// First hour 2, item 12: `deno task install` gives a qdb that stands alone: installed from a
// copy of its own, it still runs once the clone it came from is gone, and says where it runs from.
import { assertEquals, assertMatch } from "./support/assert.ts";
import { findPythons } from "./support/pythons.ts";

const repo = new URL("..", import.meta.url).pathname;
const python = (await findPythons()).at(-1);

Deno.test({
  name: "deno task install: a qdb that runs without the clone it was installed from",
  ignore: python === undefined,
  async fn() {
    const tmp = await Deno.makeTempDir({ prefix: "qdb-install-" });
    try {
      const clone = `${tmp}/clone`;
      const cloned = await new Deno.Command("git", {
        args: ["clone", "--quiet", "--local", repo, clone],
        stdout: "null",
        stderr: "piped",
      }).output();
      assertEquals(cloned.code, 0, new TextDecoder().decode(cloned.stderr));
      const installed = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "--allow-all",
          "tools/install.ts",
          "--root",
          `${tmp}/root`,
          "--share",
          `${tmp}/share`,
        ],
        cwd: clone,
        stdout: "piped",
        stderr: "piped",
      }).output();
      const said = new TextDecoder().decode(installed.stdout);
      assertEquals(installed.code, 0, new TextDecoder().decode(installed.stderr));
      assertMatch(said, /files copied to .*\/share/);
      await Deno.remove(clone, { recursive: true });
      const qdb = `${tmp}/root/bin/qdb`;
      const version = await new Deno.Command(qdb, { args: ["--version"], stdout: "piped" })
        .output();
      assertMatch(
        new TextDecoder().decode(version.stdout),
        new RegExp(`running from ${tmp}/share/mod\\.ts`),
      );
      // It debugs a program, the bridge and all, from the copy.
      const child = new Deno.Command(qdb, {
        args: ["run", "--python", python!.path, "-c", "print(6 * 7)"],
        cwd: tmp,
        stdin: "piped",
        stdout: "piped",
        stderr: "piped",
        env: { NO_COLOR: "1" },
      }).spawn();
      const writer = child.stdin.getWriter();
      await writer.write(new TextEncoder().encode("c\n"));
      await writer.close();
      const run = await child.output();
      assertEquals(run.code, 0, new TextDecoder().decode(run.stderr));
      assertMatch(new TextDecoder().decode(run.stdout), /^42$/m);
    } finally {
      await Deno.remove(tmp, { recursive: true });
    }
  },
});
