# Prints for a while, then says it survived: a killed tracer must not end it.
import sys
import time

out = sys.argv[1]
for i in range(300):
    print("tick", i, flush=True)
    time.sleep(0.01)
with open(out, "w") as f:
    f.write("survived")
