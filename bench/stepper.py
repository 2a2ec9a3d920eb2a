"""A loop to step through, with a big list to page, for bench/session_latency.ts. An argument
N starts N idle threads (each sleeping 10 ms at a time), as a worker pool waiting for work: every
stop holds them (all threads stop together)."""
import sys
import threading
import time


def idle():
    while True:
        time.sleep(0.01)


for _ in range(int(sys.argv[1]) if len(sys.argv) > 1 else 0):
    threading.Thread(target=idle, daemon=True).start()

big = list(range(10_000_000))
total = 0
for i in range(1_000_000):
    total += big[i]  # @bench_step
print(total)
