total = 0
for i in range(10):
    total += i  # line 3: a logpoint
    square = i * i  # line 4: a hit-count breakpoint
    # line 5 has no code: a breakpoint here moves to line 6
    total += 0
print("total", total)
