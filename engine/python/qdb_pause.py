"""Stopping the whole program for the qdb bridge: a pause asked by a client (line events for every
thread, SIGUSR2 for the main one), and, while one thread is stopped, holding every other thread at
its next line (all threads stop together).

The Pauser owns the pause's flag, the signal's requests and the program's own handler, and the
hold (the stop that holds, its gate, the held threads). Standard library only.
"""

import signal
import sys
import threading
import time

import qdb_threads
from qdb_common import _PY312, PAUSE_SIGNAL, _Stop

_PAUSE_RETRY_S = 0.1  # how often a pause that stopped no thread yet is armed again
_PAUSE_RETRIES = 600  # for at most a minute


class Pauser(object):
    """Pause (a flag, line events turned on, a signal to the main thread), the signal handler
    that chains the program's own, and the holding of the other threads while one is stopped.
    Owns the pause's and the hold's state; a forked child keeps it (the signal handler the
    program holds points at it)."""

    def __init__(self, bridge):
        self._bridge = bridge
        # Signals.
        self._signal_requests = 0
        self._sig_retrace = False
        self._sig_detach = False
        self._sig_unhook = False
        self._pause_retrying = False
        self.unhooked = threading.Event()  # set once the main thread has given the signal back
        self._unhook_lock = threading.Lock()
        self._chained_handler = signal.SIG_DFL
        self._orig_signal = signal.signal
        self._orig_getsignal = signal.getsignal
        self._pause_flag = False
        # All threads stop together: while one thread is stopped, the others wait at their next
        # line on a gate that the stop opens when it ends (see _hold_others).
        self.forget_holds()

    def forget_holds(self):
        """No thread is paused, held or about to be (a new session: a forked child's)."""
        self._pause_flag = False
        self._signal_requests = 0
        self._sig_retrace = False
        self._sig_detach = False
        self._holding = None  # the _Stop that holds the other threads, or None
        self._gate = None  # a lock held while `_holding` is set
        self._held = {}  # ident -> _Stop (reason "held") of a thread waiting at the gate
        self._held_resume = {}  # ident -> the resume a held thread applies when it goes on
        self._entering_hold = set()  # idents between the decision to hold and the wait

    # ------------------------------------------------------------------ pausing and holding

    def _maybe_pause(self, frame):
        """A line event while a pause is asked for or a stop holds the program."""
        bridge = self._bridge
        while frame is not None and bridge.code.is_ignored(frame):
            frame = frame.f_back
        if frame is None:
            return
        if self._holding is not None:
            self._hold_here(frame)
            return
        if qdb_threads.starting_internal(threading.get_ident(), frame):
            return
        if self._claim_pause():
            bridge._stop_at(frame, "pause")

    def _claim_pause(self):
        with self._bridge._state_lock:
            if not self._pause_flag:
                return False
            self._pause_flag = False
        if self._holding is None:
            self._disarm_line_events()
        return True

    def _arm_line_events(self, signal_main=True):
        """Every thread of the program sees a line event soon, wherever it runs (to pause, or
        to wait while another thread is stopped): on 3.12+ by monitoring every line; on 3.9-3.11
        threads without a trace function get one (see qdb_threads); the main thread by signal.
        On 3.8 only threads that already have a trace function do."""
        bridge = self._bridge
        if _PY312:
            if not bridge.tracing._pausing_events:
                bridge.tracing._pausing_events = True
                bridge.tracing._mon_line_events(True)
        else:
            tracer = bridge._thread_tracer
            if tracer is not None and tracer.available:
                if tracer.set_trace(bridge.tracing._other_threads(), bridge.tracing._bp_global):
                    bridge._pause_traced = True
            for ident, frame in sys._current_frames().items():
                if ident in bridge._internal or ident == bridge._main_ident:
                    continue
                while frame is not None:
                    if not bridge.code.is_ignored(frame) and frame.f_trace is None:
                        frame.f_trace = bridge.tracing._bp_local
                    frame = frame.f_back
        if signal_main:
            self._signal_main()

    def _disarm_line_events(self):
        """Back to the events that breakpoints and the exception mode need."""
        bridge = self._bridge
        if _PY312 and bridge.tracing._pausing_events:
            bridge.tracing._pausing_events = False
            try:
                bridge.tracing._mon_line_events(False)
            except Exception:
                pass
        if bridge._pause_traced:
            bridge._pause_traced = False
            tracing = bridge.tracing
            tracing._retrace_others(tracing._bp_global if tracing._needs_line_tracing() else None)

    def _hold_others(self, stop):
        """A stop stops the whole program: every other thread waits at its next line of Python
        (one inside a call into native code, such as sleep, I/O or a lock, when it returns) until
        the stop ends. A program with one thread pays nothing."""
        bridge = self._bridge
        if stop.post_mortem:
            return False
        me = stop.ident
        if not any(t.ident != me and t.ident not in bridge._internal
                   for t in threading.enumerate()):
            return False
        gate = threading.Lock()
        gate.acquire()
        with bridge._state_lock:
            self._gate = gate
            self._holding = stop
        self._arm_line_events(signal_main=me != bridge._main_ident)
        return True

    def _release_others(self, stop):
        """The stop ends: the threads it holds go on (idempotent)."""
        with self._bridge._state_lock:
            if self._holding is not stop or stop is None:
                return
            self._holding = None
            gate, self._gate = self._gate, None
        if not self._pause_flag:
            self._disarm_line_events()
        gate.release()

    def _line_events_here(self, frame):
        """This thread sees a line event at its next line of the program's code (on 3.12+
        every line is one while pausing or holding)."""
        bridge = self._bridge
        if _PY312:
            return
        if sys.gettrace() is None:
            sys.settrace(bridge.tracing._bp_global)
        while frame is not None:
            if not bridge.code.is_ignored(frame) and frame.f_trace is None:
                frame.f_trace = bridge.tracing._bp_local
                frame.f_trace_lines = True
            frame = frame.f_back

    def _owns_bridge_lock(self):
        """Whether this thread holds one of the bridge's own locks."""
        bridge = self._bridge
        for lock in (bridge.channel.lock, bridge._state_lock, bridge.breakpoints.lock):
            owned = getattr(lock, "_is_owned", None)
            if owned is not None and owned():
                return True
        return False

    def _hold_here(self, frame):
        """Waits at `frame` while another thread's stop holds the program; returns whether it
        waited. The wait is on a plain lock (no Python code runs in a held thread), and a held
        thread told to step starts stepping here when the stop ends."""
        bridge = self._bridge
        ident = threading.get_ident()
        if ident in self._entering_hold:
            return False  # qdb's own code below, run by this thread (in a signal handler)
        with bridge._state_lock:
            holding, gate = self._holding, self._gate
            if (holding is None or gate is None or ident == holding.ident
                    or ident in bridge._internal or ident in bridge._busy or ident in self._held):
                return False
            self._entering_hold.add(ident)
        try:
            if qdb_threads.starting_internal(ident, frame):
                return False
            held = _Stop(ident, bridge._thread_info(ident)["name"], bridge.code.frames_from(frame),
                         "held")
            with bridge._state_lock:
                if self._gate is not gate:
                    return False  # the stop ended meanwhile
                self._held[ident] = held
        finally:
            self._entering_hold.discard(ident)
        resume = None
        try:
            while True:
                try:
                    gate.acquire()
                    gate.release()
                    break
                except KeyboardInterrupt:
                    continue
        finally:
            with bridge._state_lock:
                self._held.pop(ident, None)
                resume = self._held_resume.pop(ident, None)
        if resume is not None and bridge._active and held.frames:
            bridge._apply_resume(*resume)
        return True

    # ------------------------------------------------------------------ pause, signals

    def _signal_main(self):
        try:
            self._signal_requests += 1
            signal.pthread_kill(self._bridge._main_ident, PAUSE_SIGNAL)
        except (OSError, ValueError, AttributeError):
            self._signal_requests = max(0, self._signal_requests - 1)

    def _request_pause(self, id_):
        bridge = self._bridge
        with bridge._state_lock:
            bridge._pending_id = id_
            self._pause_flag = True
        self._arm_line_events()
        if not self._pause_retrying:
            self._pause_retrying = True
            qdb_threads.start_internal(self._pause_retry, "qdb-pause")

    def _pause_retry(self):
        """Arms the pause again until a thread stops. A signal can be lost: one that comes while
        the main thread runs the handler of the one before, just before it goes back to waiting
        in a system call (time.sleep), is only seen when that call returns; and a thread that was
        just leaving a stop when the pause came was not given a trace function."""
        bridge = self._bridge
        bridge._internal_thread()
        try:
            for _ in range(_PAUSE_RETRIES):
                time.sleep(_PAUSE_RETRY_S)
                if not self._pause_flag or not bridge._active:
                    return
                self._arm_line_events()
        finally:
            self._pause_retrying = False

    def _on_signal(self, signum, frame):
        bridge = self._bridge
        ours = self._signal_requests > 0
        if ours:
            # Signals sent while one is pending arrive as one: all of them are this one.
            self._signal_requests = 0
        bridge.evaluator.take_signal()
        if self._sig_detach:
            self._sig_detach = False
            sys.settrace(None)
            f = frame
            while f is not None:
                f.f_trace = None
                f = f.f_back
        if self._sig_unhook:
            with self._unhook_lock:  # no request is sent once the handler is the program's
                self._sig_unhook = False
                self.uninstall_signal_hooks()
                self.unhooked.set()
        if self._sig_retrace and bridge._active:
            self._sig_retrace = False
            if not _PY312:
                bridge.tracing._retrace_here(frame)
        if (self._pause_flag or self._holding is not None) and bridge._active:
            ident = threading.get_ident()
            if ident in bridge._busy:
                pass
            elif self._owns_bridge_lock():
                # The signal came in the middle of qdb's own code (a logpoint sending its
                # line, say): stopping here would keep that lock from the stopped thread. This
                # thread stops at its next line of the program's code instead.
                self._line_events_here(frame)
            else:
                self._maybe_pause(frame)
        if not ours:
            handler = self._chained_handler
            if callable(handler):
                handler(signum, frame)
            elif handler == signal.SIG_DFL and not bridge._active:
                pass

    def install_signal_hooks(self):
        self._orig_signal(PAUSE_SIGNAL, self._on_signal)
        pauser, bridge = self, self._bridge

        def qdb_signal(signalnum, handler):
            # The program installing its own handler for our signal: keep ours, chain theirs.
            if signalnum == PAUSE_SIGNAL and bridge._active:
                if not (callable(handler) or handler in (signal.SIG_DFL, signal.SIG_IGN)):
                    raise TypeError("signal handler must be signal.SIG_IGN, signal.SIG_DFL, "
                                    "or a callable object")
                old = pauser._chained_handler
                pauser._chained_handler = handler
                return old
            return pauser._orig_signal(signalnum, handler)

        def qdb_getsignal(signalnum):
            if signalnum == PAUSE_SIGNAL and bridge._active:
                return pauser._chained_handler
            return pauser._orig_getsignal(signalnum)

        qdb_signal._qdb_hook = qdb_getsignal._qdb_hook = True
        qdb_signal.__doc__ = signal.signal.__doc__
        qdb_getsignal.__doc__ = signal.getsignal.__doc__
        signal.signal = qdb_signal
        signal.getsignal = qdb_getsignal

    def uninstall_signal_hooks(self):
        """The pause signal's handler goes back to the program's (main thread only), and
        signal.signal and signal.getsignal to the real ones (where they are still qdb's)."""
        if getattr(signal.signal, "_qdb_hook", False):
            signal.signal = self._orig_signal
        if getattr(signal.getsignal, "_qdb_hook", False):
            signal.getsignal = self._orig_getsignal
        try:
            if self._orig_getsignal(PAUSE_SIGNAL) == self._on_signal:
                handler = self._chained_handler
                self._orig_signal(PAUSE_SIGNAL, handler if handler is not None else signal.SIG_DFL)
        except (ValueError, TypeError, OSError):
            pass

    def unhook_from_main(self, timeout):
        """From another thread: the main thread gives the pause signal's handler back (see
        uninstall_signal_hooks), waited for up to `timeout` seconds. The request is sent again
        every 100 ms: one that comes while the main thread runs this handler for an earlier
        signal, just before it goes back to waiting in a system call, is not seen until that
        call returns (and the program's next signal of its own would be taken for it)."""
        self._sig_unhook = True
        deadline = time.monotonic() + timeout
        while True:
            with self._unhook_lock:
                if self.unhooked.is_set():
                    return True
                self._signal_main()
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            if self.unhooked.wait(min(_PAUSE_RETRY_S, left)):
                return True
