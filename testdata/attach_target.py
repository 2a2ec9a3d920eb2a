# A program to attach to (engine/python/inject_test.ts): it prints, then waits until code put in
# it sets builtins.qdb_go (asleep between looks, or spinning in Python with "busy": no system
# call at all), then prints again and ends with status 3.
import builtins
import sys
import time

busy = len(sys.argv) > 1 and sys.argv[1] == "busy"
print("before", flush=True)
deadline = time.time() + 120
n = 0
while not getattr(builtins, "qdb_go", False):
    if busy:
        n += 1
        if n % 1000000 == 0 and time.time() > deadline:
            break
    else:
        time.sleep(0.05)
        if time.time() > deadline:
            break
print("after", flush=True)
sys.exit(3)
