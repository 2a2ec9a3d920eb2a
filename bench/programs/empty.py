"""A program that does nothing: what starting costs, in bench/python_overhead.ts."""


def never_called():
    return None  # @bench_breakpoint


from peak_memory import report_peak_memory  # noqa: E402

report_peak_memory()
