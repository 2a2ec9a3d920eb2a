"""A loop to step through, for bench/step.ts."""
total = 0
for i in range(10**9):
    total += i  # @step
print(total)
