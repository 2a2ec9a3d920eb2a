# For tests/dap_test.ts: hit counts, nested values, a step into the standard library.
import json


class Box:
    def __init__(self, inner):
        self.inner = inner


def make(n):
    box = Box({"deep": [n, {"deeper": n * 2}]})
    return box  # @make_return


def main():
    total = 0
    for n in range(5):
        total += make(n).inner["deep"][0]
    text = json.dumps({"total": total})  # @dumps
    return text


print(main())
