"""Stops, for the qdb bridge: a thread stops at a frame (a breakpoint, a step, a pause, an
exception), the clients are told (`stopped`, and before it the output, the breakpoint state,
the watches and the exception), the commands are answered until one resumes, and the thread
goes on as that command asked (continue, or a step with its stepping rules).

A mixin of the Bridge (qdb.py): one stop at a time (the interaction lock); other threads that
want to stop are held until it ends (qdb_pause).
"""

import queue
import sys
import threading

from qdb_commands import RESUME_COMMANDS
from qdb_common import _GEN_FLAGS, _MISSING, _PY312, _CommandError, _Stop
from qdb_repr import _exc_line
from qdb_tracing import _Stepper


class _NoLock(object):
    """A lock that is not taken: a stop inside `debug`'s code already holds the real one."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


_NO_LOCK = _NoLock()
_DETACH_LOOK_S = 1.0  # while stopped, how often to look whether the bridge was detached


class StopsMixin(object):
    """A thread's stop: what clients are told, the loop that answers them, the resume."""

    def _thread_info(self, ident):
        t = threading._active.get(ident)
        name = t.name if t is not None else "Thread-%d" % ident
        return {"id": ident, "name": name}

    # ------------------------------------------------------------------ stops and interaction

    def _exception_payload(self, exc_type, exc, tb, uncaught, ident):
        import traceback
        try:
            text = "".join(traceback.format_exception(exc_type, exc, tb))
        except Exception:
            text = _exc_line(exc)
        try:
            value = str(exc)
        except Exception:
            value = "<str() failed>"
        return {
            "type": getattr(exc_type, "__name__", str(exc_type)), "value": value,
            "traceback": text, "uncaught": uncaught, "thread": self._thread_info(ident),
        }

    def _stop_at(self, frame, reason, bp=None, cond_error=None, exc_info=None,
                 return_value=_MISSING, frames=None, post_mortem=False, exception=None,
                 exc_value=None):
        """Stops this thread at `frame` and runs the interaction loop until a resume command.
        Other threads that want to stop wait their turn on the interaction lock."""
        ident = threading.get_ident()
        # In the code `debug` runs, this thread stops again inside its own stop.
        nested = self._debugging.get(ident, 0)
        if not self._active or ident in self._internal or ident in self._busy:
            return None
        if self.pauser._holding is not None and not nested:
            # Another thread is stopped: this one's stop comes when that one ends.
            self.pauser._hold_here(frame)
        self._busy.add(ident)
        try:
            with (_NO_LOCK if nested else self._interact_lock):
                if not self._active:
                    return None
                if frames is None:
                    frames = self.code.frames_from(frame)
                if not frames:
                    return None
                stop = _Stop(ident, self._thread_info(ident)["name"], frames, reason,
                             post_mortem)
                stop.depth = nested
                if bp is not None:
                    stop.breakpoint = bp.id
                stop.exc_value = exc_value if exc_info is None else exc_info[1]
                if exception is not None:
                    stop.exception = exception
                elif exc_info is not None:
                    stop.exception = self._exception_payload(exc_info[0], exc_info[1],
                                                             exc_info[2], False, ident)
                    self._last_exc_stop = (frame, exc_info[1])
                try:
                    return self._interact(stop, bp, cond_error, return_value)
                finally:
                    # From now on, a new client may be told the program runs.
                    self._stopped_once = True
        finally:
            self._busy.discard(ident)

    def _take_pending_id(self):
        with self._state_lock:
            id_, self._pending_id = self._pending_id, None
        return id_

    def _interact(self, stop, bp, cond_error, return_value):
        # A pause that is still pending would stop again right after this stop: drop it.
        self.pauser._pause_flag = False
        self.output.drain()
        sid = self._take_pending_id()
        self._stop = stop
        # A stop inside `debug`'s code: the other threads are held by the stop it came from.
        if not stop.depth and not self.pauser._hold_others(stop):
            self.pauser._disarm_line_events()
        # From now on commands go to this thread's queue: a client may answer the stack below
        # before this thread reaches the loop.
        with self._state_lock:
            self._stopped_mode = True
        if bp is not None:
            # Hit counts (and a temporary breakpoint gone) for the core's table.
            self._send("breakpoint_state", self.breakpoints.state(), sid)
        if cond_error is not None:
            self._error("condition", cond_error.data, None, sid)
        if return_value is not _MISSING:
            self._send("return", self.reprs.short(return_value), sid)
        if stop.exception is not None:
            self._send("exception", stop.exception, sid)
        self._requests.send_watch_values(stop)
        self._send_stopped(stop, sid)
        resume = None
        try:
            while resume is None:
                try:
                    item = self._queue.get(timeout=_DETACH_LOOK_S)
                except KeyboardInterrupt:
                    continue
                except queue.Empty:
                    # A stop that began as the bridge was detaching (a signal's handler that
                    # looked just before) missed the wake-up the detach queued: it ends too.
                    if self._detaching or self._detached:
                        resume = ("detach",)
                        break
                    continue
                if item is None:  # detached while stopped
                    resume = ("detach",)
                    break
                e, p, id_, fid = item
                try:
                    resume = self._command(stop, e, p, id_, fid)
                except _CommandError as err:
                    self._error(err.type, err.data, e, id_)
                    if e in RESUME_COMMANDS:
                        with self._state_lock:
                            self._stopped_mode = True
                except KeyboardInterrupt:
                    continue
                except Exception as exc:
                    self._internal_error(exc, e, id_)
                    if e in RESUME_COMMANDS:
                        with self._state_lock:
                            self._stopped_mode = True
        finally:
            view = stop
            with self._state_lock:
                self._stopped_mode = False
                if resume is not None and len(resume) == 3:
                    kind, line, view = resume
                    resume = (kind, line)
                    if view.ident != stop.ident:
                        # A held thread steps; this one goes on with the others.
                        self.pauser._held_resume[view.ident] = (view, resume)
                        view, resume = stop, ("continue", None)
            self._stop = None
            self._inspector.reset()
            self.pauser._release_others(stop)
            # Anything queued after the resume belongs to no stop: answer it as "running".
            while True:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is not None:
                    self._on_late_command(item)
        self._apply_resume(view, resume)
        return resume

    def _on_late_command(self, item):
        e, p, id_, _ = item
        try:
            self._command(None, e, p, id_)
        except _CommandError as err:
            self._error(err.type, err.data, e, id_)
        except Exception as exc:
            self._internal_error(exc, e, id_)

    def _apply_resume(self, stop, resume):
        """Sets the stepping state of this thread for the resume command."""
        ident = threading.get_ident()
        kind = resume[0]
        if kind == "detach" or not self._active or stop.post_mortem:
            self.tracing._steppers.pop(ident, None)
            self.tracing._stepping.discard(ident)
            if not self._active:
                sys.settrace(None)
                for f, _ in stop.frames:
                    f.f_trace = None
            return
        for f, _ in stop.frames:
            f.f_trace_opcodes = False  # A step out that stopped elsewhere first.
        frame = stop.frame
        if kind == "continue":
            self.tracing._steppers.pop(ident, None)
            self.tracing._stepping.discard(ident)
            if _PY312:
                sys.settrace(None)
                for f, _ in stop.frames:
                    f.f_trace = None
            else:
                self.tracing._retrace_here(stop.frames[-1][0])
            return
        if kind == "step":
            st = _Stepper(None, None, 0)
        elif kind == "next":
            st = _Stepper(frame, None, 0)
        elif kind == "out":
            st = _Stepper(frame, frame, -1, out=True)
        elif kind == "return":
            if frame.f_code.co_flags & _GEN_FLAGS:
                st = _Stepper(frame, None, -1)
            else:
                st = _Stepper(frame.f_back, frame, 0)
        else:  # until
            st = _Stepper(frame, frame, resume[1])
        self.tracing._steppers[ident] = st
        self.tracing._stepping.add(ident)
        sys.settrace(self.tracing._step_global)
        for f, _ in stop.frames:
            f.f_trace = self.tracing._step_local
            f.f_trace_lines = True

    def _frame_payload(self, frame, lineno):
        """A frame as the protocol shows it (both versions): file, line, function, code."""
        return {
            "file": self.code.canon(frame.f_code.co_filename),
            "line": lineno if lineno is not None else 0,
            "func": frame.f_code.co_name,
            "code": self.code.source_line(frame, lineno) if lineno else "",
        }

    def _send_stopped(self, stop, id_=None):
        """The engine interface's `stopped` event: which thread stopped and why. qdb's core
        asks for its frames (`stack_trace`) and shows the stop (protocol 1's `stack`); the
        same stop is sent again for a new client's `start`."""
        p = {"thread": {"id": stop.ident, "name": stop.thread_name}, "reason": stop.reason}
        if stop.breakpoint is not None and stop.reason == "breakpoint":
            p["breakpoint"] = stop.breakpoint
        if stop.post_mortem:
            p["post_mortem"] = True
        if stop.depth:
            p["depth"] = stop.depth
        self._send("stopped", p, id_)
