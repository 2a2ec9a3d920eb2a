"""A pool of worker processes: debug a worker with `qdb run --no-stop --break work examples/pool.py`."""
import multiprocessing


def work(item):
    # Each call runs in a worker process, a child session of this program's.
    square = item * item
    total = square + 1
    return total


if __name__ == "__main__":
    with multiprocessing.Pool(2) as pool:
        print(pool.map(work, [2, 3, 4, 5]))
