# Prints, then dies without Python's own cleanup: os._exit, or a signal (a crash).
import os
import signal
import sys

how = sys.argv[1]
print("last words", how)
sys.stderr.write("and on stderr\n")
if how == "_exit":
    os._exit(7)
os.kill(os.getpid(), signal.SIGKILL)
