# A worker stops at a breakpoint while the main thread runs Python code: the main thread is held
# too (all threads stop together), so what it counts does not move while the worker is stopped.
import threading

laps = 0
done = False
started = threading.Event()


def work():
    started.wait()
    return laps  # @work_stop


worker = threading.Thread(target=work, name="worker")
worker.start()
started.set()
while not done:
    laps += 1
worker.join()
print("main went on:", laps > 0)
