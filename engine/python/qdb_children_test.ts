// How the bridge reads a Python command line to follow it (qdb_children.split_python_argv and
// is_python), run in a real interpreter.
import { assertEquals } from "../../tests/support/assert.ts";

const DIR = new URL(".", import.meta.url).pathname;

async function split(argvs: string[][]): Promise<unknown[]> {
  const code = "import json, sys, qdb_children as c; " +
    "print(json.dumps([c.split_python_argv(a) for a in json.loads(sys.argv[1])]))";
  const out = await new Deno.Command("python3", {
    args: ["-c", code, JSON.stringify(argvs)],
    cwd: DIR,
    stdout: "piped",
    stderr: "inherit",
  }).output();
  return JSON.parse(new TextDecoder().decode(out.stdout));
}

Deno.test("a Python command line splits into options, what runs, and its arguments", async () => {
  const cases: [string[], unknown][] = [
    [["python3", "app.py", "-v"], [[], "file", "app.py", ["-v"]]],
    [["python3", "-u", "-B", "app.py"], [["-u", "-B"], "file", "app.py", []]],
    [["python3", "-uB", "-X", "dev", "-W", "error", "-m", "pkg.mod", "a"], [
      ["-uB", "-X", "dev", "-W", "error"],
      "module",
      "pkg.mod",
      ["a"],
    ]],
    [["python3", "-Wignore", "-c", "print(1)", "x"], [["-Wignore"], "code", "print(1)", ["x"]]],
    [["python3", "-Ic", "code"], [["-I"], "code", "code", []]],
    [["python3", "-mjson.tool"], [[], "module", "json.tool", []]],
    [["python3", "--", "-weird.py"], [[], "file", "-weird.py", []]],
    [["python3", "--check-hash-based-pycs", "never", "a.py"], [
      ["--check-hash-based-pycs", "never"],
      "file",
      "a.py",
      [],
    ]],
    // Not followed: standard input, a REPL, help, version, -i, unknown options.
    [["python3"], null],
    [["python3", "-"], null],
    [["python3", "-i", "app.py"], null],
    [["python3", "-V"], null],
    [["python3", "--version"], null],
    [["python3", "-c"], null],
    [["python3", "-Z", "app.py"], null],
  ];
  const got = await split(cases.map(([argv]) => argv));
  cases.forEach(([argv, want], i) => assertEquals(got[i], want, argv.join(" ")));
});

Deno.test("interpreters are known by name or by being this one", async () => {
  const code = "import json, sys, qdb_children as c; print(json.dumps([c.is_python(p) for p in " +
    "['/usr/bin/python3', 'python3.12', 'python', '/x/python2.7', sys.executable, '/bin/sh', " +
    "'bash', 'pythonista', 'mypython']]))";
  const out = await new Deno.Command("python3", { args: ["-c", code], cwd: DIR, stdout: "piped" })
    .output();
  assertEquals(JSON.parse(new TextDecoder().decode(out.stdout)), [
    true,
    true,
    true,
    true,
    true,
    false,
    false,
    false,
    false,
  ]);
});
