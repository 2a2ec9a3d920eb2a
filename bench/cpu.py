"""CPU-bound work for bench/python_overhead.ts: many calls and tight loops."""


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


print(fib(24), loop(2_000_000), objects(200_000))
