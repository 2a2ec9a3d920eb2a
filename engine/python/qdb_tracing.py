"""Tracing for the qdb bridge: the backends that make breakpoints, steps and exception stops fire
(a filtered sys.settrace on 3.8-3.11, sys.monitoring on 3.12+, a per-thread sys.settrace to step
with bdb's rules), and the places that decide whether a line, a return or an exception stops.

A mixin of the Bridge (qdb.py), which holds the state it works on. Standard library only.
"""

import sys
import threading
import time
from types import ModuleType as _ModuleType

from qdb_common import _BRIDGE_FILES, _GEN_FLAGS, _PY312
from qdb_eval import _CondError, _EvalFailed, _PolicyRefused
from qdb_repr import _exc_line


# Snapshot bounds (documented in protocol/README.md, "Snapshots").
SNAPSHOT_RATE = 10  # snapshots a second, per breakpoint
SNAPSHOT_DEPTH = 50  # frames
SNAPSHOT_LOCAL_FRAMES = 3  # the newest frames whose locals are taken
SNAPSHOT_NAMES = 100  # locals per frame
SNAPSHOT_VALUE_CHARS = 500  # characters of one value's repr
SNAPSHOT_BYTES = 64 * 1024  # of all values together


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


class TracingMixin(object):
    """The Bridge's tracing backends and stop decisions."""

    def _init_tracing(self):
        """Stepping, the trace functions and sys.monitoring, and the stop that holds the others."""
        # Tracing.
        self._steppers = {}  # ident -> _Stepper
        self._stepping = set()  # idents whose stepping uses sys.settrace
        self._busy = set()  # idents currently interacting
        self._interact_lock = threading.Lock()
        self._pause_flag = False
        self._pending_id = None
        self._stop = None
        self._trace_cache = {}
        self._bp_global = self._make_bp_global()
        self._mon_tool = None
        self._mon_codes = set()
        self._mon_lines = {}
        self._pausing_events = False
        # All threads stop together: while one thread is stopped, the others wait at their next
        # line on a gate that the stop opens when it ends (see _hold_others).
        self._holding = None  # the _Stop that holds the other threads, or None
        self._debugging = {}  # ident -> depth of `debug CODE` it runs (pdb's recursive debugger)
        self._gate = None  # a lock held while `_holding` is set
        self._held = {}  # ident -> _Stop (reason "held") of a thread waiting at the gate
        self._held_resume = {}  # ident -> the resume a held thread applies when it goes on
        self._entering_hold = set()  # idents between the decision to hold and the wait


    # ------------------------------------------------------------------ tracing backends

    def _rearm(self):
        """The breakpoints changed: each code object's decision is made again, and the backend
        armed for them."""
        self._trace_cache.clear()
        self._update_tracing()

    def _needs_line_tracing(self):
        return bool(self.breakpoints.bps) or self._break_on == "raised"

    def _update_tracing(self):
        """Arms the backend for the current breakpoints and exception mode."""
        if not self._active:
            return
        if _PY312:
            self._update_monitoring()
            return
        want = self._bp_global if self._needs_line_tracing() else None
        threading.settrace(want)
        self._retrace_others(want)
        me = threading.get_ident()
        if me == self._main_ident or me in self._busy:
            if me not in self._stepping and me not in self._steppers:
                sys.settrace(want)
        if me != self._main_ident:
            # Only the main thread can be asked to trace itself: by signal.
            self._sig_retrace = True
            self._signal_main()

    def _retrace_others(self, want):
        """3.9-3.11: the threads that already run (not the main one, which is asked by
        signal; not qdb's own; not one stepping or stopped, which manage their own tracing)
        get the breakpoint tracer, and their frames the local tracer of their code."""
        tracer = self._thread_tracer
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
                if not self.code.is_ignored(frame):
                    frame.f_trace = self._bp_local_for(frame.f_code) if want else None
                frame = frame.f_back

    def _other_threads(self):
        """The program's threads other than this one and the main one, not qdb's own and not
        one that steps or is stopped (those manage their own tracing)."""
        skip = {threading.get_ident(), self._main_ident}
        skip.update(self._internal, self._stepping, self._steppers, self._busy)
        return set(t.ident for t in threading.enumerate() if t.ident not in skip)

    def _retrace_here(self, frame):
        """On 3.8-3.11: (re)install the breakpoint tracer in this thread and on its frames."""
        if threading.get_ident() in self._steppers:
            return
        want = self._bp_global if (self._active and self._needs_line_tracing()) else None
        sys.settrace(want)
        while frame is not None:
            if not self.code.is_ignored(frame):
                frame.f_trace = self._bp_local_for(frame.f_code) if want else None
            frame = frame.f_back

    def _bp_local_for(self, code):
        if self._break_on == "raised" or self.breakpoints.lines_for(code):
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
        code = frame.f_code
        r = None
        if self._active and not self.code.is_ignored(frame):
            r = self._bp_local_for(code)
            if r is not None and self._break_on == "raised" and not self.breakpoints.lines_for(code):
                r = self._exc_local
        self._trace_cache[code] = r
        if r is self._exc_local:
            frame.f_trace_lines = False
        return r

    def _exc_local(self, frame, event, arg):
        """Local tracer of frames without breakpoints when stopping on raised exceptions."""
        if event == "exception" and self._active:
            self._on_raise_event(frame, arg)
            return frame.f_trace
        if event == "line":
            if self._pause_flag or self._holding is not None:
                self._maybe_pause(frame)
                return frame.f_trace
            frame.f_trace_lines = False
        return self._exc_local

    def _bp_local(self, frame, event, arg):
        if not self._active:
            return None
        if event == "line":
            lines = self.breakpoints.lines_for(frame.f_code)
            if lines and frame.f_lineno in lines:
                self._on_bp_line(frame)
                return frame.f_trace
            if self._pause_flag or self._holding is not None:
                self._maybe_pause(frame)
                return frame.f_trace
        elif event == "exception" and self._break_on == "raised":
            self._on_raise_event(frame, arg)
            return frame.f_trace
        return self._bp_local

    # --- stepping (sys.settrace on the stepping thread, bdb's rules)

    def _stop_here(self, st, frame):
        if self.code.is_ignored(frame):
            return False
        if frame is st.stopframe:
            if st.stoplineno == -1:
                return False
            return frame.f_lineno >= st.stoplineno
        return not st.stopframe

    def _step_global(self, frame, event, arg):
        st = self._steppers.get(threading.get_ident())
        if st is None or not self._active:
            return None if _PY312 else self._bp_global(frame, event, arg)
        if self.code.is_ignored(frame):
            return None
        if self._stop_here(st, frame) or self.breakpoints.lines_for(frame.f_code):
            return self._step_local
        if self._break_on == "raised" and not _PY312:
            frame.f_trace_lines = False
            return self._exc_local
        return None

    def _after_stepping(self, frame):
        """The f_trace a frame keeps once its thread no longer steps."""
        if _PY312 or not self._active or not self._needs_line_tracing():
            return None
        return self._bp_local_for(frame.f_code)

    def _step_local(self, frame, event, arg):
        ident = threading.get_ident()
        st = self._steppers.get(ident)
        if st is None or not self._active:
            return self._after_stepping(frame)
        if ident in self._busy:
            return self._step_local
        if event == "line":
            if self._stop_here(st, frame):
                self._stop_at(frame, "entry" if st.entry else "step")
                return frame.f_trace
            lines = self.breakpoints.lines_for(frame.f_code)
            if lines and frame.f_lineno in lines:
                self._on_bp_line(frame)
                return frame.f_trace
            if self._pause_flag or self._holding is not None:
                self._maybe_pause(frame)
                return frame.f_trace
        elif event == "opcode":
            if frame is st.out:
                frame.f_trace_opcodes = False
                st.out = None
                self._stop_at(frame, "step")
                return frame.f_trace
        elif event == "return":
            if st.out is True and frame is st.returnframe:
                self._step_out_of(st, frame)
                return self._step_local
            if self._stop_here(st, frame) or frame is st.returnframe:
                if st.stopframe and frame.f_code.co_flags & _GEN_FLAGS:
                    return self._step_local
                self._stop_at(frame, "return", return_value=arg)
                st2 = self._steppers.get(ident)
                if st2 is not None:
                    if st2.stopframe is frame and st2.stoplineno != -1:
                        st2.stopframe, st2.returnframe, st2.stoplineno = None, None, 0
                    if st2.stoplineno != -1:
                        self._set_caller_trace(frame)
                return frame.f_trace
        elif event == "exception":
            if self._last_exc_stop == (frame, arg[1]):
                return self._step_local
            if self._stop_here(st, frame):
                if not (frame.f_code.co_flags & _GEN_FLAGS and arg[0] is StopIteration
                        and arg[2] is None):
                    self._stop_at(frame, "exception", exc_info=arg)
                    return frame.f_trace
            elif (st.stopframe and frame is not st.stopframe
                  and st.stopframe.f_code.co_flags & _GEN_FLAGS
                  and arg[0] in (StopIteration, GeneratorExit)):
                self._stop_at(frame, "exception", exc_info=arg)
                return frame.f_trace
            if self._break_on == "raised" and not _PY312:
                self._on_raise_event(frame, arg)
                return frame.f_trace
        return self._step_local

    def _step_out_of(self, st, frame):
        """A step out leaves `frame`: its caller stops at its next instruction, mid-line. When
        the caller is not the user's (skipped, or qdb's), the next line that is stops, as
        after pdb's return."""
        caller = frame.f_back
        if caller is None or self.code.is_ignored(caller):
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
        while caller is not None and self.code.is_ignored(caller):
            caller = caller.f_back
        if caller is not None and not caller.f_trace:
            caller.f_trace = self._step_local

    # --- sys.monitoring (3.12+)

    def _mon(self):
        return sys.monitoring

    def _ensure_tool(self):
        if self._mon_tool is not None:
            return self._mon_tool
        mon = sys.monitoring
        for tool in [mon.DEBUGGER_ID] + [i for i in range(6) if i != mon.DEBUGGER_ID]:
            if mon.get_tool(tool) is None:
                mon.use_tool_id(tool, "qdb")
                self._mon_tool = tool
                break
        else:
            return None
        E = mon.events
        mon.register_callback(self._mon_tool, E.PY_START, self._mon_start)
        mon.register_callback(self._mon_tool, E.PY_RESUME, self._mon_start)
        mon.register_callback(self._mon_tool, E.LINE, self._mon_line)
        mon.register_callback(self._mon_tool, E.RAISE, self._mon_raise)
        return self._mon_tool

    def _update_monitoring(self):
        mon = sys.monitoring
        E = mon.events
        tool = self._ensure_tool()
        if tool is None:
            return
        events = 0
        if self.breakpoints.bps:
            events |= E.PY_START | E.PY_RESUME
        if self._break_on == "raised":
            events |= E.RAISE
        if self._pausing_events:
            events |= E.LINE
        # Code objects armed before: re-arm or disarm for the current breakpoints.
        self._mon_lines.clear()
        for code in list(self._mon_codes):
            lines = self.breakpoints.lines_for(code)
            if lines:
                self._mon_lines[code] = lines
                mon.set_local_events(tool, code, E.LINE)
            else:
                mon.set_local_events(tool, code, 0)
                self._mon_codes.discard(code)
        # Code already running (PY_START has passed for it): arm it now.
        if self.breakpoints.bps:
            for ident, frame in sys._current_frames().items():
                if ident in self._internal:
                    continue
                while frame is not None:
                    self._mon_arm(frame.f_code)
                    frame = frame.f_back
        mon.set_events(tool, events)
        mon.restart_events()

    def _mon_line_events(self, on):
        """3.12+: every line of every thread is an event (on), or only the lines of code that
        holds a breakpoint (off). Only the global LINE event changes: cheaper than
        _update_monitoring at every stop of a program with threads."""
        mon = sys.monitoring
        tool = self._mon_tool
        if tool is None:
            return self._update_monitoring()
        events = mon.get_events(tool)
        if on:
            mon.set_events(tool, events | mon.events.LINE)
            # Lines that said DISABLE (no breakpoint, no pause) report again.
            mon.restart_events()
        else:
            mon.set_events(tool, events & ~mon.events.LINE)

    def _mon_arm(self, code):
        if code in self._mon_lines:
            return True
        lines = self.breakpoints.lines_for(code)
        if not lines:
            return False
        self._mon_lines[code] = lines
        self._mon_codes.add(code)
        sys.monitoring.set_local_events(self._mon_tool, code, sys.monitoring.events.LINE)
        return True

    def _mon_start(self, code, offset):
        if self._active:
            self._mon_arm(code)
        return sys.monitoring.DISABLE

    def _mon_line(self, code, line):
        lines = self._mon_lines.get(code)
        if lines is None or line not in lines:
            if self._pause_flag or self._holding is not None:
                ident = threading.get_ident()
                if ident in self._internal or code.co_filename in _BRIDGE_FILES:
                    return sys.monitoring.DISABLE
                if ident not in self._busy and ident not in self._stepping:
                    self._maybe_pause(sys._getframe(1))
                return None
            return sys.monitoring.DISABLE
        ident = threading.get_ident()
        if (ident in self._stepping or ident in self._busy or ident in self._internal
                or not self._active):
            return None
        self._on_bp_line(sys._getframe(1))
        return None

    def _mon_raise(self, code, offset, exc):
        ident = threading.get_ident()
        if (not self._active or ident in self._internal or ident in self._busy
                or self._break_on != "raised"):
            return None
        frame = sys._getframe(1)
        self._on_raise(frame, type(exc), exc, exc.__traceback__)
        return None

    def _mon_release(self):
        if self._mon_tool is None:
            return
        mon = sys.monitoring
        tool = self._mon_tool
        self._mon_tool = None
        try:
            mon.set_events(tool, 0)
            for code in list(self._mon_codes):
                mon.set_local_events(tool, code, 0)
            for ev in (mon.events.PY_START, mon.events.PY_RESUME, mon.events.LINE,
                       mon.events.RAISE):
                mon.register_callback(tool, ev, None)
            mon.free_tool_id(tool)
        except Exception:
            pass
        self._mon_codes.clear()
        self._mon_lines.clear()

    # ------------------------------------------------------------------ stop sources

    def _on_raise_event(self, frame, arg):
        exc_type, exc, tb = arg
        # Only where it is raised, not in every frame it passes through.
        if tb is not None and tb.tb_next is not None:
            return
        self._on_raise(frame, exc_type, exc, tb)

    def _on_raise(self, frame, exc_type, exc, tb):
        if exc_type in (StopIteration, StopAsyncIteration, GeneratorExit):
            return
        if frame.f_code.co_filename.startswith("<frozen ") or self.code.is_ignored(frame):
            return
        self._stop_at(frame, "exception", exc_info=(exc_type, exc, tb))

    def _on_bp_line(self, frame):
        """A line with a breakpoint runs: apply bdb's effective() rules, maybe stop."""
        file = self.code.canon(frame.f_code.co_filename)
        line = frame.f_lineno
        by_line = self.breakpoints.by_file.get(file)
        bps = list(by_line.get(line, ())) if by_line else []
        chosen = None
        cond_error = None
        for b in bps:
            if not b.enabled:
                continue
            b.hits += 1
            if b.cond:
                try:
                    value = self.evaluator.condition(b, frame)
                except _CondError as err:
                    chosen = b
                    cond_error = err
                    break
                if not value:
                    continue
            if b.ignore > 0:
                b.ignore -= 1
                continue
            # Hit conditions count the hits that passed the condition and the ignore count.
            b.cond_hits += 1
            if b.hit_test is not None and not b.hit_test(b.cond_hits):
                continue
            if b.log is not None:
                self._log_point(b, frame)
                continue
            if b.snapshot:
                self._take_snapshot(b, frame)
                continue
            chosen = b
            break
        if chosen is None:
            return
        if chosen.temp and cond_error is None:
            self.breakpoints.delete(chosen)
            self.breakpoints.removed.append(chosen.id)
            self.breakpoints.changed()
        self._stop_at(frame, "breakpoint", bp=chosen, cond_error=cond_error)

    def _take_snapshot(self, bp, frame):
        """A snapshot breakpoint's hit: the stack and the newest frames' locals, as bounded reprs,
        sent as a `snapshot` event; the program runs on (never a stop, never a wait for a client).
        At most `max` per breakpoint, and SNAPSHOT_RATE a second."""
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
            if not self.code.is_ignored(f):
                frames.append(f)
            f = f.f_back
        r = self._snapshot_repr()
        budget = SNAPSHOT_BYTES
        truncated = f is not None
        stack = []
        for i, f in enumerate(frames):
            entry = {"file": self.code.canon(f.f_code.co_filename), "line": f.f_lineno,
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
        p = {"breakpoint": bp.id, "stack": stack, "thread": self._thread_info(ident),
             "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
             + (".%03dZ" % int((time.time() % 1) * 1000))}
        if truncated:
            p["truncated"] = True
        self.output.drain()
        self._send("snapshot", p)

    def _snapshot_repr(self):
        """The reprs of a snapshot: small, so that a value of ten million items costs a few
        hundred bytes, and the hit a fraction of a millisecond."""
        r = getattr(self, "_snapshot_repr_obj", None)
        if r is None:
            r = self._snapshot_repr_obj = self.reprs.repr_obj(False)
            r.maxlevel = 3
            r.maxlist = r.maxtuple = r.maxset = r.maxfrozenset = r.maxdeque = r.maxarray = 20
            r.maxdict = 20
            r.maxstring = r.maxother = SNAPSHOT_VALUE_CHARS
            r.maxlong = 100
        return r

    def _log_point(self, bp, frame):
        """A logpoint's message, as the program's own output would come (never a stop): each
        {expression} is evaluated in the frame, under the eval policy and timeout."""
        out = []
        for literal, expr in bp.log_parts:
            out.append(literal)
            if expr is None:
                continue
            try:
                # Parsed and compiled once, not at every hit (the policy still judges each).
                code_text = self.evaluator.apply_policy(expr, "log")
                code = bp.log_code.get(code_text)
                if code is None:
                    code = bp.log_code[code_text] = compile(code_text, "<log>", "eval",
                                                            dont_inherit=True)
                value = self.evaluator.with_deadline(eval, code, frame.f_globals, frame.f_locals)
                text = value if isinstance(value, str) else self.reprs.short(value)
            except _PolicyRefused as exc:
                text = "<%s>" % exc
            except _EvalFailed as exc:
                text = "<%s>" % exc.text
            except Exception as exc:
                text = "<%s>" % _exc_line(exc)
            out.append(text[:1000])
        self.output.drain()
        self._send("print", {"input": "<log>", "exc": False, "output": "".join(out) + "\n"})
