def inner(d):
    ratio = 10 / d  # @raise
    return ratio


def outer():
    local_in_outer = 42
    return inner(0)  # @outer_call


print("before the crash")
outer()  # @module_call
