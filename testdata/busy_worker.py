# A worker thread that is already running when a breakpoint is set in its loop.
import threading
import time

stop = threading.Event()


def work():
    n = 0
    while not stop.is_set():
        n += 1  # @busy_line
        time.sleep(0.001)
    return n


worker = threading.Thread(target=work, name="busy")
worker.start()
print("started", flush=True)
worker.join()
print("joined")
