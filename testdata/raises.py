def risky():
    raise KeyError("caught later")  # @raise


try:
    risky()  # @call
except KeyError:
    print("caught")
print("raises done")  # @end
