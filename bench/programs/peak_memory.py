"""Reports this process's peak memory, for the benchmarks."""

import sys


def peak_memory_kb():
    """The peak resident set size of this process, in KiB.

    On Linux it is VmHWM from /proc: getrusage's ru_maxrss survives exec, so it would count
    the memory of whatever forked this interpreter (the benchmark's own Deno process).
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak // 1024 if sys.platform == "darwin" else peak
