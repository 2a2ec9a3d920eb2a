class BadRepr:
    def __repr__(self):
        raise RuntimeError("no repr for you")


class Node:
    def __init__(self):
        self.me = self


huge = list(range(10_000_000))
loop = [1, 2]
loop.append(loop)
bad = BadRepr()
node = Node()
data = {"bytes": b"\xff\x00", "set": {1, 2}, "complex": 1 + 2j, "nan": float("nan")}
surrogate = "bad \udcff text"
text = "x" * 5000
marker = 1  # @inspect
print("values done")
