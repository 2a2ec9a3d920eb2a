# The program attached to by bench/attach.ts: a loop that notes the longest time between two of
# its own turns, and prints it (in ms) every 100 ms: while a debugger is put in, it is how long
# the program was held. Runs until killed.
import time

print("ready", flush=True)
window_end = time.perf_counter() + 0.1
last = time.perf_counter()
worst = 0.0
while True:
    now = time.perf_counter()
    if now - last > worst:
        worst = now - last
    last = now
    if now >= window_end:
        print("gap %.3f" % (worst * 1000.0), flush=True)
        worst = 0.0
        window_end = now + 0.1
