"""The commands of the engine interface, for the qdb bridge (engine/engine.ts): the resuming
commands, ``start``, ``pause``, ``disable``, ``debug``, ``set_exception_break`` and ``input``,
found in a table, and ``request`` (qdb_requests). qdb's core answers protocol 1's other
commands through requests.

A mixin of the Bridge (qdb.py): a command acts on the Bridge's stop (`stop`, None while the
program runs) as seen from the frame qdb's core selected (`view`).
"""

import copy
import sys

import qdb_inspect
from qdb_common import _CommandError
from qdb_eval import _PolicyRefused
from qdb_repr import _exc_line
from qdb_tracing import _Stepper

RESUME_COMMANDS = frozenset(["step", "next", "return", "until", "continue"])
# Commands that need a stopped program: refused while it runs.
NEEDS_STOP = RESUME_COMMANDS | frozenset(["debug"])


class CommandsMixin(object):
    """Handles commands by name: `_COMMAND_TABLE` (built once, below the class)."""

    def _command(self, stop, e, p, id_, fid=None):
        """Handles one command; at a stop, returns a resume tuple to leave the stop's loop.
        `fid` is the frame qdb's core selected, for the commands that act on it."""
        if e == "request":
            return self._requests.handle(stop, p, id_)
        handler = _COMMAND_TABLE.get(e)
        if handler is None:
            raise _CommandError("event", "Unknown command %r" % (e,))
        if stop is None and e in NEEDS_STOP:
            raise _CommandError("running", "%s needs a stopped program, and it is running "
                                "(send pause first)" % e)
        return handler(self, stop, self._view(stop, fid), e, p, id_)

    def _cmd_resume(self, stop, view, e, p, id_):
        resume = self._resume_of(stop, e, p, view)
        with self._state_lock:
            self._pending_id = id_
        target = resume[2] if e != "continue" else stop
        self._send("running", {"thread": {"id": target.ident, "name": target.thread_name}}, id_)
        return resume

    def _cmd_start(self, stop, view, e, p, id_):
        """A new client: told of the stop (and its exception), or that the program runs (it
        would otherwise only see a later stop), unless it is about to stop at its first line."""
        if stop is not None:
            if stop.exception is not None and stop.post_mortem:
                self._send("exception", stop.exception, id_)
            self._send_stopped(stop, id_)
        elif self._stopped_once or not self._stop_on_entry:
            self._send("running", id_=id_)
        return None

    def _cmd_pause(self, stop, view, e, p, id_):
        if stop is None:
            self.pauser._request_pause(id_)
        else:
            self._send_stopped(stop, id_)  # already stopped: the stop again (qdb's core answers it)
        return None

    def _cmd_disable(self, stop, view, e, p, id_):
        mode = p if p is not None else "soft"
        if mode not in ("soft", "hard"):
            raise _CommandError("disable", 'disable takes "soft" or "hard", got %r' % (mode,))
        self.detach(mode, id_)
        return ("detach",) if stop is not None else None

    def _cmd_exception_break(self, stop, view, e, p, id_):
        if p not in ("raised", "uncaught", "never"):
            raise _CommandError("payload", 'set_exception_break takes "raised", "uncaught" '
                                'or "never"')
        self._break_on = p
        # Conditions are compiled in place only when no exception stops where it is raised
        # (a condition's own exception would).
        self.breakpoints.changed()
        return None

    def _cmd_input(self, stop, view, e, p, id_):
        raise _CommandError("input", "The program's standard input is not connected to qdb")

    def _cmd_debug(self, stop, view, e, code_text, id_):
        """pdb's `debug CODE`: runs the code in the selected frame, stopped at its first line,
        as a stop inside this one (depth + 1): it is stepped, inspected and continued as any
        stop; when the code ends, this stop is shown again. Returns a resume (detach) if the
        person quit inside it, else None."""
        if not isinstance(code_text, str) or not code_text.strip():
            raise _CommandError("payload", "debug takes code to run")
        try:
            text = self.evaluator.apply_policy(code_text, "eval")
        except _PolicyRefused as exc:
            raise _CommandError("policy", str(exc))
        name = "<debug>" if not stop.depth else "<debug %d>" % (stop.depth + 1)
        try:
            code = compile(text, name, "exec", dont_inherit=True)
        except (SyntaxError, ValueError, OverflowError, RecursionError, MemoryError) as exc:
            raise _CommandError("eval", _exc_line(exc))
        frame = view.frame
        g, l = frame.f_globals, self.evaluator.frame_locals(frame)
        ident = stop.ident
        self._send("print", {"input": code_text, "exc": False,
                             "output": "ENTERING RECURSIVE DEBUGGER"}, id_)
        self._send("running", {"thread": {"id": ident, "name": stop.thread_name}}, id_)
        saved_trace = sys.gettrace()
        with self._state_lock:
            self._stopped_mode = False
        self._debugging[ident] = stop.depth + 1
        self.tracing._steppers[ident] = _Stepper(None, None, 0)
        self.tracing._stepping.add(ident)
        # The code runs as the program does: it may stop (this stop stays open meanwhile).
        self._busy.discard(ident)
        import linecache
        # Its lines, for the stops in it (as a file's).
        linecache.cache[name] = (len(text), None, text.splitlines(True), name)
        failed = []

        def run():
            # Set inside call_tracing, as pdb's `debug` does: on 3.11 a trace function set
            # before it sees no events.
            sys.settrace(self.tracing._step_global)
            try:
                exec(code, g, l)
            except BaseException as exc:  # what the code raised (SystemExit too) is shown
                failed.append(_exc_line(exc))
            finally:
                sys.settrace(None)

        try:
            sys.call_tracing(run, ())
        finally:
            sys.settrace(saved_trace)
            self.tracing._steppers.pop(ident, None)
            self.tracing._stepping.discard(ident)
            self._debugging.pop(ident, None)
            self._busy.add(ident)
            self.evaluator.locals_to_fast(frame, l)
        if not self._active:
            return ("detach",)
        # This stop again, as it was (its frame and variable ids are new).
        self._inspector.reset()
        with self._state_lock:
            self._stop = stop
            self._stopped_mode = True
        if failed:
            self._send("print", {"input": code_text, "exc": True, "output": failed[0]})
        self._send("print", {"input": code_text, "exc": False,
                             "output": "LEAVING RECURSIVE DEBUGGER"})
        self._requests.send_watch_values(stop)
        self._send_stopped(stop)
        return None

    def _resume_of(self, stop, e, p, view):
        """The resume a resuming command asks for, as (kind, until line or None, the view of the
        thread and frame it applies to), or _CommandError if it cannot be done (the reader
        checks before it counts the program as running). It applies to the frame qdb's core
        selected (`view`: `return` leaves it, `until` and `next` stay in it), in the stopped
        thread or one held by its stop; protocol 2 may name the thread instead."""
        if isinstance(p, dict):
            if e == "return" and p.get("caller") is True:
                e = "out"
            thread = p.get("thread")
            p = p.get("line")
            if thread is not None and thread != view.ident:
                view = stop if thread == stop.ident else self.pauser._held.get(thread)
                if view is None:
                    raise _CommandError("thread", "Thread %s is not stopped: only the thread "
                                        "stopped here (%s, %s) and the threads held by its stop "
                                        "(see threads) can be resumed"
                                        % (thread, stop.ident, stop.thread_name))
        if e == "continue":
            return ("continue", None, stop)
        if e != "until":
            return (e, None, view)
        line = p
        current = view.frames[view.index][1] or 0
        if line is None:
            line = current + 1
        elif not isinstance(line, int) or isinstance(line, bool):
            raise _CommandError("payload", "until takes a line number")
        elif line <= current:
            raise _CommandError("payload", '"until" line %d is not after the current '
                                "line %d" % (line, current))
        return ("until", line, view)

    def _view(self, stop, fid):
        """The stop as seen from the frame qdb's core selected: the stopped thread's or a held
        thread's, with that frame as its current one. A frame id from an earlier stop (the core
        had not seen this one yet) means this stop's newest frame, as protocol 1 always did."""
        if fid is None or stop is None:
            return stop
        try:
            frame = self._inspector.frame(stop, fid)
        except qdb_inspect.InspectError:
            return stop
        owners = [stop]
        with self._state_lock:
            owners.extend(self.pauser._held.values())
        for owner in owners:
            for i, (f, _) in enumerate(owner.frames):
                if f is frame:
                    if owner is stop and i == stop.index:
                        return stop
                    view = copy.copy(owner)
                    view.index = i
                    return view
        return stop


_COMMAND_TABLE = {
    "step": CommandsMixin._cmd_resume,
    "next": CommandsMixin._cmd_resume,
    "return": CommandsMixin._cmd_resume,
    "until": CommandsMixin._cmd_resume,
    "continue": CommandsMixin._cmd_resume,
    "start": CommandsMixin._cmd_start,
    "pause": CommandsMixin._cmd_pause,
    "disable": CommandsMixin._cmd_disable,
    "debug": CommandsMixin._cmd_debug,
    "set_exception_break": CommandsMixin._cmd_exception_break,
    "input": CommandsMixin._cmd_input,
}
