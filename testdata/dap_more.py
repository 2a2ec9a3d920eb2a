# For tests/dap_test.ts: hit counts, nested values, a step into the standard library.
import json


class Box:
    def __init__(self, inner):
        self.inner = inner


def make(n):
    box = Box({"deep": [n, {"deeper": n * 2}]})
    return box  # @make_return


def first(n):
    return n + 1  # @in_first


def second(n):
    return n * 2  # @in_second


def numbers():
    yield 1  # @in_gen
    yield 2  # @gen_again


def main():
    total = 0
    for n in range(5):
        total += make(n).inner["deep"][0]
    both = first(total) + second(total)  # @both_calls
    assert both == first(total) + second(total)  # @after_both
    gen = numbers()
    assert next(gen) + next(gen) == 3  # @gen_calls
    text = json.dumps({"total": total})  # @dumps
    return text


print(main())
