// The exit code `qdb trace` and `qdb run` give when the program died of a signal.
import { assertEquals } from "../tests/support/assert.ts";
import { exitCode } from "./trace.ts";
import { parseInvocation } from "./args.ts";
import { runCommand } from "./run.ts";

Deno.test("a program's exit status becomes the code a shell shows: 128 + the signal", () => {
  assertEquals(exitCode({ code: 3, signal: null }), 3);
  assertEquals(exitCode({ code: null, signal: "SIGKILL" }, "linux"), 137);
  // Was 129, as if SIGHUP: an abort() reported as a hang-up.
  assertEquals(exitCode({ code: null, signal: "SIGABRT" }, "linux"), 134);
  assertEquals(exitCode({ code: null, signal: "SIGBUS" }, "linux"), 135);
  assertEquals(exitCode({ code: null, signal: "SIGBUS" }, "darwin"), 138);
  assertEquals(exitCode({ code: null, signal: "SIGPIPE" }, "linux"), 141);
});

Deno.test("first hour 2, item 1: everything after -m MODULE or -c CODE is the program's, as python's", () => {
  const parse = (args: string[]) => {
    const { values, positionals } = parseInvocation(runCommand, args);
    return { module: values.module, code: values.code, stop: values["no-stop"], positionals };
  };
  assertEquals(parse(["-m", "pytest", "-q", "test_calc.py"]), {
    module: "pytest",
    code: undefined,
    stop: undefined,
    positionals: ["-q", "test_calc.py"],
  });
  assertEquals(
    parse(["--no-stop", "-m", "http.server", "--bind", "127.0.0.1", "8123"]).positionals,
    ["--bind", "127.0.0.1", "8123"],
  );
  assertEquals(parse(["--module=json.tool", "--sort-keys", "in.json"]).positionals, [
    "--sort-keys",
    "in.json",
  ]);
  assertEquals(parse(["-mjson.tool", "--sort-keys"]).module, "json.tool");
  assertEquals(parse(["-c", "print(1)", "-x", "1"]), {
    module: undefined,
    code: "print(1)",
    stop: undefined,
    positionals: ["-x", "1"],
  });
  // qdb's own options still come before.
  assertEquals(parse(["--no-stop", "prog.py", "-q"]), {
    module: undefined,
    code: undefined,
    stop: true,
    positionals: ["prog.py", "-q"],
  });
});
