# The main thread runs a logpoint over and over (qdb sends a line each time) when a worker stops
# at a breakpoint: the main thread is held, never in the middle of qdb's own sending.
import threading

done = False
laps = 0


def work():
    return laps  # @worker_stop


threading.Timer(0.05, work).start()
while not done:
    laps += 1  # @log_line
print("main went on")
