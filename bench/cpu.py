"""CPU-bound work for bench/python_overhead.ts: many calls and tight loops."""

import sys


def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)


def never_called():
    unreached = 1  # @bench_breakpoint
    return unreached


def loop(n):
    total = 0
    for i in range(n):
        total += i % 7
    return total


class Point:
    def __init__(self, x, y):
        self.x = x
        self.y = y

    def norm2(self):
        return self.x * self.x + self.y * self.y


def objects(n):
    return sum(Point(i, i + 1).norm2() for i in range(n))


# The work is scaled by the first argument, so that start-up costs can be told apart.
scale = int(sys.argv[1]) if len(sys.argv) > 1 else 1
print(fib(24 + (scale > 1) * 2), loop(2_000_000 * scale), objects(200_000 * scale))
from peak_memory import report_peak_memory  # noqa: E402

report_peak_memory()
