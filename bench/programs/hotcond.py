"""A hot line: the cost of a snapshot breakpoint whose condition is false on it. Prints the loop's
seconds."""
import sys
import time

N = int(sys.argv[1])
t0 = time.perf_counter()
total = 0
for i in range(N):
    total += i  # @hot
print(time.perf_counter() - t0)
