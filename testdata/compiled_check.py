# Checks of qdb_compile (breakpoints compiled into the code), run by
# engine/python/compiled_test.ts on every Python: prints one JSON object of results.
import asyncio
import functools
import json
import os
import sys
import traceback

sys.path.insert(0, sys.argv[1])
import qdb_compile  # noqa: E402
from qdb_compile import CannotCompile, CompiledBreakpoints  # noqa: E402

hits = []


lines = {}  # hook id -> its line (the hook's own frame line is the function's first)


def hit(hook_id, frame, raised):
    hits.append((hook_id, frame.f_code.co_name, lines.get(hook_id), dict(frame.f_locals)))


class Table(CompiledBreakpoints):
    def add(self, hook_id, code, line, *args, **kwargs):
        lines[hook_id] = line
        return CompiledBreakpoints.add(self, hook_id, code, line, *args, **kwargs)


bps = Table(hit)
bps.install_hook()
results = {}


def line_of(func, text):
    import inspect
    lines, first = inspect.getsourcelines(func)
    for i, line in enumerate(lines):
        if text in line:
            return first + i
    raise AssertionError(text)


def work(n):
    total = 0
    for i in range(n):
        total += i  # @work
    return total


def check(name, fn):
    del hits[:]
    try:
        results[name] = fn()
    except Exception:
        results[name] = "FAILED: " + traceback.format_exc()


def plain():
    line = line_of(work, "# @work")
    original = work.__code__
    bps.add(1, original, line)
    value = work(3)
    swapped = work.__code__ is not original
    bps.remove(1)
    return {"value": value, "hits": [(h[0], h[1], h[2], h[3]["i"]) for h in hits],
            "line": line, "swapped": swapped, "restored": work.__code__ is original,
            "after": work(3), "hits_after": len(hits)}


def conditional():
    line = line_of(work, "# @work")
    bps.add(2, work.__code__, line, cond="i == 2")
    work(5)
    bps.remove(2)
    return [h[3]["i"] for h in hits]


class Base(object):
    def greet(self):
        return "base"


class Child(Base):
    def greet(self):
        word = super().greet()  # @method
        return word + "!"


def method():
    line = line_of(Child.greet, "# @method")
    bps.add(3, Child.greet.__code__, line)
    value = Child().greet()
    bps.remove(3)
    return {"value": value, "hits": [(h[1], h[2]) for h in hits],
            "freevars": list(Child.greet.__code__.co_freevars)}


def make_counter():
    count = [0]

    def bump(step):
        count[0] += step  # @closure
        return count[0]
    return bump


def closure():
    bump = make_counter()
    line = line_of(bump, "# @closure")
    maker = make_counter.__code__
    bps.add(4, bump.__code__, line)
    values = [bump(1), bump(2)]
    # A closure made while the breakpoint is in has it too.
    later = make_counter()
    values.append(later(5))
    bps.remove(4)
    # Taken back everywhere: the maker's code, the closures' (the one made meanwhile too).
    values.append(later(1))
    values.append(make_counter()(7))
    return {"values": values, "hits": [h[3]["step"] for h in hits],
            "maker_restored": make_counter.__code__ is maker,
            "closures_restored": bump.__code__ is later.__code__}


def deco(f):
    @functools.wraps(f)
    def wrapper(*args):
        return f(*args)
    return wrapper


@deco
def decorated(x):
    y = x * 2  # @decorated
    return y


def decorated_fn():
    inner = decorated.__wrapped__
    line = line_of(inner, "# @decorated")
    bps.add(5, inner.__code__, line)
    value = decorated(21)
    bps.remove(5)
    return {"value": value, "hits": [(h[1], h[3]["x"]) for h in hits]}


def gen(n):
    for i in range(n):
        yield i * 10  # @gen


async def coro(n):
    await asyncio.sleep(0)
    return n + 1  # @coro


def generators():
    bps.add(6, gen.__code__, line_of(gen, "# @gen"))
    values = list(gen(3))
    bps.remove(6)
    gen_hits = [h[3]["i"] for h in hits]
    del hits[:]
    bps.add(7, coro.__code__, line_of(coro, "# @coro"))
    value = asyncio.run(coro(41))
    bps.remove(7)
    return {"gen": values, "gen_hits": gen_hits, "coro": value,
            "coro_hits": [h[3]["n"] for h in hits]}


def recursive_fn(n):
    if n == 0:  # @recursive
        return 0
    return n + recursive_fn(n - 1)


def recursive():
    bps.add(8, recursive_fn.__code__, line_of(recursive_fn, "# @recursive"))
    value = recursive_fn(3)
    bps.remove(8)
    return {"value": value, "hits": [h[3]["n"] for h in hits]}


def changed_file():
    # The source given is not the loaded code's: refused, nothing swapped.
    code = work.__code__
    import linecache
    source = "".join(linecache.getlines(code.co_filename)).replace(
        "total += i  # @work", "total += i * 2  # @work")
    try:
        bps.add(9, code, line_of(work, "# @work"), source=source)
        return "compiled"
    except CannotCompile as exc:
        return {"refused": str(exc), "unchanged": work.__code__ is code}


def not_a_statement():
    out = []
    # The def line (the hook's own line), and a loop's header (it runs at each pass).
    for text in ("def work", "for i in range"):
        try:
            bps.add(10, work.__code__, line_of(work, text))
            out.append("compiled")
        except CannotCompile as exc:
            out.append(str(exc))
    return out


def miss_counts():
    # A false compiled condition is counted, not called; one that raises calls the hook.
    line = line_of(work, "# @work")
    bps.add(12, work.__code__, line, cond="i > 2")
    work(5)
    counted = bps.take_misses(12)
    bps.remove(12)
    true_hits = [h[3]["i"] for h in hits]
    bps.add(13, work.__code__, line, cond="i / 0")
    raised = []
    real = bps._hit
    bps._hit = lambda hook_id, frame, r: raised.append(r)
    bps.install_hook()
    value = work(2)
    bps._hit = real
    bps.install_hook()
    bps.remove(13)
    return {"misses": counted, "hits": true_hits, "raised": raised,
            "value": value}


def traceback_unchanged():
    line = line_of(boom, "# @boom")
    bps.add(11, boom.__code__, line)
    try:
        boom()
    except ZeroDivisionError:
        tb = traceback.format_exc()
    bps.remove(11)
    return {"names": [l.strip().split(", in ")[-1] for l in tb.splitlines()
                      if l.strip().startswith("File")],
            "line": ("line %d" % (line + 1)) in tb, "qualname": getattr(
                boom.__code__, "co_qualname", "boom")}


def boom():
    x = 1  # @boom
    return x / 0


def churn():
    # Set and cleared 1,000 times: the original code back, nothing left behind.
    code = work.__code__
    line = line_of(work, "# @work")
    for k in range(1000):
        bps.add(100 + k, code, line)
        bps.remove(100 + k)
    return {"restored": work.__code__ is code, "swapped": len(bps._swapped)}


for name, fn in [("plain", plain), ("conditional", conditional), ("method", method),
                 ("closure", closure), ("decorated", decorated_fn),
                 ("generators", generators), ("recursive", recursive),
                 ("changed_file", changed_file), ("not_a_statement", not_a_statement),
                 ("misses", miss_counts),
                 ("traceback", traceback_unchanged), ("churn", churn)]:
    check(name, fn)
bps.uninstall_hook()
# Code still running a compiled function when the hook goes calls it: it does nothing, and
# never fails.
del hits[:]
getattr(__import__("builtins"), qdb_compile.HOOK_NAME)(1)
results["hook_silent"] = hits == []
print(json.dumps(results))
