"""A hot loop with a huge value in scope: snapshots of it must be few and small."""
import sys

huge = list(range(10 ** 7))
total = 0
for i in range(200000):
    total += i  # @hot
print("total", total, len(huge))  # @end
sys.exit(3)
