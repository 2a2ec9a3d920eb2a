# Inspected through protocol 2 (tests/protocol2_test.ts): a huge list, a dict, an object that
# contains itself, a closure, a thread waiting in native code and one running Python code.
import threading
import time


class Node:
    def __init__(self, name):
        self.name = name
        self.me = self


def main(rounds):
    big = list(range(10_000_000))
    table = {"k%d" % i: i for i in range(100_000)}
    node = Node("root")
    offset = 7

    def inner(i):
        return big[i] + offset  # line 20: the breakpoint

    total = 0
    keyed = {Key(i): i for i in range(20_000)}
    for i in range(rounds):
        total += inner(i)
    return total, table, node, keyed


def spin():
    # Only its own frame (a flag, not an Event): it is held here, wherever it is in the loop.
    laps = 0
    while not done:
        laps += 1
        time.sleep(0.001)
    return laps


done = False
HASHES = 0


class Key:
    """A dict key whose hash is the program's code: inspecting must not run it."""

    def __init__(self, n):
        self.n = n

    def __hash__(self):
        global HASHES
        HASHES += 1
        return self.n

    def __repr__(self):
        return "Key(%d)" % self.n


release = threading.Event()
worker = threading.Thread(target=release.wait, name="worker", daemon=True)
worker.start()
spinner = threading.Thread(target=spin, name="spinner")
spinner.start()
print(main(2)[0])
release.set()
done = True
