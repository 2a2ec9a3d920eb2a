import sys

line = sys.stdin.readline()
print("got: " + line.strip())
