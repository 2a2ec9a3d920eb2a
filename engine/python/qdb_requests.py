"""The engine interface's primitive requests (engine/engine.ts), for the qdb bridge: each gets
exactly one ``response``, with its result or its error. Arguments were checked by the tracer's
core; a request that needs a stop says so while the program runs.

Requests owns the dispatch table (a request's name -> whether it needs a stop, and its
handler) and the watches qdb's core evaluates at every stop; it asks the bridge's parts for the
rest (the inspector for frames and values, the breakpoint table, the evaluator).
"""

import sys
import threading
import traceback

import qdb_inspect
from qdb_common import _CommandError
from qdb_eval import _EvalFailed, _PolicyRefused
from qdb_output import MAX_OUTPUT as _MAX_OUTPUT
from qdb_output import ThreadRouted, _Capture
from qdb_repr import _exc_line

_MAX_WATCHES = 1000
_MAX_MATCHES = 1000


class Requests(object):
    """Answers `request` commands by a table, not a chain of ifs."""

    def __init__(self, bridge):
        self._bridge = bridge
        self._inspector = bridge._inspector
        # What the core watches: evaluated here at every stop and frame change, and sent
        # (`watch_values`) before the stop, so that a stop costs no extra round trip.
        self.stop_watches = []
        inspector = self._inspector
        # name -> (needs a stop, handler(stop, args))
        self._table = {
            "threads": (False, lambda stop, args: inspector.threads(stop)),
            "source": (False, lambda stop, args: inspector.source(args)),
            "find_source": (False, lambda stop, args: inspector.find_source(args)),
            "stack_trace": (False, inspector.stack_trace),
            "set_breakpoint": (False, lambda stop, args: bridge.breakpoints.place(stop, args)),
            "update_breakpoint": (False, lambda stop, args: bridge.breakpoints.change(args)),
            "remove_breakpoints": (False, lambda stop, args: bridge.breakpoints.remove(args)),
            "locate": (False, lambda stop, args: bridge.breakpoints.locate(args)),
            "exception_info": (False, self._exception_info),
            "completions": (False, self._completions),
            "set_stop_watches": (False, self._set_stop_watches),
            "scopes": (True, inspector.scopes),
            "variables": (True, inspector.variables),
            "evaluate": (True, self._evaluate),
            "set_variable": (True, self._set_variable),
            "jump": (True, self._jump),
            "watch": (True, self._watch),
        }

    def handle(self, stop, p, id_):
        """Answers one request (`stop` is None while the program runs)."""
        p = p if isinstance(p, dict) else {}
        command, args = p.get("command"), p.get("args")
        args = args if isinstance(args, dict) else {}
        send = self._bridge._send
        try:
            entry = self._table.get(command) if isinstance(command, str) else None
            if entry is None:
                raise qdb_inspect.InspectError("event", "Unknown request %r" % (command,))
            needs_stop, handler = entry
            if needs_stop and stop is None:
                raise qdb_inspect.InspectError(
                    "running", "%s needs a stopped program, and it is running (send pause "
                    "first)" % command)
            result = handler(stop, args)
        except (qdb_inspect.InspectError, _CommandError) as err:
            send("response", {"error": {"type": err.type, "data": err.data}}, id_)
            return
        except Exception as exc:
            detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
            send("response", {"error": {
                "type": "internal",
                "data": "qdb failed while handling %r: %s" % (command, detail)}}, id_)
            return
        send("response", {"result": result}, id_)

    def _completions(self, stop, args):
        frame_id = args.get("frame")
        frame = None if frame_id is None else self._inspector.frame(stop, frame_id)
        matches = self._bridge.evaluator.complete(stop, args.get("text", ""), frame)
        return {"matches": matches[:_MAX_MATCHES]}

    def _set_stop_watches(self, stop, args):
        exprs = args.get("exprs") or []
        self.stop_watches = [e for e in exprs if isinstance(e, str)][:_MAX_WATCHES]
        return {}

    def _watch(self, stop, args):
        view = self._bridge._view(stop, args.get("frame"))
        return {"values": [self._watch_value(view, expr) for expr in args.get("exprs") or []]}

    def send_watch_values(self, stop):
        """The core's watches, evaluated in the selected frame, sent before the stop."""
        exprs = list(self.stop_watches)
        if exprs:
            self._bridge._send("watch_values", {"exprs": exprs,
                                        "values": [self._watch_value(stop, e) for e in exprs]})

    def _watch_value(self, stop, expr):
        """A watched expression in the selected frame: its short repr, or the exception (the
        core's `watch` request evaluates every watch of a stop at once)."""
        try:
            value = self._bridge.evaluator.run(stop, expr, "watch")
            return {"exc": False, "value": self._bridge.reprs.short(value)}
        except _PolicyRefused as exc:
            return {"exc": True, "value": str(exc)}
        except _EvalFailed as exc:
            return {"exc": True, "value": exc.text}
        except Exception as exc:
            # Whatever a client watches, the program must not die of it.
            return {"exc": True, "value": _exc_line(exc)}

    def _set_variable(self, stop, args):
        """Assigns the value of an expression (in a frame given by id, or the selected one) to
        a child of a reference: a variable of a scope, a key, an item or an attribute."""
        frame_id = args.get("frame")
        frame = stop.frame if frame_id is None else self._inspector.frame(stop, frame_id)
        try:
            value = self._bridge.evaluator.run(stop, args.get("value"), "set_variable", frame)
        except _PolicyRefused as exc:
            raise _CommandError("policy", str(exc))
        except _EvalFailed as exc:
            raise _CommandError("eval", exc.text)
        self._inspector.assign(stop, args.get("ref"), args.get("name"), value,
                               self._bridge.evaluator.locals_to_fast)
        return self._inspector.value(value)

    def _jump(self, stop, args):
        """pdb's `jump`: the next line to run in the newest frame of the thread that stopped.
        CPython moves the frame itself (`f_lineno`, settable from the trace or monitoring
        callback this thread is stopped in) and refuses what it cannot do (into a block, out of
        a `finally`...): its message is the error. The clients see the stop again, at the new
        line (reason `goto`)."""
        line = args.get("line")
        thread = args.get("thread", stop.ident)
        if thread != stop.ident:
            raise _CommandError("thread", "jump moves the thread that stopped (%s, %s), not a "
                                "thread held by its stop" % (stop.ident, stop.thread_name))
        newest = len(stop.frames) - 1
        frame_id = args.get("frame")
        frame = stop.frames[newest][0]
        if frame_id is not None and self._inspector.frame(stop, frame_id) is not frame:
            raise _CommandError("jump", "jump works in the newest frame only (as pdb's)")
        if stop.post_mortem or stop.exception is not None or stop.reason == "return":
            raise _CommandError("jump", "jump cannot move a frame stopped on %s"
                                % ("an exception" if stop.reason != "return" else "its return"))
        import warnings
        with warnings.catch_warnings(record=True) as said:
            # 3.13 warns of locals the jump leaves unbound (they become None): for the client,
            # not the program's stderr.
            warnings.simplefilter("always")
            try:
                frame.f_lineno = line
            except ValueError as exc:
                raise _CommandError("jump", "Cannot jump to line %s: %s" % (line, exc))
        stop.frames[newest] = (frame, frame.f_lineno)
        stop.index = newest
        stop.reason = "goto"
        stop.locals_cache.clear()
        self._bridge._send_stopped(stop)
        result = {"line": frame.f_lineno}
        if said:
            result["warning"] = "; ".join(str(w.message) for w in said)[:1000]
        return result

    def _exception_info(self, stop, args):
        """The exception a thread stopped on: type, message, traceback, and a reference to the
        exception object itself."""
        thread = args.get("thread")
        if stop is None or stop.ident != thread:
            raise qdb_inspect.InspectError("thread", "Thread %s is not stopped" % thread)
        if stop.exception is None:
            raise qdb_inspect.InspectError("thread", "Thread %s did not stop on an exception "
                                           "(it stopped: %s)" % (thread, stop.reason))
        info = stop.exception
        out = {"type": info["type"], "message": info["value"], "traceback": info["traceback"],
               "uncaught": bool(info.get("uncaught")), "ref": 0}
        if stop.exc_value is not None:
            out["ref"] = self._inspector.value(stop.exc_value)["ref"]
        return out

    def _evaluate(self, stop, args):
        """An expression (or, in the `repl` context, statements) in a frame given by id or the
        selected one: its value with a reference to its children. What it prints is in
        `output`. With `echo` (protocol 1's eval, p and pp, which qdb's core answers through
        this), `display` is what the REPL shows of it, up to 1 MB: for `repl` an expression's
        repr (none for None or statements, which run as an interactive line), for `repr` and
        `pretty` the value's repr or pprint, None too; and an exception is no error but the
        result, `raised` with its text in `display`, after what was printed before it."""
        expr = args.get("expr")
        context = args.get("context", "repl")
        echo = args.get("echo")
        frame_id = args.get("frame")
        frame = stop.frame if frame_id is None else self._inspector.frame(stop, frame_id)
        where = ("pprint" if echo == "pretty" else "eval") if echo else (
            "evaluate" if context == "repl" else context)
        try:
            code_text = self._bridge.evaluator.apply_policy(expr, where)
        except _PolicyRefused as exc:
            raise _CommandError("policy", str(exc))
        shown = []
        try:
            try:
                code = compile(code_text, "<qdb>", "eval", dont_inherit=True)
            except SyntaxError:
                if context != "repl" or echo in ("repr", "pretty"):
                    raise
                try:
                    # One interactive line: its expression statements are echoed.
                    code = compile(code_text + "\n", "<qdb>", "single", dont_inherit=True)
                except SyntaxError:
                    code = compile(code_text, "<qdb>", "exec", dont_inherit=True)
        except (SyntaxError, ValueError, UnicodeError, RecursionError, MemoryError,
                OverflowError) as exc:
            if echo:
                return {"value": "None", "type": "NoneType", "ref": 0, "named": 0,
                        "indexed": 0, "raised": True, "display": _exc_line(exc)}
            raise _CommandError("eval", _exc_line(exc))
        g, l = frame.f_globals, self._bridge.evaluator.frame_locals(frame)
        capture = _Capture()

        def displayhook(value):
            if value is not None:
                shown.append(self._bridge.reprs.full(value))

        saved = sys.stdout, sys.stderr, sys.displayhook
        me = threading.get_ident()
        sys.stdout = ThreadRouted(capture, saved[0], me)
        sys.stderr = ThreadRouted(capture, saved[1], me)
        sys.displayhook = displayhook
        raised = None
        value = None
        try:
            value = self._bridge.evaluator.with_deadline(eval, code, g, l)
        except _EvalFailed as exc:
            if not echo:
                raise _CommandError("eval", exc.text)
            raised = exc.text
        finally:
            sys.stdout, sys.stderr, sys.displayhook = saved
            self._bridge.evaluator.locals_to_fast(frame, l)
        result = self._inspector.value(value)
        output = capture.getvalue()
        if output:
            result["output"] = output[:_MAX_OUTPUT]
        if raised is not None:
            result["raised"] = True
            result["display"] = raised[:_MAX_OUTPUT]
        elif echo in ("repr", "pretty"):
            result["display"] = self._bridge.reprs.full(value, pretty=echo == "pretty")
        elif echo == "repl" and shown:
            result["display"] = "\n".join(shown)[:_MAX_OUTPUT]
        elif echo == "repl" and value is not None:
            result["display"] = self._bridge.reprs.full(value)
        return result
