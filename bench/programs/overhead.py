"""CPU-bound programs of three shapes, for bench/overhead.ts.

Usage: python overhead.py SHAPE SIZE OUT [floor]

- calls: fib(SIZE), a call per line (recursion);
- loop: a tight loop of SIZE turns, no calls;
- workload: SIZE generated records through json and a regular expression, as real code is.

Each hot function has a line never reached (`@unreached`): a breakpoint there is the worst place
for a trace function (every line of the hot function is looked at), and costs a compiled one
nothing.

The time of the work alone (not start-up) and the peak memory of the process go to the file OUT
as JSON. `floor` turns on the cheapest tracing CPython 3.8-3.11 allows (a global trace function
that is a C builtin and traces nothing): what any sys.settrace debugger costs at the least.
"""

import json
import random
import re
import sys
import threading
import time

import overhead_other  # noqa: F401 (a breakpoint in another file, never hit)
from peak_memory import peak_memory_kb


def fib(n):
    if n < 0:
        raise ValueError(n)  # @unreached calls
    return n if n < 2 else fib(n - 1) + fib(n - 2)  # @hot calls


def loop(n):
    if n < 0:
        return -1  # @unreached loop
    total = 0
    for i in range(n):
        total += i % 7  # @hot loop
    return total


EMAIL = re.compile(r"\b[a-z]+@[a-z]+\.(?:com|org)\b")
WORDS = ["alpha", "beta", "gamma", "delta", "kappa", "sigma", "omega", "theta"]


def workload(n):
    if n < 0:
        return -1  # @unreached workload
    rng = random.Random(42)
    rows = []
    for i in range(n):
        words = [rng.choice(WORDS) for _ in range(12)]
        words[rng.randrange(12)] = "%s@%s.com" % (rng.choice(WORDS), rng.choice(WORDS))
        rows.append({"id": i, "tags": words[:3], "text": " ".join(words)})
    found = 0
    for row in json.loads(json.dumps(rows)):
        found += len(EMAIL.findall(row["text"]))  # @hot workload
    return found


def never_called():
    return None  # @never


SHAPES = {"calls": fib, "loop": loop, "workload": workload}

if __name__ == "__main__":
    shape, size, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    if len(sys.argv) > 4 and sys.argv[4] == "floor":
        threading.settrace(getattr)
        sys.settrace(getattr)
    started = time.perf_counter()
    result = SHAPES[shape](size)
    work = time.perf_counter() - started
    sys.settrace(None)
    with open(out, "w") as f:
        json.dump({"work_s": work, "peak_kb": peak_memory_kb(), "result": result}, f)
