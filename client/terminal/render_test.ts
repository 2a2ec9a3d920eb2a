// Golden text of what the terminal prints, with the plain palette.
import { assertEquals } from "../../tests/support/assert.ts";
import type { Breakpoint, ChildInfo } from "../../protocol/mod.ts";
import {
  ANSI,
  breakpointChanges,
  displayPath,
  formatBreakpointTable,
  formatChildNotices,
  formatChildren,
  formatException,
  formatStack,
  formatWatches,
  functionRange,
  highlightPython,
  sourceLines,
  stopHeader,
  wantColor,
} from "./render.ts";

const SOURCE = [
  "import math",
  "",
  "def is_prime(n):",
  "    if n < 2:",
  "        return False",
  "    return all(n % d for d in range(2, math.isqrt(n) + 1))",
  "",
  "print(is_prime(7))",
];

function bp(extra: Partial<Breakpoint>): Breakpoint {
  return {
    id: 1,
    file: "/src/primes.py",
    line: 3,
    temp: false,
    cond: null,
    func: null,
    enabled: true,
    ignore: 0,
    hits: 0,
    ...extra,
  };
}

Deno.test("stop header and source window with markers", () => {
  const frame = { file: "/src/primes.py", line: 4, func: "is_prime", code: "    if n < 2:" };
  assertEquals(stopHeader(frame, "/src"), "> primes.py(4)is_prime()");
  assertEquals(stopHeader(frame, "/elsewhere"), "> /src/primes.py(4)is_prime()");
  assertEquals(
    sourceLines(SOURCE, 3, 5, {
      current: 4,
      breakpoints: [bp({ line: 3 }), bp({ id: 2, line: 5, enabled: false })],
    }),
    [
      "B     3 def is_prime(n):",
      " ->   4     if n < 2:",
      "b     5         return False",
    ],
  );
  assertEquals(sourceLines(SOURCE, 7, 20, {}), ["      7", "      8 print(is_prime(7))"]);
});

Deno.test("stack, watches and breakpoint table", () => {
  const stack = {
    index: 1,
    stack: [
      { file: "/src/primes.py", line: 8, func: "<module>", code: "print(is_prime(7))" },
      { file: "/src/primes.py", line: 4, func: "is_prime", code: "    if n < 2:" },
    ],
  };
  assertEquals(formatStack(stack, "/src"), [
    "  primes.py(8)<module>()",
    "  -> print(is_prime(7))",
    "> primes.py(4)is_prime()",
    "  -> if n < 2:",
  ]);
  assertEquals(
    formatWatches([
      { expr: "n", exc: false, value: "7" },
      { expr: "z", exc: true, value: "NameError: name 'z' is not defined" },
    ]),
    ["display n: 7", "display z: ** raised NameError: name 'z' is not defined **"],
  );
  assertEquals(formatBreakpointTable([bp({ cond: "n == 97", hits: 2, temp: true })], "/src"), [
    "Num Type         Disp Enb   Where",
    "1   breakpoint   del  yes   at primes.py:3",
    "\tstop only if n == 97",
    "\tbreakpoint already hit 2 times",
  ]);
});

Deno.test("breakpoint changes are announced like pdb", () => {
  const one = bp({ line: 4, cond: "n == 97" });
  assertEquals(breakpointChanges([], [one], "/src"), [
    "Breakpoint 1 at primes.py:4  (condition: n == 97)",
  ]);
  assertEquals(breakpointChanges([one], [{ ...one, enabled: false }], "/src"), [
    "Disabled breakpoint 1 at primes.py:4",
  ]);
  assertEquals(breakpointChanges([one], [{ ...one, cond: null }], "/src"), [
    "Breakpoint 1 is now unconditional",
  ]);
  assertEquals(breakpointChanges([one], [], "/src"), ["Deleted breakpoint 1 at primes.py:4"]);
  // Hits alone (the breakpoint was reached) are not news.
  assertEquals(breakpointChanges([one], [{ ...one, hits: 1 }], "/src"), []);
});

Deno.test("exceptions, post-mortem notice", () => {
  const lines = formatException({
    type: "ZeroDivisionError",
    value: "division by zero",
    traceback: "Traceback (most recent call last):\nZeroDivisionError: division by zero\n",
    uncaught: true,
  });
  assertEquals(lines[1], "ZeroDivisionError: division by zero");
  assertEquals(lines[2], "Uncaught exception. Entering post mortem debugging");
});

Deno.test("function range for ll, and module level", () => {
  assertEquals(functionRange(SOURCE, 4, "is_prime"), [3, 6]);
  assertEquals(functionRange(SOURCE, 8, "<module>"), [1, 8]);
});

Deno.test("colour only on a TTY without NO_COLOR; highlighting marks keywords and strings", () => {
  const env = (vars: Record<string, string>) => ({ get: (k: string) => vars[k] });
  assertEquals(wantColor(true, env({})), true);
  assertEquals(wantColor(true, env({ NO_COLOR: "1" })), false);
  assertEquals(wantColor(false, env({})), false);
  assertEquals(wantColor(true, env({ TERM: "dumb" })), false);
  assertEquals(
    highlightPython('if x: return "a"  # c', ANSI),
    '\x1b[34mif\x1b[0m x: \x1b[34mreturn\x1b[0m \x1b[33m"a"\x1b[0m  \x1b[2;3m# c\x1b[0m',
  );
  assertEquals(displayPath("/a/b.py", "/a/"), "b.py");
});

function child(pid: number, state: ChildInfo["state"], extra: Partial<ChildInfo> = {}): ChildInfo {
  return { session: `job/${pid}`, parent: "job", pid, argv: ["w.py"], state, ...extra };
}

Deno.test("child notices: one line each, naming the child and how to debug it", () => {
  const where = { file: "/src/w.py", line: 12, func: "work", reason: "breakpoint" };
  // That a child started is no news; that it stopped, or ended, is.
  assertEquals(formatChildNotices([{ child: child(7, "running"), started: true }], "/src"), []);
  assertEquals(
    formatChildNotices([{ child: child(7, "stopped", { where }), started: false }], "/src"),
    ['[child 7 stopped at w.py:12 in work; "attach 7" to debug it]'],
  );
  assertEquals(
    formatChildNotices([{ child: child(7, "ended", { reason: "exit 0" }), started: false }], "/"),
    ["[child 7 ended: exit 0]"],
  );
  // One that came and went at once is no news either.
  assertEquals(
    formatChildNotices([
      { child: child(7, "running"), started: true },
      { child: child(7, "ended"), started: false },
    ], "/src"),
    [],
  );
});

Deno.test("child notices: a pool of 32 stopping together is one line, not 32", () => {
  const where = { file: "/src/w.py", line: 12, func: "work" };
  const notices = [];
  for (let pid = 100; pid < 132; pid++) {
    notices.push({ child: child(pid, "running"), started: true });
  }
  for (let pid = 100; pid < 132; pid++) {
    notices.push({ child: child(pid, "stopped", { where }), started: false });
  }
  assertEquals(formatChildNotices(notices, "/src"), [
    "[32 children stopped at w.py:12 in work: 100, 101, 102, 103, 104, 105, 106, 107, and 24 " +
    'more ("children" lists them); "attach PID" to debug one]',
  ]);
  // Stopped in different places, each says where; those that ended are one more line.
  const elsewhere = { file: "/src/v.py", line: 3, func: "f" };
  assertEquals(
    formatChildNotices([
      { child: child(1, "stopped", { where }), started: false },
      { child: child(2, "stopped", { where: elsewhere }), started: false },
      { child: child(99, "ended"), started: false },
      { child: child(98, "ended"), started: false },
    ], "/src"),
    [
      '[2 children stopped: 1 at w.py:12 in work, 2 at v.py:3 in f; "attach PID" to debug one]',
      "[2 children ended: 99, 98]",
    ],
  );
});

Deno.test("the children table lists each child with its state", () => {
  const where = { file: "/src/w.py", line: 12, func: "work" };
  assertEquals(formatChildren([], "/src"), ["No child sessions."]);
  assertEquals(formatChildren([child(7, "stopped", { where }), child(8, "running")], "/src"), [
    "  7        stopped  at w.py:12 in work  (session job/7)",
    "  8        running  (session job/8)",
  ]);
});
