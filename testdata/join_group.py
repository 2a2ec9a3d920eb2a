"""Joins a group while it runs (qdb.set_trace(group=...)) once DIR/go exists, then loops until
DIR/stop exists."""
import os
import sys
import time

import qdb

go = os.path.join(sys.argv[1], "go")
stop = os.path.join(sys.argv[1], "stop")
while not os.path.exists(go):
    time.sleep(0.01)
qdb.set_trace(group="late", stop=False)
i = 0
while not os.path.exists(stop):
    value = i * 7  # @value
    i += 1
    time.sleep(0.01)
print("joined and done")
