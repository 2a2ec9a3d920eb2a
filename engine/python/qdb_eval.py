"""Running code in the debugged program for the qdb bridge: eval and exec in a frame, breakpoint
conditions, the eval policy (a hook may refuse code), the eval deadline (a watchdog thread
interrupts code that runs too long), completions, and protocol 2's evaluate and set_variable.

An Evaluator owns the policy and its hook, the deadline's watchdog and what it needs of
CPython's C API. Standard library only.
"""

import threading
import time

import qdb_threads
from qdb_common import _PY313
from qdb_output import _MISSING
from qdb_repr import _exc_line

class _EvalTimeout(BaseException):
    """Raised asynchronously in a thread whose eval ran out of time (BaseException so that a
    bare ``except Exception`` in the evaluated code does not swallow it)."""


class _PolicyRefused(Exception):
    pass


class _EvalFailed(Exception):
    def __init__(self, text, type_name="Exception"):
        Exception.__init__(self, text)
        self.text = text
        self.type_name = type_name


class _CondError(Exception):
    def __init__(self, bp, frame, exc_name, output):
        Exception.__init__(self, output)
        # The breakpoint's line: a compiled one's hook runs on its function's first line.
        self.data = {"cond": bp.cond, "line": bp.line or frame.f_lineno, "exc": exc_name,
                     "output": output}


class Evaluator(object):
    """Runs code of the clients' in the program: in a frame, under the policy and the deadline."""

    def __init__(self, policy, timeout, main_ident, signal_main, internal_thread, main_globals):
        self.policy = policy  # "full", "none" or "hook:MODULE:FUNCTION"
        self.timeout = timeout  # seconds; 0 for none
        self._main_ident = main_ident
        self._signal_main = signal_main  # interrupts the main thread (the pause signal)
        self._internal_thread = internal_thread  # the first call of the watchdog thread
        self._main_globals = main_globals  # () -> the program's __main__ globals, or None
        # The main thread's evaluation the pause signal was sent to end (its job's token).
        self.sig_timeout = None
        self._l2f = _MISSING
        # Eval deadline (one watchdog thread, polling while evaluations run).
        # The eval thread only touches the raw C lock: an asynchronous exception can land at any
        # bytecode, and one inside threading.Condition's Python code would leak its lock.
        self._wd_lock = threading.Lock()
        self._wd_wake = threading.Event()
        self._wd_jobs = {}  # thread ident -> its running evaluation's job
        self._wd_polling = False
        self._wd_interval = 0.25
        self._wd_idle = 0
        self._wd_thread = None
        self._wd_closed = False
        self._set_async_exc = None

        # Policy hook.
        self.hook = None
        self.hook_error = None

    def frame_locals(self, frame):
        # Read afresh each time: on 3.8-3.12 this syncs the dict from the frame, and every eval
        # writes its changes back right after (_locals_to_fast), so nothing is lost; 3.11 and
        # 3.12 only write back a dict that was just read. On 3.13 it is a write-through proxy.
        return frame.f_locals

    def locals_to_fast(self, frame, space):
        """Writes changes made to a frame's locals dict back to the frame (3.8-3.12)."""
        if _PY313 or space is frame.f_globals:
            return
        fn = self._l2f
        if fn is _MISSING:
            fn = None
            try:
                import ctypes
                fn = ctypes.pythonapi.PyFrame_LocalsToFast
                fn.argtypes = [ctypes.py_object, ctypes.c_int]
                fn.restype = None
            except Exception:
                pass
            self._l2f = fn
        if fn is not None:
            try:
                fn(frame, 0)
            except Exception:
                pass

    def load_hook(self):
        """Imports the policy's hook (once); a hook that cannot load refuses all code."""
        if self.hook is not None or self.hook_error is not None:
            return
        spec = self.policy[len("hook:"):]
        module_name, _, func_name = spec.rpartition(":")
        try:
            import importlib
            module = importlib.import_module(module_name)
            self.hook = getattr(module, func_name)
        except Exception as exc:
            self.hook_error = 'Eval policy "%s": the hook cannot be loaded (%s)' % (
                self.policy, _exc_line(exc))

    def apply_policy(self, code, where):
        """Returns the code to run, or raises _PolicyRefused."""
        policy = self.policy
        if policy == "full":
            return code
        if policy == "none":
            raise _PolicyRefused('Eval policy "none" refuses to run code')
        if policy.startswith("hook:"):
            self.load_hook()
            if self.hook_error:
                raise _PolicyRefused(self.hook_error)
            try:
                verdict = self.hook(code, where)
            except Exception as exc:
                raise _PolicyRefused('Eval policy "%s" refused to run code: %s'
                                     % (policy, _exc_line(exc)))
            if verdict is True:
                return code
            if isinstance(verdict, str):
                return verdict
            raise _PolicyRefused('Eval policy "%s" refused to run code' % policy)
        raise _PolicyRefused('Unknown eval policy "%s": no code runs' % policy)

    def run(self, stop, expr, where, frame=None):
        """Evaluates an expression in `frame`, by default the selected one (policy and timeout
        applied)."""
        code_text = self.apply_policy(expr, where)
        try:
            code = compile(code_text, "<%s>" % where, "eval", dont_inherit=True)
        except (SyntaxError, ValueError, UnicodeError, RecursionError, MemoryError,
                OverflowError) as exc:
            # A lone surrogate, a NUL, or "-" * 99999 + "1" fail in the compiler itself.
            raise _EvalFailed(_exc_line(exc), type(exc).__name__)
        if frame is None and stop is not None:
            frame = stop.frame
        if frame is not None:
            g, l = frame.f_globals, self.frame_locals(frame)
        else:
            main = self._main_globals()
            g = l = main if main is not None else {}
        return self.with_deadline(eval, code, g, l)

    def condition(self, bp, frame):
        """A breakpoint's condition in `frame`: its value, or _CondError."""
        try:
            # The policy judges every evaluation; "full" lets everything run as it is.
            code_text = bp.cond if self.policy == "full" else self.apply_policy(
                bp.cond, "condition")
            if bp.compiled is None or bp.compiled[0] != code_text:
                bp.compiled = (code_text, compile(code_text, "<condition>", "eval",
                                                  dont_inherit=True))
            code = bp.compiled[1]
            return self.with_deadline(eval, code, frame.f_globals, frame.f_locals)
        except _PolicyRefused as exc:
            raise _CondError(bp, frame, "PolicyError", str(exc))
        except _EvalFailed as exc:
            raise _CondError(bp, frame, exc.type_name, exc.text)
        except Exception as exc:
            raise _CondError(bp, frame, type(exc).__name__, _exc_line(exc))

    def with_deadline(self, fn, *args):
        """Runs fn(*args) under the eval timeout; any exception becomes _EvalFailed.

        A runaway main thread is interrupted by PAUSE_SIGNAL, whose handler raises
        _EvalTimeout (that also ends a blocking sleep); another thread gets _EvalTimeout as an
        asynchronous exception. A pending asynchronous exception is never taken back with
        PyThreadState_SetAsyncExc(id, NULL): on 3.11 that leaves the eval breaker set and a
        traced thread spins; if it lands late it is absorbed here instead."""
        timeout = self.timeout
        job = self._arm_deadline(timeout) if timeout > 0 else None
        outcome = None
        try:
            try:
                outcome = (True, fn(*args))
            except BaseException as exc:
                if job is not None and isinstance(exc, _EvalTimeout):
                    job[5] = True
                outcome = (False, exc)
            if job is not None:
                self._disarm_deadline(job)
        except _EvalTimeout as exc:
            # Landed just after the code finished: it still took that long.
            job[5] = True
            self._disarm_deadline(job)
            outcome = (False, exc)
        if job is not None and job[4] and not job[5]:
            self._absorb(job)
        ok, value = outcome
        if ok:
            return value
        if isinstance(value, _EvalTimeout):
            raise _EvalFailed("TimeoutError: eval took longer than %gs" % timeout,
                              "TimeoutError")
        raise _EvalFailed(_exc_line(value), type(value).__name__)

    def _absorb(self, job):
        try:
            for _ in range(10_000_000):
                pass
        except _EvalTimeout:
            job[5] = True

    def _arm_deadline(self, timeout):
        """Starts watching this thread's evaluation. Cheap, as a condition on a hot line runs it
        for every pass: no lock and no wake-up of the watchdog, which polls while evaluations
        come (it is woken once when they start again after a pause)."""
        if self._set_async_exc is None:
            try:
                import ctypes
                f = ctypes.pythonapi.PyThreadState_SetAsyncExc
                f.argtypes = [ctypes.c_ulong, ctypes.py_object]
                f.restype = ctypes.c_int
                self._set_async_exc = f
            except Exception:
                self._set_async_exc = False
        if self._wd_thread is None:
            self._wd_thread = qdb_threads.start_internal(self._watchdog, "qdb-timeout")
        ident = threading.get_ident()
        # [token, deadline, thread, fired, async exception sent, async exception consumed]
        job = [object(), time.monotonic() + timeout, ident, False, False, False]
        # Registered first, then the watchdog's state read: see _watchdog's end.
        self._wd_jobs[ident] = job
        if not self._wd_polling:
            self._wd_interval = max(0.005, min(0.25, timeout / 4.0))
            self._wd_polling = True
            self._wd_wake.set()
        return job

    def _disarm_deadline(self, job):
        # Under the lock: once it is released, the watchdog can no longer fire this job.
        with self._wd_lock:
            if self._wd_jobs.get(job[2]) is job:
                del self._wd_jobs[job[2]]
            if self.sig_timeout is job[0]:
                self.sig_timeout = None

    def _watchdog(self):
        """Fires the evaluations past their deadline: a signal to the main thread, an
        asynchronous exception to another. Polls every _wd_interval while evaluations come;
        sleeps until woken after a few idle polls."""
        self._internal_thread()
        while not self._wd_closed:
            self._wd_wake.wait(self._wd_interval if self._wd_polling else None)
            self._wd_wake.clear()
            with self._wd_lock:
                now = time.monotonic()
                for job in list(self._wd_jobs.values()):
                    if job[3] or job[1] > now:
                        continue
                    job[3] = True
                    if job[2] == self._main_ident:
                        self.sig_timeout = job[0]
                        self._signal_main()
                    elif self._set_async_exc:
                        job[4] = True
                        self._set_async_exc(job[2], _EvalTimeout)
                if self._wd_jobs:
                    self._wd_idle = 0
                    continue
                self._wd_idle += 1
                if self._wd_idle >= 4:
                    self._wd_polling = False
                    # An evaluation registered just before that (it read _wd_polling still
                    # true, so it did not wake this thread): keep polling for it.
                    if self._wd_jobs:
                        self._wd_polling = True

    def close(self):
        """The watchdog thread ends (a detach that leaves no trace)."""
        self._wd_closed = True
        self._wd_wake.set()

    def take_signal(self):
        """Called in the pause signal's handler: raises _EvalTimeout when the signal was the
        deadline of this thread's evaluation."""
        token = self.sig_timeout
        if token is not None:
            job = self._wd_jobs.get(threading.get_ident())
            self.sig_timeout = None
            if job is not None and job[0] is token and job[2] == threading.get_ident():
                raise _EvalTimeout()

    def complete(self, stop, text, frame=None):
        """Completions of `text` in a frame (the selected one), or in __main__ while running."""
        import rlcompleter
        if stop is not None:
            frame = frame or stop.frame
            ns = dict(frame.f_globals)
            try:
                ns.update(self.frame_locals(frame))
            except Exception:
                pass
        else:
            ns = dict(self._main_globals() or {})
        if "." not in text:
            comp = rlcompleter.Completer(ns)
            matches = comp.global_matches(text)
        else:
            expr, _, attr = text.rpartition(".")
            try:
                code = self.apply_policy(expr, "complete")
                value = self.with_deadline(eval, code, ns)
            except (_PolicyRefused, _EvalFailed):
                return []
            except SyntaxError:
                return []
            comp = rlcompleter.Completer({"__qdb_obj": value})
            matches = [expr + m[len("__qdb_obj"):]
                       for m in comp.attr_matches("__qdb_obj." + attr)]
        out = []
        for m in matches:
            if m not in out:
                out.append(m)
        return out
