"""Reports this process's peak memory for bench/python_overhead.ts."""

import sys


def report_peak_memory():
    """Prints `qdb-bench-maxrss-kb N`: the peak resident set size of this process, in KiB.

    On Linux it is VmHWM from /proc: getrusage's ru_maxrss survives exec, so it would count
    the memory of whatever forked this interpreter (the benchmark's own Deno process).
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    print("qdb-bench-maxrss-kb", int(line.split()[1]))
                    return
    except OSError:
        pass
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print("qdb-bench-maxrss-kb", peak // 1024 if sys.platform == "darwin" else peak)
