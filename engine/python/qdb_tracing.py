"""Tracing for the qdb bridge: the backends that make breakpoints, steps and exception stops fire
(a filtered sys.settrace on 3.8-3.11, sys.monitoring on 3.12+, a per-thread sys.settrace to step
with bdb's rules), and the places that decide whether a line, a return or an exception stops.

Tracing owns each thread's stepping state, each code object's decision and the sys.monitoring
tool; the stop itself is the Bridge's (qdb_stops), the breakpoints the BreakpointTable's.
Standard library only.
"""

import sys
import threading

from qdb_common import _GEN_FLAGS, _PY312
from qdb_eval import _CondError
from qdb_monitoring import MonitoringMixin


class _Stepper(object):
    """bdb's stepping state, for one thread."""
    __slots__ = ("stopframe", "returnframe", "stoplineno", "entry", "out")

    def __init__(self, stopframe=None, returnframe=None, stoplineno=0, entry=False, out=None):
        self.stopframe = stopframe
        self.returnframe = returnframe
        self.stoplineno = stoplineno
        self.entry = entry
        # A step out (`return` with `caller`): True until returnframe returns, then the caller,
        # which stops at its first instruction (an "opcode" event), still on the call's line.
        self.out = out


class Tracing(MonitoringMixin):
    """The tracing backends: the trace functions and sys.monitoring that decide where a thread
    stops (breakpoints, steps, exceptions), logpoints and snapshots. Owns the per-thread
    stepping state and each code object's decision; the stop itself is the Bridge's."""

    def __init__(self, bridge):
        self._bridge = bridge
        self._steppers = {}  # ident -> _Stepper
        self._stepping = set()  # idents whose stepping uses sys.settrace
        self._trace_cache = {}
        self._bp_global = self._make_bp_global()
        self._mon_tool = None
        self._mon_codes = set()
        self._mon_lines = {}
        self._pausing_events = False
        # A compiled breakpoint's stop, made at its line by a trace function set for the frame
        # by the hook: ident -> (frame, breakpoint, condition error, the frame's trace before).
        self._deferred = {}

    # ------------------------------------------------------------------ tracing backends

    def _rearm(self):
        """The breakpoints changed: each code object's decision is made again, and the backend
        armed for them."""
        self._trace_cache.clear()
        self._update_tracing()

    def _needs_line_tracing(self):
        bridge = self._bridge
        return bridge.breakpoints.needs_tracing() or bridge._break_on == "raised"

    def _update_tracing(self):
        """Arms the backend for the current breakpoints and exception mode."""
        bridge = self._bridge
        if not bridge._active:
            return
        if _PY312:
            self._update_monitoring()
            return
        want = self._bp_global if self._needs_line_tracing() else None
        threading.settrace(want)
        self._retrace_others(want)
        me = threading.get_ident()
        if me == bridge._main_ident or me in bridge._busy:
            if me not in self._stepping and me not in self._steppers:
                sys.settrace(want)
        if me != bridge._main_ident:
            # Only the main thread can be asked to trace itself: by signal.
            bridge.pauser._sig_retrace = True
            bridge.pauser._signal_main()

    def _retrace_others(self, want):
        """3.9-3.11: the threads that already run (not the main one, which is asked by
        signal; not qdb's own; not one stepping or stopped, which manage their own tracing)
        get the breakpoint tracer, and their frames the local tracer of their code."""
        bridge = self._bridge
        tracer = bridge._thread_tracer
        if tracer is None or not tracer.available:
            return
        others = self._other_threads()
        if not others:
            return
        done = tracer.set_trace(others, want)
        frames = sys._current_frames()
        for ident in done:
            frame = frames.get(ident)
            while frame is not None:
                if not bridge.code.is_ignored(frame):
                    frame.f_trace = self._bp_local_for(frame.f_code) if want else None
                frame = frame.f_back

    def _other_threads(self):
        """The program's threads other than this one and the main one, not qdb's own and not
        one that steps or is stopped (those manage their own tracing)."""
        bridge = self._bridge
        skip = {threading.get_ident(), bridge._main_ident}
        skip.update(bridge._internal, self._stepping, self._steppers, bridge._busy)
        return set(t.ident for t in threading.enumerate() if t.ident not in skip)

    def _retrace_here(self, frame):
        """On 3.8-3.11: (re)install the breakpoint tracer in this thread and on its frames."""
        bridge = self._bridge
        if threading.get_ident() in self._steppers:
            return
        want = self._bp_global if (bridge._active and self._needs_line_tracing()) else None
        sys.settrace(want)
        while frame is not None:
            if not bridge.code.is_ignored(frame):
                frame.f_trace = self._bp_local_for(frame.f_code) if want else None
            frame = frame.f_back

    def _bp_local_for(self, code):
        bridge = self._bridge
        table = bridge.breakpoints
        if bridge._break_on == "raised" or table.lines_for(code) or (
                table.sites.sites and table.sites.waiting_in(code)):
            return self._bp_local
        return None

    def _make_bp_global(self):
        """The call-event tracer of 3.8-3.11: one dict lookup per call once a code object has
        been seen; a local tracer only for code objects that hold a breakpoint."""
        cache = self._trace_cache
        decide = self._decide_trace

        def qdb_global(frame, event, arg):
            try:
                return cache[frame.f_code]
            except KeyError:
                return decide(frame)

        return qdb_global

    def _decide_trace(self, frame):
        bridge = self._bridge
        code = frame.f_code
        r = None
        if bridge._detached:
            # Detached: this thread's trace function goes (it got it while qdb was there).
            sys.settrace(None)
            return None
        if bridge._active and not bridge.code.is_ignored(frame):
            r = self._bp_local_for(code)
            if (r is not None and bridge._break_on == "raised"
                    and not bridge.breakpoints.lines_for(code)):
                r = self._exc_local
        self._trace_cache[code] = r
        if r is self._exc_local:
            frame.f_trace_lines = False
        return r

    def _exc_local(self, frame, event, arg):
        """Local tracer of frames without breakpoints when stopping on raised exceptions."""
        bridge = self._bridge
        if event == "exception" and bridge._active:
            self._on_raise_event(frame, arg)
            return frame.f_trace
        if event == "line":
            if bridge.breakpoints.sites.is_hook_line(frame.f_code, frame.f_lineno):
                return self._exc_local
            if bridge.pauser._pause_flag or bridge.pauser._holding is not None:
                bridge.pauser._maybe_pause(frame)
                return frame.f_trace
            frame.f_trace_lines = False
        return self._exc_local

    def _bp_local(self, frame, event, arg):
        bridge = self._bridge
        if not bridge._active:
            return None
        if event == "line":
            table = bridge.breakpoints
            code = frame.f_code
            if table.sites.is_hook_line(code, frame.f_lineno):
                return self._bp_local
            if table.sites.makers.get(code) and table.sites.bind(frame):
                # A waiting breakpoint's function was just defined: compiled into it now, and
                # this thread's frames traced no more where nothing is traced now (a frame
                # keeping a trace function would keep its line number from that moment).
                table.rearm()
                self._retrace_here(frame)
                if frame.f_trace is None:
                    return None
            lines = table.lines_for(code)
            if lines and frame.f_lineno in lines:
                self._on_bp_line(frame)
                return frame.f_trace
            if bridge.pauser._pause_flag or bridge.pauser._holding is not None:
                bridge.pauser._maybe_pause(frame)
                return frame.f_trace
        elif event == "exception" and bridge._break_on == "raised":
            self._on_raise_event(frame, arg)
            return frame.f_trace
        elif event == "return":
            table = bridge.breakpoints
            if table.sites.makers.get(frame.f_code) and table.sites.bind(frame):
                # Its last statement defined a waiting breakpoint's function.
                table.rearm()
        return self._bp_local

    # --- stepping (sys.settrace on the stepping thread, bdb's rules)

    def _stop_here(self, st, frame, line=None):
        if self._bridge.code.is_ignored(frame):
            return False
        if frame is st.stopframe:
            if st.stoplineno == -1:
                return False
            return (frame.f_lineno if line is None else line) >= st.stoplineno
        return not st.stopframe

    def _step_global(self, frame, event, arg):
        bridge = self._bridge
        st = self._steppers.get(threading.get_ident())
        if st is None or not bridge._active:
            return None if _PY312 else self._bp_global(frame, event, arg)
        if bridge.code.is_ignored(frame):
            return None
        if self._stop_here(st, frame) or bridge.breakpoints.lines_for(frame.f_code):
            return self._step_local
        if bridge._break_on == "raised" and not _PY312:
            frame.f_trace_lines = False
            return self._exc_local
        return None

    def _after_stepping(self, frame):
        """The f_trace a frame keeps once its thread no longer steps."""
        if _PY312 or not self._bridge._active or not self._needs_line_tracing():
            return None
        return self._bp_local_for(frame.f_code)

    def _step_local(self, frame, event, arg):
        bridge = self._bridge
        ident = threading.get_ident()
        st = self._steppers.get(ident)
        if st is None or not bridge._active:
            return self._after_stepping(frame)
        if ident in bridge._busy:
            return self._step_local
        if event == "line":
            if bridge.breakpoints.sites.is_hook_line(frame.f_code, frame.f_lineno):
                return self._step_local
            if self._stop_here(st, frame):
                bridge._stop_at(frame, "entry" if st.entry else "step")
                return frame.f_trace
            lines = bridge.breakpoints.lines_for(frame.f_code)
            if lines and frame.f_lineno in lines:
                self._on_bp_line(frame)
                return frame.f_trace
            if bridge.pauser._pause_flag or bridge.pauser._holding is not None:
                bridge.pauser._maybe_pause(frame)
                return frame.f_trace
        elif event == "opcode":
            if frame is st.out:
                frame.f_trace_opcodes = False
                st.out = None
                bridge._stop_at(frame, "step")
                return frame.f_trace
        elif event == "return":
            if st.out is True and frame is st.returnframe:
                self._step_out_of(st, frame)
                return self._step_local
            if self._stop_here(st, frame) or frame is st.returnframe:
                if st.stopframe and frame.f_code.co_flags & _GEN_FLAGS:
                    return self._step_local
                bridge._stop_at(frame, "return", return_value=arg)
                st2 = self._steppers.get(ident)
                if st2 is not None:
                    if st2.stopframe is frame and st2.stoplineno != -1:
                        st2.stopframe, st2.returnframe, st2.stoplineno = None, None, 0
                    if st2.stoplineno != -1:
                        self._set_caller_trace(frame)
                return frame.f_trace
        elif event == "exception":
            if bridge._last_exc_stop == (frame, arg[1]):
                return self._step_local
            if self._stop_here(st, frame):
                if not (frame.f_code.co_flags & _GEN_FLAGS and arg[0] is StopIteration
                        and arg[2] is None):
                    bridge._stop_at(frame, "exception", exc_info=arg)
                    return frame.f_trace
            elif (st.stopframe and frame is not st.stopframe
                  and st.stopframe.f_code.co_flags & _GEN_FLAGS
                  and arg[0] in (StopIteration, GeneratorExit)):
                bridge._stop_at(frame, "exception", exc_info=arg)
                return frame.f_trace
            if bridge._break_on == "raised" and not _PY312:
                self._on_raise_event(frame, arg)
                return frame.f_trace
        return self._step_local

    def _step_out_of(self, st, frame):
        """A step out leaves `frame`: its caller stops at its next instruction, mid-line. When
        the caller is not the user's (skipped, or qdb's), the next line that is stops, as
        after pdb's return."""
        caller = frame.f_back
        if caller is None or self._bridge.code.is_ignored(caller):
            st.stopframe, st.returnframe, st.stoplineno, st.out = None, None, 0, None
            self._set_caller_trace(frame)
            return
        st.stopframe, st.returnframe, st.stoplineno, st.out = caller, None, 0, caller
        caller.f_trace = self._step_local
        caller.f_trace_opcodes = True
        if _PY312:
            # 3.12+ instruments a running frame for opcode events only when tracing is set.
            sys.settrace(sys.gettrace())

    def _set_caller_trace(self, frame):
        caller = frame.f_back
        while caller is not None and self._bridge.code.is_ignored(caller):
            caller = caller.f_back
        if caller is not None and not caller.f_trace:
            caller.f_trace = self._step_local

    # ------------------------------------------------------------------ stop sources

    def _on_raise_event(self, frame, arg):
        exc_type, exc, tb = arg
        # Only where it is raised, not in every frame it passes through.
        if tb is not None and tb.tb_next is not None:
            return
        self._on_raise(frame, exc_type, exc, tb)

    def _on_raise(self, frame, exc_type, exc, tb):
        bridge = self._bridge
        if exc_type in (StopIteration, StopAsyncIteration, GeneratorExit):
            return
        if frame.f_code.co_filename.startswith("<frozen ") or bridge.code.is_ignored(frame):
            return
        bridge._stop_at(frame, "exception", exc_info=(exc_type, exc, tb))

    def _on_bp_line(self, frame):
        """A traced line with a breakpoint runs: apply bdb's effective() rules, maybe stop."""
        bridge = self._bridge
        chosen, cond_error = self._effective(
            frame, bridge.code.canon(frame.f_code.co_filename), frame.f_lineno, None)
        if chosen is not None:
            bridge._stop_at(frame, "breakpoint", bp=chosen, cond_error=cond_error)

    def _effective(self, frame, file, line, passed, counted=False):
        """bdb's effective() rules for the breakpoints of `file`:`line` in `frame`: counts,
        conditions (not `passed`'s: its compiled condition held), ignore counts, hit
        conditions (not `passed`'s when `counted`: its compiled code counted the pass and its
        hit condition held); logpoints and snapshots said. The breakpoint to stop at and the
        condition's error, or (None, None)."""
        bridge = self._bridge
        by_line = bridge.breakpoints.by_file.get(file)
        bps = list(by_line.get(line, ())) if by_line else []
        chosen = None
        cond_error = None
        for b in bps:
            if not b.enabled:
                continue
            # Counted and tested by its compiled code, or by the rules here.
            fires = True if counted and b is passed else self._rules(b, frame, passed)
            if fires is None:
                continue
            if fires is not True:
                chosen, cond_error = b, fires
                break
            if b.log is not None:
                bridge.hits.log(b, frame)
                continue
            if b.snapshot:
                bridge.hits.snapshot(b, frame, line)
                continue
            chosen = b
            break
        if chosen is not None and chosen.temp and cond_error is None:
            bridge.breakpoints.delete(chosen)
            bridge.breakpoints.removed.append(chosen.id)
            bridge.breakpoints.changed()
        return chosen, cond_error

    def _rules(self, b, frame, passed):
        """One breakpoint's pass: counted; its condition (not when `passed`: it held in
        compiled code), ignore count and hit condition. True when it fires, None when not, or
        the condition's error (it fires, saying why)."""
        b.hits += 1
        if b.cond and b is not passed:
            try:
                value = self._bridge.evaluator.condition(b, frame)
            except _CondError as err:
                return err
            if not value:
                return None
        if b.ignore > 0:
            b.ignore -= 1
            return None
        # Hit conditions count the hits that passed the condition and the ignore count.
        b.cond_hits += 1
        if b.hit_test is not None and not b.hit_test(b.cond_hits):
            return None
        return True

    # --- compiled breakpoints (qdb_sites)

    def _on_compiled_hit(self, hook_id, frame, raised):
        """A compiled breakpoint's hook runs in `frame` (on its function's first line, just
        before the breakpoint's line). The rules of a hit apply as for a traced one; a stop is
        made at the breakpoint's line itself, by a trace function for this frame that the
        line's first event reaches (so f_lineno is that line, and `jump` can move it)."""
        bridge = self._bridge
        try:
            if not bridge._active:
                return
            ident = threading.get_ident()
            if ident in bridge._internal or ident in bridge._busy:
                return
            site = bridge.breakpoints.sites.by_hook.get(hook_id)
            if site is None:
                return
            file, line = site.key
            st = self._steppers.get(ident)
            if st is not None and self._stop_here(st, frame, line):
                return  # the step stops at this line: it is not a hit (bdb's rule)
            inline = site.inline
            passed = inline[0] if inline is not None and not raised else None
            # Its compiled code counted this pass and tested the hit condition already.
            counted = passed is not None and inline[2] is not None
            chosen, cond_error = self._effective(frame, file, line, passed, counted)
            if chosen is None:
                return
            self._deferred[ident] = (frame, chosen, cond_error, frame.f_trace)
            frame.f_trace = self._deferred_local
            frame.f_trace_lines = True
            if sys.gettrace() is None:
                # The frame's line events need this thread's tracing on, until the stop.
                sys.settrace(self._no_new_frames)
        except Exception as exc:  # never into the program
            try:
                bridge._internal_error(exc, "breakpoint", None)
            except Exception:
                pass

    def _no_new_frames(self, frame, event, arg):
        return None

    def _deferred_local(self, frame, event, arg):
        ident = threading.get_ident()
        entry = self._deferred.get(ident)
        if entry is None or entry[0] is not frame:
            return None
        if event != "line" or self._bridge.breakpoints.sites.is_hook_line(
                frame.f_code, frame.f_lineno):
            previous = entry[3]
            return previous(frame, event, arg) if previous is not None and event != "line" \
                else self._deferred_local
        del self._deferred[ident]
        _, bp, cond_error, previous = entry
        # f_trace stays this function during the stop: 3.8-3.11 let `jump` set f_lineno only
        # in a frame that has one. The resume sets the frame's trace function for what follows.
        resumed = self._bridge._stop_at(frame, "breakpoint", bp=bp, cond_error=cond_error)
        if frame.f_trace is self._deferred_local:
            frame.f_trace = previous
        if resumed is None:
            # No stop (detached meanwhile, or the thread is qdb's): tracing as it was.
            if _PY312 and ident not in self._steppers:
                sys.settrace(None)
            elif not _PY312:
                self._retrace_here(frame)
        return frame.f_trace
