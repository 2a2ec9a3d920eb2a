"""What a breakpoint does that never stops the program, for the qdb bridge: a logpoint's message
(each {expression} evaluated in the frame, under the eval policy and its deadline) and a
snapshot (the stack and the newest frames' locals as bounded reprs), both sent as events while
the program runs on.

HitActions owns the snapshot's reprlib object; it reaches the program's code, the evaluator,
the reprs and the output through the Bridge.
"""

import re
import threading
import time
from types import ModuleType as _ModuleType

from qdb_common import _CommandError
from qdb_eval import _EvalFailed, _PolicyRefused
from qdb_repr import _exc_line

# Snapshot bounds (documented in protocol/README.md, "Snapshots").
SNAPSHOT_RATE = 10  # snapshots a second, per breakpoint
SNAPSHOT_DEPTH = 50  # frames
SNAPSHOT_LOCAL_FRAMES = 3  # the newest frames whose locals are taken
SNAPSHOT_NAMES = 100  # locals per frame
SNAPSHOT_VALUE_CHARS = 500  # characters of one value's repr
SNAPSHOT_BYTES = 64 * 1024  # of all values together



_HIT_CONDITION = re.compile(r"^\s*(>=|>|==|=|<=|<|%)?\s*(\d+)\s*$")


def _hit_test(text):
    """The test of a hit condition (`>= 5`, `% 10`, a bare `5` as `>= 5`), or None for none."""
    if text is None:
        return None
    m = _HIT_CONDITION.match(text) if isinstance(text, str) else None
    if m is None:
        raise _CommandError("payload", 'hit_condition must be an operator (>=, >, ==, <, <=, %%) '
                            'and a count, such as ">= 5", got %r' % (text,))
    op, n = m.group(1) or ">=", int(m.group(2))
    return {
        ">=": lambda h: h >= n, ">": lambda h: h > n, "==": lambda h: h == n,
        "=": lambda h: h == n, "<=": lambda h: h <= n, "<": lambda h: h < n,
        "%": lambda h: n > 0 and h % n == 0,
    }[op]


def _log_parts(text):
    """A logpoint message as (literal, expression) pairs: `{expr}` parts, `{{` and `}}` for
    braces; braces inside an expression nest (a dict display)."""
    parts = []
    literal = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c in "{}" and text.startswith(c * 2, i):
            literal.append(c)
            i += 2
            continue
        if c != "{":
            literal.append(c)
            i += 1
            continue
        depth, j = 1, i + 1
        while j < n and depth:
            depth += {"{": 1, "}": -1}.get(text[j], 0)
            j += 1
        if depth:
            literal.append(text[i:])
            break
        parts.append(("".join(literal), text[i + 1:j - 1]))
        literal = []
        i = j
    parts.append(("".join(literal), None))
    return parts


class HitActions(object):
    """Logpoints and snapshots: a hit that is said, not stopped at."""

    def __init__(self, bridge):
        self._bridge = bridge
        self._snapshot_repr_obj = None

    def snapshot(self, bp, frame, line=None):
        """A snapshot breakpoint's hit: the stack and the newest frames' locals, as bounded reprs,
        sent as a `snapshot` event; the program runs on (never a stop, never a wait for a client).
        At most `max` per breakpoint, and SNAPSHOT_RATE a second."""
        bridge = self._bridge
        if bp.snaps >= bp.max:
            return
        now = time.monotonic()
        if now - bp.snap_window >= 1.0:
            bp.snap_window = now
            bp.snap_in_window = 0
        if bp.snap_in_window >= SNAPSHOT_RATE:
            return
        bp.snap_in_window += 1
        bp.snaps += 1
        frames = []
        f = frame
        while f is not None and len(frames) < SNAPSHOT_DEPTH:
            if not bridge.code.is_ignored(f):
                frames.append(f)
            f = f.f_back
        r = self._snapshot_repr()
        budget = SNAPSHOT_BYTES
        truncated = f is not None
        stack = []
        for i, f in enumerate(frames):
            entry = {"file": bridge.code.canon(f.f_code.co_filename),
                     "line": line if (i == 0 and line) else f.f_lineno,
                     "func": f.f_code.co_name}
            if i < SNAPSHOT_LOCAL_FRAMES and budget > 0:
                values = {}
                try:
                    items = list(f.f_locals.items())
                except Exception:
                    items = []
                # A module's namespace: its own names, not its dunders and imports.
                items = [(k, v) for k, v in items
                         if not (isinstance(k, str) and k.startswith("__") and k.endswith("__"))
                         and not isinstance(v, _ModuleType)]
                for k, v in items[:SNAPSHOT_NAMES]:
                    try:
                        text = r.repr(v)
                    except Exception as exc:
                        text = "<repr failed: %s>" % _exc_line(exc)
                    budget -= len(k) + len(text) + 8
                    if budget < 0:
                        truncated = True
                        break
                    values[str(k)] = text
                if len(items) > SNAPSHOT_NAMES:
                    truncated = True
                entry["locals"] = values
            stack.append(entry)
        stack.reverse()
        ident = threading.get_ident()
        p = {"breakpoint": bp.id, "stack": stack, "thread": bridge._thread_info(ident),
             "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
             + (".%03dZ" % int((time.time() % 1) * 1000))}
        if truncated:
            p["truncated"] = True
        bridge.output.drain()
        bridge._send("snapshot", p)

    def _snapshot_repr(self):
        """The reprs of a snapshot: small, so that a value of ten million items costs a few
        hundred bytes, and the hit a fraction of a millisecond."""
        r = self._snapshot_repr_obj
        if r is None:
            r = self._snapshot_repr_obj = self._bridge.reprs.repr_obj(False)
            r.maxlevel = 3
            r.maxlist = r.maxtuple = r.maxset = r.maxfrozenset = r.maxdeque = r.maxarray = 20
            r.maxdict = 20
            r.maxstring = r.maxother = SNAPSHOT_VALUE_CHARS
            r.maxlong = 100
        return r

    def log(self, bp, frame):
        """A logpoint's message, as the program's own output would come (never a stop): each
        {expression} is evaluated in the frame, under the eval policy and timeout."""
        bridge = self._bridge
        out = []
        for literal, expr in bp.log_parts:
            out.append(literal)
            if expr is None:
                continue
            try:
                # Parsed and compiled once, not at every hit (the policy still judges each).
                code_text = bridge.evaluator.apply_policy(expr, "log")
                code = bp.log_code.get(code_text)
                if code is None:
                    code = bp.log_code[code_text] = compile(code_text, "<log>", "eval",
                                                            dont_inherit=True)
                value = bridge.evaluator.with_deadline(eval, code, frame.f_globals, frame.f_locals)
                text = value if isinstance(value, str) else bridge.reprs.short(value)
            except _PolicyRefused as exc:
                text = "<%s>" % exc
            except _EvalFailed as exc:
                text = "<%s>" % exc.text
            except Exception as exc:
                text = "<%s>" % _exc_line(exc)
            out.append(text[:1000])
        bridge.output.drain()
        bridge._send("print", {"input": "<log>", "exc": False, "output": "".join(out) + "\n"})
