import sys
import time

mode = sys.argv[1]
print("spinning", mode, flush=True)
if mode == "loop":
    x = 0
    while True:
        x += 1  # @loop
elif mode == "sleep":
    time.sleep(1000)  # @sleep
