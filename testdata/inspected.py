# Inspected through protocol 2 (tests/protocol2_test.ts): a huge list, a dict, an object that
# contains itself, a closure, and a second thread that runs while the main one is stopped.
import threading


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
        return big[i] + offset  # line 19: the breakpoint

    total = 0
    for i in range(rounds):
        total += inner(i)
    return total, table, node


release = threading.Event()
worker = threading.Thread(target=release.wait, name="worker", daemon=True)
worker.start()
print(main(2)[0])
release.set()
