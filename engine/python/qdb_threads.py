"""The bridge's threads, and setting the trace function of another thread on Python 3.9 to 3.11.

``sys.settrace`` only sets the calling thread's trace function, so a breakpoint set while other
threads run would never reach them there (3.12+ has sys.monitoring and
``threading.settrace_all_threads``). CPython 3.9-3.11 export ``_PyEval_SetTrace(tstate, func,
arg)``, which does for any thread state what ``sys.settrace`` does for the current one. The C
function ``sys.settrace`` installs (its trampoline) and the place of a thread's id in its thread
state are found at run time, by setting a known trace object on this thread and looking for it
and for this thread's id; if anything is not exactly as expected, nothing is ever written and
``available`` is False (the bridge then works as before, on new threads only).

Standard library only (ctypes), like the rest of the bridge.
"""

import sys
import threading

_WORDS = 96  # how far into a thread state to look, in pointer-sized words


def start_internal(target, name):
    """Starts one of the bridge's own threads, marked before it runs: until its target calls
    the bridge's _internal_thread, it runs threading's start-up code, which qdb must never stop
    or hold."""
    thread = threading.Thread(target=target, name=name, daemon=True)
    thread._qdb_internal = True
    thread.start()
    return thread


def starting_internal(ident, frame):
    """Whether the thread running `frame` is one of the bridge's own that may not have
    registered itself yet: known to threading as one, or (before threading records it) started
    from a Thread object marked as one."""
    thread = threading._active.get(ident)
    if thread is None:
        while frame.f_back is not None:
            frame = frame.f_back
        try:
            thread = frame.f_locals.get("self")
        except Exception:
            return False
    return getattr(thread, "_qdb_internal", False) is True


class ThreadTracer(object):
    """Sets trace functions on other threads of this interpreter (3.9-3.11)."""

    def __init__(self):
        self.available = False
        self._why = "not tried"
        try:
            self._setup()
        except Exception as exc:  # ctypes missing, symbols missing, layout not recognised
            self.available = False
            self._why = "%s: %s" % (type(exc).__name__, exc)

    def _setup(self):
        if not ((3, 9) <= sys.version_info[:2] <= (3, 11)):
            self._why = "only for Python 3.9 to 3.11"
            return
        import ctypes
        api = ctypes.pythonapi
        self._ctypes = ctypes
        get = api.PyThreadState_Get
        get.restype = ctypes.c_void_p
        get.argtypes = []
        self._get = get
        interp_of = api.PyThreadState_GetInterpreter
        interp_of.restype = ctypes.c_void_p
        interp_of.argtypes = [ctypes.c_void_p]
        head = api.PyInterpreterState_ThreadHead
        head.restype = ctypes.c_void_p
        head.argtypes = [ctypes.c_void_p]
        nxt = api.PyThreadState_Next
        nxt.restype = ctypes.c_void_p
        nxt.argtypes = [ctypes.c_void_p]
        # Two prototypes of the same function: one passes a trace object, one passes NULL.
        proto = ctypes.PYFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.py_object)
        clear = ctypes.PYFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p)
        self._set_trace = proto(("_PyEval_SetTrace", api))
        self._clear_trace = clear(("_PyEval_SetTrace", api))
        self._interp_of, self._head, self._next = interp_of, head, nxt

        ts = get()
        words = (ctypes.c_void_p * _WORDS).from_address(ts)

        def marker(frame, event, arg):
            return None

        previous = sys.gettrace()
        sys.settrace(marker)
        try:
            slots = [i for i in range(_WORDS) if words[i] == id(marker)]
            if len(slots) != 1 or slots[0] < 3:
                self._why = "the trace object was not found once in the thread state"
                return
            k = slots[0]
            trampoline = words[k - 2]
            profile = sys.getprofile()
            if not trampoline or (words[k - 1] or 0) != (id(profile) if profile else 0):
                self._why = "the trace function slots are not where expected"
                return
        finally:
            sys.settrace(previous)
        ident = threading.get_ident()
        ids = [i for i in range(_WORDS) if (words[i] or 0) == ident]
        if len(ids) != 1:
            self._why = "the thread id was not found once in the thread state"
            return
        self._trampoline = trampoline
        self._ident_slot = ids[0]
        self.available = True
        self._why = ""

    @property
    def why_not(self):
        """Why `available` is False ("" when it is True)."""
        return self._why

    def _states(self):
        """(thread id, thread state) of every thread of this interpreter."""
        ctypes = self._ctypes
        out = []
        t = self._head(self._interp_of(self._get()))
        while t:
            words = (ctypes.c_void_p * _WORDS).from_address(t)
            out.append((words[self._ident_slot] or 0, t))
            t = self._next(t)
        return out

    def set_trace(self, idents, func):
        """Gives each thread in `idents` the trace function `func` (None removes it), as if it
        had called sys.settrace(func) itself. Returns the idents it was set for."""
        if not self.available:
            return set()
        done = set()
        for ident, ts in self._states():
            if ident in idents:
                if func is None:
                    self._clear_trace(ts, None, None)
                else:
                    self._set_trace(ts, self._trampoline, func)
                done.add(ident)
        return done
