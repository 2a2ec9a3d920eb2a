import qdb


def f():
    x = 1
    qdb.set_trace()  # @set_trace
    y = x + 1  # @after_set_trace
    qdb.set_trace(stop=False)  # @no_stop
    z = y + 1
    breakpoint()  # @breakpoint
    return z  # @after_breakpoint


print("f returned", f())  # @end
