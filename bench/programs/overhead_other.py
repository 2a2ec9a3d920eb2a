"""A module of overhead.py that holds a breakpoint never hit (a breakpoint in another file)."""


def never_called():
    return None  # @never
