"""Big values to inspect at a stop, for bench/inspect.ts.

Usage: python inspect.py LIST_ITEMS DICT_KEYS STRING_BYTES DEPTH THREADS [STOPS]

It passes its breakpoint's line STOPS times (default 1), with the same values: each stop is a new
one for the debugger (nothing it computed at the last is kept), so the first page of a value is
measured at each.
"""
import sys
import threading


class Node(object):
    def __init__(self, value, next):
        self.value = value
        self.next = next


def main(items, keys, size, depth, threads, stops=1):
    big_list = list(range(items))
    big_dict = {"key%d" % i: i for i in range(keys)}
    big_str = "x" * size
    linked = None
    for i in range(depth):
        linked = Node(i, linked)
    stop = threading.Event()
    for i in range(threads):
        threading.Thread(target=stop.wait, name="idle-%d" % i, daemon=True).start()
    for _ in range(stops):
        stop.wait(0)  # @inspect
    return big_list, big_dict, big_str, linked


main(*[int(a) for a in sys.argv[1:7]])
