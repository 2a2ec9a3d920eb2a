# The engine contract's program (tests/conformance): the same program a fake engine scripts.
def visit(items, n):
    label = "visit %d" % n
    return len(items) + n  # @contract_stop


total = 0
for n in range(2):
    total += visit(list(range(250)), n)
