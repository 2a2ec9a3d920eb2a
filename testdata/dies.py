# Prints, then dies without Python's own cleanup: os._exit, or a signal (a crash) it sends itself
# with os.kill, os.abort or signal.raise_signal.
import os
import signal
import sys

how = sys.argv[1]
print("last words", how)
sys.stderr.write("and on stderr\n")
if how == "_exit":
    os._exit(7)
if how == "abort":
    import resource

    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # no core file left behind
    os.abort()
if how == "raise":
    signal.raise_signal(signal.SIGTERM)
os.kill(os.getpid(), signal.SIGKILL)
