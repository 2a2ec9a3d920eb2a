"""A pool of two workers that wait until DIR/stop exists: children of a group's member."""
import multiprocessing
import os
import sys
import time


def work(item):
    while not os.path.exists(os.path.join(sys.argv[1], "stop")):
        time.sleep(0.01)
    return item * item


if __name__ == "__main__":
    with multiprocessing.Pool(2) as pool:
        print(pool.map(work, [2, 3]))
