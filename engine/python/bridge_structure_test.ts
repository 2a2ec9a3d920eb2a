/**
 * The bridge's shape, held: every module of `engine/python/` is shipped, none is over 600 lines
 * nor has a function over 80, and pyflakes (Debian's `pyflakes3`, where installed) finds no
 * unused import, undefined name or broken format string.
 */

import { assertEquals } from "../../tests/support/assert.ts";
import { PYTHON_BRIDGE_FILES } from "./python_engine.ts";

const DIR = new URL(".", import.meta.url);
const MAX_FILE_LINES = 600;
const MAX_FUNCTION_LINES = 80;

function modules(): string[] {
  return [...Deno.readDirSync(DIR)]
    .filter((e) => e.isFile && e.name.endsWith(".py"))
    .map((e) => e.name)
    .sort();
}

Deno.test("every module of the bridge is shipped (written next to qdb.py)", () => {
  assertEquals(Object.keys(PYTHON_BRIDGE_FILES).sort(), modules());
});

Deno.test("no bridge module over 600 lines, no function over 80", async () => {
  // Measured by Python's own parser (any python3 on the PATH).
  const script = `
import ast, sys, json
out = []
for path in sys.argv[1:]:
    text = open(path).read()
    lines = text.count("\\n")
    if lines > ${MAX_FILE_LINES}:
        out.append("%s: %d lines" % (path, lines))
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            n = node.end_lineno - node.lineno + 1
            if n > ${MAX_FUNCTION_LINES}:
                out.append("%s: %s is %d lines" % (path, node.name, n))
print(json.dumps(out))
`;
  const paths = modules().map((m) => new URL(m, DIR).pathname);
  const { stdout, success } = await new Deno.Command("python3", {
    args: ["-c", script, ...paths],
    stdout: "piped",
  }).output();
  assertEquals(success, true);
  assertEquals(JSON.parse(new TextDecoder().decode(stdout)), []);
});

Deno.test("pyflakes finds nothing in the bridge", async (t) => {
  const paths = modules().map((m) => new URL(m, DIR).pathname);
  let result: Deno.CommandOutput;
  try {
    result = await new Deno.Command("/usr/bin/python3", {
      args: ["-m", "pyflakes", ...paths],
      stdout: "piped",
      stderr: "piped",
    }).output();
  } catch {
    console.warn("skip: no /usr/bin/python3 for pyflakes");
    return;
  }
  const err = new TextDecoder().decode(result.stderr);
  if (!result.success && /No module named pyflakes/.test(err)) {
    console.warn("skip: pyflakes is not installed (apt-get install pyflakes3)");
    return;
  }
  await t.step("clean", () => {
    assertEquals(new TextDecoder().decode(result.stdout).trim(), "");
    assertEquals(result.success, true);
  });
});
