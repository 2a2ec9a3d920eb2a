# Breakpoints compiled into the code, end to end (tests/python_compiled_test.ts): one of each
# kind of function a breakpoint can be compiled into, called once each from main().
import asyncio
import functools
import threading


class Base(object):
    def greet(self):
        return "base"


class Child(Base):
    def greet(self):
        word = super().greet()  # @method
        return word + "!"  # @method2


def make_counter():
    count = [0]

    def bump(step):
        count[0] += step  # @closure
        return count[0]
    return bump


def deco(f):
    @functools.wraps(f)
    def wrapper(*args):
        return f(*args)
    return wrapper


@deco
def decorated(x):
    y = x * 2  # @decorated
    return y  # @decorated2


def gen(n):
    for i in range(n):
        yield i * 10  # @gen


async def coro(n):
    await asyncio.sleep(0)
    return n + 1  # @coro


def fact(n):
    if n <= 1:  # @recursive
        return 1
    return n * fact(n - 1)


def shared(k, i):
    return k * 10 + i  # @shared


def worker(results, k, start):
    start.wait()
    for i in range(3):
        results.append(shared(k, i))


def main():
    print(Child().greet())
    print(make_counter()(5))
    print(decorated(21))
    print(list(gen(3)))
    print(asyncio.run(coro(41)))
    print(fact(3))
    results = []
    start = threading.Event()
    threads = [threading.Thread(target=worker, args=(results, k, start)) for k in range(4)]
    for t in threads:
        t.start()
    start.set()
    for t in threads:
        t.join()
    print(sorted(results))


main()  # @main
