"""The sys.monitoring backend of the qdb bridge's tracing (CPython 3.12+): one tool id, local
LINE events on the code objects that hold traced breakpoints (and on the code that defines a
waiting compiled breakpoint's function), PY_START to find them as they run, RAISE for exceptions
stopped where raised, and every line while a pause or a hold is pending.

A mixin of qdb_tracing.Tracing, whose state it shares. Standard library only.
"""

import sys
import threading

from qdb_common import _BRIDGE_FILES


class MonitoringMixin(object):
    """Tracing's sys.monitoring backend (3.12+)."""

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
        mon.register_callback(self._mon_tool, E.PY_RETURN, self._mon_return)
        return self._mon_tool

    def _update_monitoring(self):
        bridge = self._bridge
        if not bridge._active:
            return  # detached: the tool id stays free (a pause ending late must not take it)
        mon = sys.monitoring
        E = mon.events
        tool = self._ensure_tool()
        if tool is None:
            return
        events = 0
        table = bridge.breakpoints
        traced = table.needs_tracing()
        if traced:
            events |= E.PY_START | E.PY_RESUME
        if bridge._break_on == "raised":
            events |= E.RAISE
        if self._pausing_events:
            events |= E.LINE
        # Code objects armed before: re-arm or disarm for the current breakpoints.
        self._mon_lines.clear()
        for code in list(self._mon_codes):
            lines = bridge.breakpoints.lines_for(code)
            if lines:
                self._mon_lines[code] = lines
                mon.set_local_events(tool, code, E.LINE)
            else:
                mon.set_local_events(tool, code, 0)
                self._mon_codes.discard(code)
        # Code already running (PY_START has passed for it): arm it now; and the old code of
        # compiled breakpoints that generators not finished still run.
        if traced:
            for ident, frame in sys._current_frames().items():
                if ident in bridge._internal:
                    continue
                while frame is not None:
                    self._mon_arm(frame.f_code)
                    frame = frame.f_back
            for site in list(table.sites.sites.values()):
                if site.old and site.code is not None:
                    self._mon_arm(site.code)
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
        table = self._bridge.breakpoints
        lines = table.lines_for(code)
        if not lines:
            if not (table.sites.sites and table.sites.waiting_in(code)):
                return False
            lines = frozenset()  # it defines a waiting breakpoint's function: see _mon_line
        self._mon_lines[code] = lines
        self._mon_codes.add(code)
        E = sys.monitoring.events
        # Code that defines a waiting breakpoint's function: its return too (a def may be its
        # last statement).
        sys.monitoring.set_local_events(self._mon_tool, code,
                                        E.LINE | (0 if lines else E.PY_RETURN))
        return True

    def _mon_return(self, code, offset, retval):
        table = self._bridge.breakpoints
        if table.sites.makers.get(code) and table.sites.bind(sys._getframe(1)):
            table.rearm()
        return None

    def _mon_start(self, code, offset):
        if self._bridge._active:
            self._mon_arm(code)
        return sys.monitoring.DISABLE

    def _mon_line(self, code, line):
        bridge = self._bridge
        sites = bridge.breakpoints.sites
        if sites.sites:
            if sites.is_hook_line(code, line):
                return sys.monitoring.DISABLE
            if sites.makers.get(code) and sites.bind(sys._getframe(1)):
                bridge.breakpoints.rearm()
        lines = self._mon_lines.get(code)
        if lines is None or line not in lines:
            if bridge.pauser._pause_flag or bridge.pauser._holding is not None:
                ident = threading.get_ident()
                if ident in bridge._internal or code.co_filename in _BRIDGE_FILES:
                    return sys.monitoring.DISABLE
                if ident not in bridge._busy and ident not in self._stepping:
                    bridge.pauser._maybe_pause(sys._getframe(1))
                return None
            return sys.monitoring.DISABLE
        ident = threading.get_ident()
        if (ident in self._stepping or ident in bridge._busy or ident in bridge._internal
                or not bridge._active):
            return None
        self._on_bp_line(sys._getframe(1))
        return None

    def _mon_raise(self, code, offset, exc):
        bridge = self._bridge
        ident = threading.get_ident()
        if (not bridge._active or ident in bridge._internal or ident in bridge._busy
                or bridge._break_on != "raised"):
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
                       mon.events.RAISE, mon.events.PY_RETURN):
                mon.register_callback(tool, ev, None)
            mon.free_tool_id(tool)
        except Exception:
            pass
        self._mon_codes.clear()
        self._mon_lines.clear()
