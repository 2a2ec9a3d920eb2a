"""The web client's scenario: a list to page through, output, and lines to step."""
items = list(range(250))


def total(values):
    doubled = sum(values) * 2  # @total
    result = doubled  # @result
    return result


print("starting web.py")
answer = total(items)
print("the total is", answer)  # @printed
print("done")
