// The exit code `qdb trace` and `qdb run` give when the program died of a signal.
import { assertEquals } from "../tests/support/assert.ts";
import { exitCode } from "./trace.ts";

Deno.test("a program's exit status becomes the code a shell shows: 128 + the signal", () => {
  assertEquals(exitCode({ code: 3, signal: null }), 3);
  assertEquals(exitCode({ code: null, signal: "SIGKILL" }, "linux"), 137);
  // Was 129, as if SIGHUP: an abort() reported as a hang-up.
  assertEquals(exitCode({ code: null, signal: "SIGABRT" }, "linux"), 134);
  assertEquals(exitCode({ code: null, signal: "SIGBUS" }, "linux"), 135);
  assertEquals(exitCode({ code: null, signal: "SIGBUS" }, "darwin"), 138);
  assertEquals(exitCode({ code: null, signal: "SIGPIPE" }, "linux"), 141);
});
