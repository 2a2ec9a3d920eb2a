"""A program that does nothing: what starting costs, in bench/startup.ts."""


def never_called():
    return None  # @never
