# A program qdb attaches to by pid (engine/python/attach_test.ts, tests/attach_pid_test.ts): a
# worker thread prints "tick N" every 10 ms and calls work(); the main thread waits in
# time.sleep(600) ("sleep") or in input() ("input"), or runs its own trace function ("traced").
# Its own handler of SIGUSR2 (the signal qdb pauses with) ends the wait. At its end it prints
# what of qdb is still in it ("leftovers: [...]": hooks, trace functions, threads, modules,
# monitoring tools, fds) and exits with 3.
import builtins
import os
import signal
import sys
import threading
import time

mode = sys.argv[1] if len(sys.argv) > 1 else "sleep"


class Go(Exception):
    pass


def on_usr2(signum, frame):
    state["go"] = True
    if mode != "input":
        raise Go()


state = {"go": False}
signal.signal(signal.SIGUSR2, on_usr2)


def work(i):
    total = i * 2  # the worker's breakpoint
    return total


def worker():
    i = 0
    while not state["go"]:
        work(i)
        print("tick", i, flush=True)
        i += 1
        time.sleep(0.01)


def program_trace(frame, event, arg):
    return None


def hooks():
    """The objects qdb replaces while attached, by name."""
    names = {
        "sys.stdout": sys.stdout, "sys.stderr": sys.stderr, "sys.__stdout__": sys.__stdout__,
        "sys.__stderr__": sys.__stderr__, "sys.stdin": sys.stdin, "sys.exit": sys.exit,
        "sys.excepthook": sys.excepthook, "sys.breakpointhook": sys.breakpointhook,
        "threading.excepthook": threading.excepthook, "os._exit": os._exit, "os.kill": os.kill,
        "os.abort": os.abort, "os.fork": os.fork, "os.execv": os.execv,
        "signal.signal": signal.signal, "signal.getsignal": signal.getsignal,
        "builtins.__import__": builtins.__import__,
        "SIGUSR2 handler": signal.getsignal(signal.SIGUSR2),
    }
    if hasattr(signal, "raise_signal"):
        names["signal.raise_signal"] = signal.raise_signal
    return names


def fds():
    return sorted(os.listdir("/proc/self/fd"))


def leftovers(before, before_fds):
    out = [name for name, value in hooks().items() if value is not before[name]]
    if sys.gettrace() not in (None, program_trace):
        out.append("sys.gettrace")
    if getattr(threading, "_trace_hook", None) is not None:
        out.append("threading.settrace")
    for t in threading.enumerate():
        if t.name.startswith("qdb"):
            t.join(5)
            if t.is_alive():
                out.append("thread " + t.name)
    out += ["module " + m for m in sorted(sys.modules) if m == "qdb" or m.startswith("qdb_")]
    out += ["builtins." + n for n in dir(builtins) if n.startswith("__qdb")]
    if hasattr(sys, "monitoring"):
        out += ["monitoring tool %d" % i for i in range(6) if sys.monitoring.get_tool(i)]
    if fds() != before_fds:
        out.append("fds: %s, was %s" % (fds(), before_fds))
    return out


before, before_fds = hooks(), fds()
if mode == "traced":
    sys.settrace(program_trace)
print("before", flush=True)
thread = threading.Thread(target=worker, name="worker")
thread.start()
if mode == "input":
    print("got", input().strip(), flush=True)
    state["go"] = True
else:
    while not state["go"]:
        try:
            time.sleep(600)
        except Go:
            break
thread.join()
sys.settrace(None)
print("leftovers:", leftovers(before, before_fds), flush=True)
print("after", flush=True)
sys.exit(3)
