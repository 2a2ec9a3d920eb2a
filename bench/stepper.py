"""A loop to step through, with a big list to page, for bench/session_latency.ts."""

big = list(range(10_000_000))
total = 0
for i in range(1_000_000):
    total += big[i]  # @bench_step
print(total)
