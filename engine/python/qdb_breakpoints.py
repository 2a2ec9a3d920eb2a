"""Breakpoints for the qdb bridge: where they go (a file's line, a function found live, in the
source or once its module loads), their table, and the rules of a hit (conditions, hit conditions,
ignore counts, temporary ones, logpoints).

A BreakpointTable owns the table, its lock, the breakpoints waiting for their module, the hook
on imports that binds them, and the breakpoint lines of each code object; the tracing backends
(qdb_tracing) read it. Standard library only, like the rest of the bridge.
"""

import builtins
import os
import sys
import threading

from qdb_common import _CommandError
from qdb_eval import _PolicyRefused
from qdb_hits import _HIT_CONDITION, _hit_test, _log_parts
from qdb_locate import Locator
from qdb_repr import _exc_line
from qdb_sites import CompiledSites, inline_condition

class _Breakpoint(object):
    __slots__ = ("id", "file", "line", "temp", "cond", "func", "enabled", "ignore", "hits",
                 "compiled", "pending", "hit_condition", "hit_test", "log", "cond_hits",
                 "log_parts", "log_code", "snapshot", "max", "snaps", "snap_window",
                 "snap_in_window", "inline_text")

    def payload(self):
        out = {
            "id": self.id, "file": self.file or "", "line": self.line or 0, "temp": self.temp,
            "cond": self.cond, "func": self.func, "enabled": self.enabled,
            "ignore": self.ignore, "hits": self.hits, "verified": not self.pending,
        }
        if self.pending:
            out["pending"] = True
        if self.hit_condition is not None:
            out["hit_condition"] = self.hit_condition
        if self.log is not None:
            out["log"] = self.log
        if self.snapshot:
            out["snapshot"] = True
            out["max"] = self.max
        return out


class BreakpointTable(object):
    """The breakpoints of a session: where they are, and what changes them."""

    def __init__(self, code, evaluator, program_arg, program_dir, main_globals, send, changed,
                 current, hit=None, compiled=True, inline_ok=None):
        self.code = code  # which code is the program's (qdb_code.ProgramCode)
        self.evaluator = evaluator  # the policy conditions and logpoints are held to
        self._program_arg = program_arg  # the main file as the user named it
        self._main_globals = main_globals  # () -> the program's __main__ globals, or None
        self._send = send
        self._changed = changed  # () -> the tracing backends decide again
        self._current = current  # () -> the table now (a forked child has its own)
        self.bps = {}
        self.by_file = {}  # canonical file -> {line: [bp...]}
        # Breakpoints on functions of modules not found yet: they bind when an import makes
        # their name resolvable (see _bind_pending).
        self.pending_bps = {}
        self.real_import = None  # builtins.__import__ before the hook (while it is installed)
        self._modules_seen = 0
        self._next_id = 1
        self.removed = []  # ids of temporary breakpoints removed by a hit, not reported yet
        self.lock = threading.RLock()
        self.locator = Locator(code, program_dir)
        self._code_lines = {}  # code -> frozenset of breakpoint lines (or None)
        # Lines with enabled breakpoints, compiled into the code where they can be (qdb_sites):
        # `hit(hook_id, frame, raised)` is called at their hits. Without `hit`, all are traced.
        self.sites = CompiledSites(code, hit, compiled and hit is not None)
        self._inline_ok = inline_ok or (lambda: True)  # may a condition be compiled in place?

    def lines_for(self, code):
        """The breakpoint lines inside `code` itself (not nested code) that a trace function
        must stop at (those not compiled into it), or None."""
        try:
            return self._code_lines[code]
        except KeyError:
            pass
        r = None
        file = self.code.canon(code.co_filename)
        by_line = self.by_file.get(file)
        if by_line:
            hit = self.code.own_lines(code).intersection(by_line)
            sites = self.sites
            hit = [line for line in hit if sites.traced(file, line, code)
                   and not sites.is_hook_line(code, line)]
            if hit:
                r = frozenset(hit)
        self._code_lines[code] = r
        return r

    def needs_tracing(self):
        """Whether a trace function (or sys.monitoring's events) must look for breakpoints:
        some are traced (not compiled, or compiled but running in old frames, or waiting for
        their function to be defined)."""
        if not self.sites.enabled:
            return bool(self.bps)
        return self.sites.needs_tracing()

    def parse_spec(self, spec):
        """`--break` specs, as pdb's `b`: [FILE:]LINE or [FILE:]FUNCTION, then `, CONDITION`."""
        spec, comma, cond = str(spec).partition(",")
        spec = spec.strip()
        head, sep, tail = spec.rpartition(":")
        if sep and tail.strip().isdigit():
            out = {"file": head or None, "line": int(tail)} if head else {"line": int(tail)}
        elif spec.isdigit():
            out = {"line": int(spec)}
        elif sep and (head.endswith(".py") or os.sep in head):
            out = {"file": head, "func": tail}
        else:
            out = {"func": spec}
        if comma and cond.strip():
            out["cond"] = cond.strip()
        return out

    def specs(self):
        """The breakpoints as set_break payloads (with their ids), for a child to start with."""
        out = []
        with self.lock:
            bps = list(self.bps.values()) + list(self.pending_bps.values())
        for bp in sorted(bps, key=lambda b: b.id):
            spec = {"id": bp.id, "temp": bp.temp, "enabled": bp.enabled, "ignore": bp.ignore}
            if bp.pending:
                spec["func"] = bp.func
            else:
                spec.update({"file": bp.file, "line": bp.line})
                if bp.func:
                    spec["func"] = bp.func
            for key in ("cond", "hit_condition", "log"):
                value = getattr(bp, key)
                if value is not None:
                    spec[key] = value
            out.append(spec)
        return out

    # ------------------------------------------------------------------ breakpoints

    def _label(self, file_arg, line):
        return '"%s:%s"' % (file_arg if file_arg else self._program_arg, line)

    def _check_line(self, path, file_arg, line):
        label = self._label(file_arg, line)
        try:
            lines, nlines = self.locator.executable_lines(path)
        except SyntaxError as exc:
            raise _CommandError("set_break", "Cannot set breakpoint at %s: the file does not "
                                "compile (%s)" % (label, _exc_line(exc)))
        except (OSError, ValueError) as exc:
            raise _CommandError("set_break", "Cannot set breakpoint at %s: %s" % (label, exc))
        if line > nlines:
            raise _CommandError("set_break", "Cannot set breakpoint at %s: the file has only %d "
                                "line%s" % (label, nlines, "" if nlines == 1 else "s"))
        if line not in lines:
            if not lines:
                raise _CommandError("set_break", "Cannot set breakpoint at %s: the file has no "
                                    "code" % label)
            nearest = min(lines, key=lambda n: (abs(n - line), n < line))
            raise _CommandError("set_break", "Cannot set breakpoint at %s: line %d has no code; "
                                "the nearest line with code is %d" % (label, line, nearest))

    def _check_log(self, log):
        """A logpoint's message: a string whose {expression} parts the eval policy allows."""
        if log is None:
            return
        if not isinstance(log, str) or not log:
            raise _CommandError("payload", "log must be a non-empty string or null")
        for _, expr in _log_parts(log):
            if expr is not None:
                self._check_cond_policy(expr)

    def _check_cond_policy(self, cond):
        """The text of `cond` the eval policy lets run (a hook policy's rewrite; asked here,
        once), or _CommandError saying why none. None for no condition."""
        if cond is None:
            return None
        if self.evaluator.policy == "none":
            raise _CommandError("policy", 'Eval policy "none" refuses to run code '
                                "(breakpoint conditions included)")
        text = cond
        if self.evaluator.policy.startswith("hook:"):
            try:
                text = self.evaluator.apply_policy(cond, "condition")
            except _PolicyRefused as exc:
                raise _CommandError("policy", str(exc))
        try:
            compile(cond, "<condition>", "eval", dont_inherit=True)
        except (SyntaxError, ValueError, UnicodeError, RecursionError, MemoryError,
                OverflowError) as exc:
            raise _CommandError("set_break", "Cannot use the condition %r: %s"
                                % (cond, _exc_line(exc)))
        return text

    def set(self, p, stop, from_config=False):
        if not isinstance(p, dict):
            raise _CommandError("payload", "set_break needs an object {file?, line?, func?, ...}")
        file_arg = p.get("file")
        line = p.get("line")
        func = p.get("func")
        cond = p.get("cond")
        if file_arg is not None and not isinstance(file_arg, str):
            raise _CommandError("payload", "set_break: file must be a string")
        if line is not None and (not isinstance(line, int) or isinstance(line, bool) or line < 1):
            raise _CommandError("payload", "set_break: line must be an integer >= 1")
        if line is None and not func:
            raise _CommandError("payload", 'set_break needs a "line" or a "func"')
        if cond is not None and not isinstance(cond, str):
            raise _CommandError("payload", "set_break: cond must be a string or null")
        cond_text = self._check_cond_policy(cond)
        self._check_log(p.get("log"))
        _hit_test(p.get("hit_condition"))
        if line is None and file_arg is None and self._may_pend(func, stop):
            return self._add_pending(func, cond, p)
        if line is not None:
            path = self.locator.resolve_file(file_arg)
            if path is not None and not self.code.may_read(path):
                path = None
            if path is None:
                raise _CommandError("set_break", "Cannot set breakpoint at %s: no such file"
                                    % self._label(file_arg, line))
            self._check_line(path, file_arg, line)
            func_name = func if isinstance(func, str) else None
        else:
            path, line = self._resolve_function(func, file_arg, stop)
            func_name = func
        if self.code.file_skipped(path):
            raise _CommandError("set_break", "Cannot set breakpoint at %s: the file is skipped"
                                % self._label(file_arg or path, line))
        with self.lock:
            bp = self._new_bp(p, cond, func_name, path, line)
            bp.inline_text = (cond, cond_text) if cond else None
            self.bps[bp.id] = bp
            self.by_file.setdefault(path, {}).setdefault(line, []).append(bp)
        self.changed()
        return bp

    def _may_pend(self, func, stop):
        """A dotted name whose first part is nothing known (in the selected frame, or the main
        script when running) and none of whose modules can be found yet: its code may load
        later."""
        if not isinstance(func, str) or "." not in func:
            return False
        full = self.evaluator.policy == "full"
        if self.locator.lookup(func, self._spaces(stop), full) is not None:
            return False
        parts = func.split(".")
        if not all(part.isidentifier() for part in parts):
            return False
        if stop is not None:
            spaces = [self.evaluator.frame_locals(stop.frame), stop.frame.f_globals]
        else:
            spaces = [self._main_globals() or {}]
        try:
            if any(parts[0] in space for space in spaces) or hasattr(builtins, parts[0]):
                return False
        except Exception:
            return False
        return not any(self.locator.module_origin(".".join(parts[:i])) for i in range(1, len(parts)))

    def _new_bp(self, p, cond, func, path, line):
        """A breakpoint from a set_break payload, with the next id. Call with the bp lock held."""
        bp = _Breakpoint()
        given = p.get("id")
        if isinstance(given, int) and not isinstance(given, bool) and given > 0:
            bp.id = given  # the core's
        else:
            bp.id = self._next_id  # one from the configuration, before the core knows it
        self._next_id = max(self._next_id, bp.id + 1)
        bp.file = path
        bp.line = line
        bp.temp = bool(p.get("temp", False))
        bp.cond = cond
        bp.compiled = None
        bp.func = func
        bp.enabled = bool(p.get("enabled", True))
        ign = p.get("ignore", 0)
        bp.ignore = ign if isinstance(ign, int) and ign > 0 else 0
        bp.hits = 0
        bp.cond_hits = 0
        bp.pending = path is None
        bp.hit_condition = p.get("hit_condition")
        bp.hit_test = _hit_test(bp.hit_condition)
        bp.log = p.get("log")
        bp.log_parts = _log_parts(bp.log) if bp.log is not None else None
        bp.log_code = {}  # expression text (after the eval policy) -> its code
        bp.snapshot = bool(p.get("snapshot", False))
        most = p.get("max", 1)
        bp.max = most if isinstance(most, int) and not isinstance(most, bool) and most > 0 else 1
        bp.snaps = 0
        bp.snap_window = 0.0
        bp.snap_in_window = 0
        bp.inline_text = None
        return bp

    def _add_pending(self, func, cond, p):
        with self.lock:
            bp = self._new_bp(p, cond, func, None, None)
            self.pending_bps[bp.id] = bp
        self._watch_imports()
        return bp

    def _watch_imports(self):
        """While breakpoints are pending, every import statement tries to bind them."""
        if self.real_import is not None or not self.pending_bps:
            return
        real = builtins.__import__
        current = self._current

        def __import__(name, globals=None, locals=None, fromlist=(), level=0):
            module = real(name, globals, locals, fromlist, level)
            table = current()
            if table.pending_bps and len(sys.modules) != table._modules_seen:
                table._bind_pending()
            return module

        __import__.__doc__ = real.__doc__
        self.real_import = real
        builtins.__import__ = __import__

    def _unwatch_imports(self):
        real = self.real_import
        if real is not None and not self.pending_bps:
            self.real_import = None
            if getattr(builtins.__import__, "__name__", "") == "__import__" and \
                    builtins.__import__ is not real:
                builtins.__import__ = real

    def _bind_pending(self):
        """Binds the pending breakpoints whose function can be found now."""
        self._modules_seen = len(sys.modules)
        bound = False
        for bp in list(self.pending_bps.values()):
            try:
                path, line = self._resolve_function(bp.func, None, None)
            except Exception:
                continue
            with self.lock:
                if self.pending_bps.pop(bp.id, None) is None:
                    continue
                bp.file = path
                bp.line = line
                bp.pending = False
                self.bps[bp.id] = bp
                self.by_file.setdefault(path, {}).setdefault(line, []).append(bp)
            bound = True
        if bound:
            self._unwatch_imports()
            self.changed()
            self._send("breakpoint_state", self.state())

    def by_id(self, id_):
        return self.bps.get(id_) or self.pending_bps.get(id_)

    def delete(self, bp):
        if self.pending_bps.pop(bp.id, None) is not None:
            self._unwatch_imports()
            return
        with self.lock:
            if self.bps.pop(bp.id, None) is None:
                return
            by_line = self.by_file.get(bp.file, {})
            lst = by_line.get(bp.line, [])
            if bp in lst:
                lst.remove(bp)
            if not lst:
                by_line.pop(bp.line, None)
            if not by_line:
                self.by_file.pop(bp.file, None)

    def update(self, p):
        if not isinstance(p, dict) or not isinstance(p.get("id"), int):
            raise _CommandError("payload", "update_break needs an object {id, ...}")
        bp = self.by_id(p["id"])
        if bp is None:
            raise _CommandError("update_break", "No breakpoint %s" % p["id"])
        # What its compiled code counted belongs to it as it was.
        self.fold_hits(bp)
        if "cond" in p:
            cond = p["cond"]
            if cond is not None and not isinstance(cond, str):
                raise _CommandError("payload", "update_break: cond must be a string or null")
            try:
                cond_text = self._check_cond_policy(cond)
            except _CommandError as err:
                if err.type == "set_break":
                    err.type = "update_break"
                raise
            bp.cond = cond
            bp.compiled = None
            bp.inline_text = (cond, cond_text) if cond else None
        if p.get("enabled") is not None:
            bp.enabled = bool(p["enabled"])
        if p.get("ignore") is not None:
            ign = p["ignore"]
            if not isinstance(ign, int) or ign < 0:
                raise _CommandError("update_break", "ignore must be an integer >= 0")
            bp.ignore = ign
        if p.get("temp") is not None:
            bp.temp = bool(p["temp"])
        if "hit_condition" in p:
            bp.hit_test = _hit_test(p["hit_condition"])
            bp.hit_condition = p["hit_condition"]
            bp.cond_hits = 0
        if "log" in p:
            self._check_log(p["log"])
            bp.log = p["log"]
            bp.log_parts = _log_parts(bp.log) if bp.log is not None else None
            bp.log_code = {}
        self.changed()

    def changed(self):
        """The breakpoints changed: they are compiled into the code again where they can be,
        every per-code decision is invalidated and the tracing backend re-armed."""
        with self.lock:
            wanted = {}
            inline_ok = self._inline_ok()
            for file, by_line in self.by_file.items():
                for line, bps in by_line.items():
                    on = [b for b in bps if b.enabled]
                    if on:
                        wanted[(file, line)] = self._inline(on[0]) if (
                            len(on) == 1 and inline_ok) else None
            counts = self.sites.sync(wanted)
            for bp, (misses, counted) in counts.items():
                bp.hits += misses + counted
                bp.cond_hits += counted
        self.rearm()

    def rearm(self):
        """Every per-code decision made again (a waiting breakpoint was compiled)."""
        self._code_lines.clear()
        self._changed()

    def _inline(self, bp):
        """What of `bp` is compiled in place: (bp, its condition's text or None, its hit
        condition as (operator, count) or None), or None when nothing is (the hook then runs
        the rules of a hit at each pass). A condition is, when the policy's text of it calls
        nothing; a hit condition, when no ignore count runs."""
        text = None
        if bp.cond:
            # The policy's text, as it said when the condition was set (a hook is asked once).
            cached = bp.inline_text
            if cached is None or cached[0] != bp.cond:
                try:
                    text = self.evaluator.apply_policy(bp.cond, "condition")
                except _PolicyRefused:
                    text = None
                cached = bp.inline_text = (bp.cond, text)
            text = cached[1]
            if text is None or not inline_condition(text):
                return None
        hit = None
        if bp.hit_condition is not None and bp.ignore == 0:
            m = _HIT_CONDITION.match(bp.hit_condition)
            if m is not None:
                hit = (m.group(1) or ">=", int(m.group(2)))
        if text is None and hit is None:
            return None
        return (bp, text, hit)

    def _payload(self, bp):
        """`bp` as the protocol shows it, saying why it is traced when it could not be compiled
        into the code."""
        out = self.fold_hits(bp).payload()
        if not bp.pending and bp.enabled:
            why = self.sites.traced_why(bp.file, bp.line)
            if why:
                out["traced"] = why
        return out

    def fold_hits(self, bp):
        """`bp`'s counts with what its compiled code counted since: the false passes of its
        condition, and the passes its hit condition counted."""
        if self.sites.sites:
            misses, counted = self.sites.take_counts(bp)
            bp.hits += misses + counted
            bp.cond_hits += counted
        return bp

    def _spaces(self, stop):
        """Where a function's name is looked up: the selected frame's, or the main script's."""
        if stop is not None:
            return [self.evaluator.frame_locals(stop.frame), stop.frame.f_globals]
        main = self._main_globals()
        return [main] if main is not None else []

    def _resolve_function(self, name, file_arg, stop):
        if not isinstance(name, str) or not name:
            raise _CommandError("payload", "set_break: func must be a non-empty string")
        return self.locator.function_line(name, file_arg, self._spaces(stop),
                                          self.evaluator.policy == "full")

    # ------------------------------------------------------------------ the core's primitives
    # qdb's core owns the breakpoint table and its ids (core/breakpoints.ts); the bridge places
    # each breakpoint it is given, runs the rules of a hit, and reports what changes by itself.

    def place(self, stop, args):
        """`set_breakpoint {breakpoint, adjust?}`: a new breakpoint with the core's id. With
        `adjust` (an editor's line), a line without code moves to the next line that has one."""
        p = dict(args.get("breakpoint") or {})
        if args.get("adjust") and p.get("line") is not None:
            p["line"] = self._line_with_code(p.get("file"), p["line"])
        return {"breakpoint": self._payload(self.set(p, stop))}

    def _line_with_code(self, file_arg, line):
        """The first line at or after `line` with code in the file, or _CommandError saying why
        there is none."""
        path = self.locator.resolve_file(file_arg)
        if path is not None and (not self.code.may_read(path) or self.code.file_skipped(path)):
            path = None
        why = None
        if path is None:
            why = "no such file"
        else:
            try:
                lines, nlines = self.locator.executable_lines(path)
            except SyntaxError as exc:
                why = "the file does not compile (%s)" % _exc_line(exc)
            except (OSError, ValueError) as exc:
                why = str(exc)
        if why is None:
            later = sorted(n for n in lines if n >= line)
            if line > nlines:
                why = "the file has only %d line%s" % (nlines, "" if nlines == 1 else "s")
            elif not later:
                why = "no code on line %d or after it" % line
            else:
                return later[0]
        raise _CommandError("set_break", "Cannot set breakpoint at %s: %s"
                            % (self._label(file_arg, line), why))

    def change(self, args):
        """`update_breakpoint {id, ...}`: the fields given change (as update_break)."""
        self.update(args)
        return {"breakpoint": self._payload(self.by_id(args["id"]))}

    def remove(self, args):
        """`remove_breakpoints {ids}`: those that exist are removed."""
        for id_ in args.get("ids") or []:
            bp = self.by_id(id_)
            if bp is not None:
                self.delete(bp)
        self.changed()
        return {}

    def locate(self, args):
        """`locate {file}`: the file's path as breakpoints name it (None when it is not a file
        the program may have breakpoints in), and its name as the user gave it (the program's
        when none was)."""
        file_arg = args.get("file")
        path = self.locator.resolve_file(file_arg)
        if path is not None and not self.code.may_read(path):
            path = None
        return {"path": path, "name": file_arg if file_arg else self._program_arg}

    def state(self, added=()):
        """What changed by itself since the last report, for the core's table: every
        breakpoint's counts, those bound since (pending no more), those removed (a temporary
        one hit), and (`added`) those set from the configuration before the program ran."""
        with self.lock:
            bps = list(self.bps.values()) + list(self.pending_bps.values())
            removed, self.removed = self.removed, []
        changed = []
        for b in bps:
            self.fold_hits(b)
            item = {"id": b.id, "hits": b.hits, "ignore": b.ignore}
            if not b.pending:
                item.update({"file": b.file, "line": b.line, "verified": True})
            changed.append(item)
        p = {"changed": changed, "removed": removed}
        if added:
            p["added"] = [self.fold_hits(b).payload() for b in added]
        return p
