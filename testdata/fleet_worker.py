"""A worker of a fleet: it loops until DIR/go exists, passes its milestone once, then loops until
DIR/stop exists, says it is done and exits with its number modulo 3. Its output does not depend on
how long it ran, so a traced run's output equals a plain run's."""
import os
import sys
import time

worker = int(sys.argv[1])
go = os.path.join(sys.argv[2], "go")
stop = os.path.join(sys.argv[2], "stop")
position = 0
step = 0
went = False
while True:
    position += worker
    if not went and os.path.exists(go):
        went = True
        milestone = position  # @milestone
    step += 1  # @step
    if went and os.path.exists(stop):
        break
    time.sleep(0.005)
print("worker %d done" % worker)
sys.exit(worker % 3)
