def f():
    return 1  # @pkgtrap_f
