"""Values as text, for the qdb bridge: bounded, never-failing reprs for locals, watches and
values (``_short_repr``), and the REPL's repr or pprint of a value, bounded for huge ones
(``_full_repr``), saying how much of a value too big to show whole was shown.

A mixin of the Bridge (qdb.py). Standard library only, like the rest of the bridge.
"""

import builtins

from qdb_output import MAX_OUTPUT

# The most items of one list, tuple, set or deque (and keys of one dict) that `p`, `pp` and the
# REPL show: past it, the first ones, and a note saying how many there are. One bound for every
# size (a value of 10,001 items is cut as one of ten million is).
MAX_ITEMS = 10000
MAX_KEYS = 5000


def _exc_line(exc):
    """'ValueError: test', as the last line of a traceback."""
    name = type(exc).__name__
    try:
        text = str(exc)
    except Exception:
        text = "<exception str() failed>"
    return "%s: %s" % (name, text) if text else name


class Reprs(object):
    """Values as text: bounded reprs that never fail. Owns its reprlib objects."""

    def __init__(self):
        self._short_obj = None
        self._big_obj = None

    def repr_obj(self, big):
        """A reprlib.Repr with qdb's bounds (`big`: those of a value shown whole)."""
        import reprlib

        class SafeRepr(reprlib.Repr):
            def repr_instance(self, x, level):
                try:
                    s = builtins.repr(x)
                except Exception as exc:
                    return "<repr failed: %s>" % _exc_line(exc)
                if len(s) > self.maxother:
                    i = max(0, (self.maxother - 3) // 2)
                    j = max(0, self.maxother - 3 - i)
                    s = s[:i] + "..." + s[len(s) - j:]
                return s

            def repr_dict(self, x, level):
                # reprlib sorts keys; repr() does not: keep the insertion order.
                n = len(x)
                if n == 0:
                    return "{}"
                if level <= 0:
                    return "{...}"
                newlevel = level - 1
                pieces = []
                for i, (k, v) in enumerate(x.items()):
                    if i >= self.maxdict:
                        pieces.append("...")
                        break
                    pieces.append("%s: %s" % (self.repr1(k, newlevel), self.repr1(v, newlevel)))
                return "{%s}" % ", ".join(pieces)

            def repr1(self, x, level):
                # Whether anything was left out (for the note under a big value's repr).
                try:
                    n = len(x) if isinstance(x, (list, tuple, set, frozenset, dict)) else 0
                except Exception:
                    n = 0
                if n and (level <= 0 or n > (self.maxdict if isinstance(x, dict) else self.maxlist)):
                    self.cut = True
                try:
                    return reprlib.Repr.repr1(self, x, level)
                except RecursionError:
                    return "<repr failed: RecursionError>"
                except Exception as exc:
                    return "<repr failed: %s>" % _exc_line(exc)

        r = SafeRepr()
        r.cut = False
        if big:
            r.maxlevel = 20
            r.maxlist = r.maxtuple = r.maxset = r.maxfrozenset = r.maxdeque = r.maxarray = MAX_ITEMS
            r.maxdict = MAX_KEYS
            r.maxstring = MAX_OUTPUT
            r.maxlong = 100000
            r.maxother = MAX_OUTPUT
        else:
            r.maxlevel = 6
            r.maxlist = r.maxtuple = r.maxset = r.maxfrozenset = r.maxdeque = r.maxarray = 100
            r.maxdict = 100
            r.maxstring = 1000
            r.maxlong = 1000
            r.maxother = 1000
        return r

    def short(self, value):
        """Bounded, never-failing repr for locals, watches and return values."""
        r = self._short_obj
        if r is None:
            r = self._short_obj = self.repr_obj(False)
        try:
            return r.repr(value)
        except Exception as exc:
            return "<repr failed: %s>" % _exc_line(exc)

    def _small_enough(self, value, budget=200000):
        """True when `value` holds at most `budget` items (counted shallowly through builtin
        containers) and no container in it holds more than the REPL shows of one
        (``MAX_ITEMS``, ``MAX_KEYS``), so that a plain repr() shows it whole and cheaply."""
        seen = 0
        todo = [value]
        visited = set()
        while todo:
            v = todo.pop()
            t = type(v)
            if t in (list, tuple, set, frozenset):
                if id(v) in visited:
                    continue
                visited.add(id(v))
                seen += len(v)
                if seen > budget or len(v) > MAX_ITEMS:
                    return False
                todo.extend(v)
            elif t is dict:
                if id(v) in visited:
                    continue
                visited.add(id(v))
                seen += 2 * len(v)
                if seen > budget or len(v) > MAX_KEYS:
                    return False
                todo.extend(v.keys())
                todo.extend(v.values())
            elif t in (str, bytes, bytearray):
                seen += len(v) // 100
                if seen > budget:
                    return False
        return True

    def full(self, value, pretty=False):
        """repr() (or pprint) as the REPL shows it, bounded to about 1 MB for huge values."""
        text = None
        if self._small_enough(value):
            try:
                if pretty:
                    import pprint
                    text = pprint.pformat(value)
                else:
                    text = builtins.repr(value)
            except Exception as exc:
                return "<repr failed: %s>" % _exc_line(exc)
        else:
            r = self._big_obj
            if r is None:
                r = self._big_obj = self.repr_obj(True)
            r.cut = False
            text = r.repr(value) + self._size_note(value, r)
        if len(text) > MAX_OUTPUT:
            text = text[:MAX_OUTPUT] + "\n... [qdb: output truncated at %d characters]" % (
                MAX_OUTPUT)
        return text

    def _size_note(self, value, r):
        """For a value too big to show whole: how much of it the repr shows, and how much
        there is (its items, keys or characters)."""
        try:
            n = len(value)
        except Exception:
            return ""
        if isinstance(value, dict):
            shown, unit = r.maxdict, "keys"
        elif isinstance(value, (str, bytes, bytearray)):
            shown, unit = r.maxstring, "characters" if isinstance(value, str) else "bytes"
        elif isinstance(value, (list, tuple, set, frozenset)):
            shown, unit = r.maxlist, "items"
        else:
            return ""
        if n <= shown:
            if not r.cut:
                return ""
            # Cut inside, not at the top.
            return "\n[qdb: containers in it hold more than %s items (%s keys); the first of each are shown]" % (
                format(MAX_ITEMS, ","), format(MAX_KEYS, ","))
        return "\n[qdb: a %s of %s %s; the first %s are shown]" % (
            type(value).__name__, format(n, ","), unit, format(shown, ","))
