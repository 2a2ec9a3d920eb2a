# A worker spinning in pure Python while the main thread cannot take qdb's pause signal (it is
# blocked): only the worker can be paused.
import signal
import threading

signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR2})
stop = threading.Event()


def spin():
    n = 0
    while not stop.is_set():
        n += 1  # @spin_line
    return n


worker = threading.Thread(target=spin, name="spinner")
worker.start()
print("spinning", flush=True)
worker.join()
print("stopped spinning")
