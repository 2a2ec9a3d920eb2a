"""Prints numbered lines of 1 KB as fast as it can, for bench/capacity.ts.

Usage: python flood.py LINES
"""
import sys

filler = "y" * 1000
for i in range(int(sys.argv[1])):
    sys.stdout.write("%d %s\n" % (i, filler))
print("done")
