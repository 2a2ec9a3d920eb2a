import skipme


def target():
    here = "target"  # @target
    return here


print(skipme.call_back(target))  # @call
