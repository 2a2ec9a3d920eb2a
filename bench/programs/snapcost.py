"""The program's cost of a snapshot: a call of work() timed from inside, N times, 105 ms apart
(snapshots are taken at most 10 a second per breakpoint). Prints the durations' median and p99 in
microseconds as JSON."""
import json
import sys
import time

N = int(sys.argv[1])


def work(i, big):
    data = {"i": i, "items": list(range(50)), "name": "job-%d" % i}
    total = sum(data["items"]) + len(big)  # @snap
    return total


BIG = list(range(10 ** 6))


durations = []
for i in range(N):
    t0 = time.perf_counter_ns()
    work(i, BIG)
    durations.append(time.perf_counter_ns() - t0)
    time.sleep(0.105)
durations.sort()
print(json.dumps({"median": durations[len(durations) // 2] / 1e3,
                  "p99": durations[min(len(durations) - 1, int(len(durations) * 0.99))] / 1e3}))
