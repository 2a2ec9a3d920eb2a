"""Where breakpoints are compiled into the code, for the qdb bridge (issue 28), and where they
are traced instead.

A site is a line with enabled breakpoints. It is **compiled** (qdb_compile) into the function
that holds it when one exists and its source is the loaded code; it is **waiting** when no
function has been made from its code yet (a module not run to its ``def`` yet, the main script
stopped at its first line): it is traced until the module's or class's code that makes the
function defines it, and then compiled (so a function that runs for the whole program, called
right after its ``def``, runs compiled from its first call); it is **traced** when it cannot be
compiled at all (module and class bodies, a loop's header, a file changed since it was loaded,
code no function holds), and says why. A compiled site whose old code still runs (a frame in a
loop when the breakpoint was set, a generator already made) is also traced in those frames.

CompiledSites owns the sites, their hook ids and the CompiledBreakpoints; the BreakpointTable
syncs it when breakpoints change and reads which lines are traced; the tracing backends call
`bind` in the code that makes a waiting site's function. Standard library only.
"""

import ast
import gc
import sys
import types

from qdb_compile import CannotCompile, CompiledBreakpoints, _ById, functions_of

_CO_OPTIMIZED = 0x1  # a function's code (not a module's or a class body's)
_GEN_TYPES = (types.GeneratorType, types.CoroutineType, types.AsyncGeneratorType)
_SAFE_NODES = (
    ast.Expression, ast.Compare, ast.BoolOp, ast.UnaryOp, ast.Name, ast.Constant,
    ast.Attribute, ast.Subscript, ast.Slice, ast.Tuple, ast.Load,
    ast.And, ast.Or, ast.Not, ast.USub, ast.UAdd, ast.Invert,
    ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.Is, ast.IsNot, ast.In, ast.NotIn,
    ast.Add, ast.Sub, ast.Mod, ast.FloorDiv, ast.Div, ast.BitAnd, ast.BitOr, ast.BitXor,
    ast.RShift,
) + ((ast.Index,) if sys.version_info < (3, 9) else ())
_SAFE_BINOPS = (ast.Add, ast.Sub, ast.Mod, ast.FloorDiv, ast.Div, ast.BitAnd, ast.BitOr,
                ast.BitXor, ast.RShift)


def inline_condition(text):
    """Whether a condition may be compiled in place: it calls nothing (no call, comprehension,
    lambda or power: nothing that could run away from the eval deadline, which a compiled
    condition does not have) and binds nothing. Others are evaluated by the hook."""
    try:
        tree = ast.parse(text, mode="eval")
    except (SyntaxError, ValueError):
        return False
    for node in ast.walk(tree):
        if isinstance(node, ast.BinOp):
            if not isinstance(node.op, _SAFE_BINOPS):
                return False
        elif not isinstance(node, _SAFE_NODES):
            return False
    return True


class _Site(object):
    __slots__ = ("key", "hook_id", "state", "code", "inline", "old", "why", "unswapped", "seen")

    def __init__(self, key, hook_id, inline):
        self.key = key  # (file, line)
        self.hook_id = hook_id
        # (breakpoint, condition text or None, hit condition or None) compiled in place, or None
        self.inline = inline
        self.seen = 0  # the compiled hit count as last reported
        self.state = "traced"  # "compiled", "waiting" or "traced"
        self.code = None  # the original code object it is compiled into, or waits for
        self.old = False  # frames or generators still run `code` without the hook
        self.why = None  # why it is traced
        # Closures of `code` may be made afresh by a maker not found (a closure's closure):
        # those run the original code, traced.
        self.unswapped = False


class CompiledSites(object):
    """The lines with enabled breakpoints, compiled into the code where they can be."""

    def __init__(self, code, hit, enabled):
        self.program_code = code  # qdb_code.ProgramCode (file names, lines of a code object)
        self.enabled = enabled  # False: every breakpoint is traced (the fallback, forced)
        self.compiled = CompiledBreakpoints(hit)
        self.sites = {}  # (file, line) -> _Site
        self.by_hook = {}  # hook id -> _Site
        self._next_hook = 1
        # maker code (module or class body) -> [(site, target code, class name)], by identity
        self.makers = _ById()
        self._installed = False

    # ------------------------------------------------------------------ the table's view

    def traced(self, file, line, code):
        """Whether a breakpoint line of `file` is traced in `code` (a trace function must stop
        there): it is not compiled, or `code` is its old code still running."""
        if not self.enabled:
            return True
        site = self.sites.get((file, line))
        if site is None:
            return False  # no enabled breakpoint there: nothing to trace
        made = self.compiled.made
        if site.state != "compiled":
            return code is not None and code not in made
        # Old code still running: the original, or a hooked one made before this line's hook.
        return site.old and made.get(code, code) is site.code and \
            code is not self.compiled.current(site.code)

    def needs_tracing(self):
        """Whether some enabled breakpoint is traced somewhere."""
        return any(s.state != "compiled" or s.old for s in self.sites.values())

    def is_hook_line(self, code, line):
        """A hook statement's line in compiled code: trace functions skip it."""
        return line == code.co_firstlineno and code in self.compiled.made

    def take_counts(self, bp):
        """What `bp`'s compiled code counted since last asked: (the passes its condition was
        false, the passes its hit condition counted)."""
        for site in self.sites.values():
            if site.inline is not None and site.inline[0] is bp:
                return self._take(site)
        return 0, 0

    def _take(self, site):
        misses = self.compiled.take_misses(site.hook_id)
        counted = 0
        if site.state == "compiled" and site.inline[2] is not None:
            now = self.compiled.counts.get(site.hook_id, site.seen)
            counted, site.seen = now - site.seen, now
        return misses, counted

    def traced_why(self, file, line):
        """Why the breakpoints of a line are traced (not compiled into the code), or None."""
        site = self.sites.get((file, line))
        if self.enabled and site is not None and site.state == "traced":
            return site.why
        return None

    # ------------------------------------------------------------------ syncing

    def sync(self, wanted):
        """`wanted`: (file, line) -> the condition text to compile in place (with its
        breakpoint) or None, for every line with enabled breakpoints. Sites no longer wanted are
        taken out; new ones compiled where they can be. Returns {breakpoint: false passes} of
        sites taken out (their counts)."""
        counts = {}
        if not self.enabled:
            return counts
        for key in list(self.sites):
            site = self.sites[key]
            want = wanted.get(key, False)
            if want is False or want != site.inline:
                self._drop(site, counts)
        todo = [key for key in wanted if key not in self.sites]
        if todo and not self._installed:
            # Before any function runs hooked code: a thread may call it the moment it is
            # placed (a hook installed after it was NameError there).
            self.compiled.install_hook()
            self._installed = True
        index = self._functions_by_file(set(k[0] for k in todo)) if todo else {}
        for key in todo:
            site = _Site(key, self._next_hook, wanted[key])
            self._next_hook += 1
            self.sites[key] = site
            self.by_hook[site.hook_id] = site
            self._place(site, index.get(key[0], ()))
        for site in self.sites.values():
            if site.old:
                site.old = site.unswapped or self._still_running(site.code)
        self.makers.clear()  # found again as the code that makes them runs (waiting_in)
        if self.sites and not self._installed:
            self.compiled.install_hook()
            self._installed = True
        return counts

    def _drop(self, site, counts):
        del self.sites[site.key]
        self.by_hook.pop(site.hook_id, None)
        if site.state == "compiled":
            if site.inline is not None:
                misses, counted = self._take(site)
                before = counts.get(site.inline[0], (0, 0))
                counts[site.inline[0]] = (before[0] + misses, before[1] + counted)
            self.compiled.remove(site.hook_id)

    def remove_all(self):
        """Every function gets its original code back (a forked child that starts afresh)."""
        self.compiled.remove_all()
        self.sites.clear()
        self.by_hook.clear()
        self.makers.clear()
        self.compiled.uninstall_hook()
        self._installed = False

    def _functions_by_file(self, files):
        """The program's functions defined in `files` (one per code object), by file."""
        canon = self.program_code.canon
        out = {}
        seen = set()
        for obj in gc.get_objects():
            if type(obj) is not types.FunctionType:
                continue
            code = self.compiled.original(obj.__code__)
            if id(code) in seen or not code.co_flags & _CO_OPTIMIZED:
                continue  # (3.11+ runs a module's code as a function's)
            file = canon(code.co_filename)
            if file in files:
                seen.add(id(code))
                out.setdefault(file, []).append((obj, code))
        return out

    def _target(self, line, functions):
        """The code object whose own line `line` is, among these functions' code and the
        code they make (a closure): (code, makers) or (None, None)."""
        own = self.program_code.own_lines
        for f, code in functions:
            if line in own(code):
                return code, None
        for f, code in functions:
            for const in code.co_consts:
                if isinstance(const, types.CodeType) and line in own(const):
                    return const, [f]
        return None, None

    def _place(self, site, functions):
        file, line = site.key
        code, makers = self._target(line, functions)
        if code is None:
            site.state = "waiting"
            return
        self._compile(site, code, makers)

    def _compile(self, site, code, makers):
        cond = hit = None
        if site.inline is not None:
            bp, cond, hit = site.inline
            site.seen = bp.cond_hits
        try:
            self.compiled.add(site.hook_id, code, site.key[1], cond, makers=makers, hit=hit,
                              counted=site.seen)
        except CannotCompile as exc:
            site.state = "traced"
            site.why = str(exc)
            site.code = code
            return False
        except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
            site.state = "traced"
            site.why = "%s: %s" % (type(exc).__name__, exc)
            return False
        site.state = "compiled"
        site.code = code
        site.unswapped = not self.compiled.makes(code) and any(
            ".<locals>." in getattr(f, "__qualname__", "") for f in functions_of(code)
            + functions_of(self.compiled.current(code)))
        site.old = site.unswapped or self._still_running(code)
        return True

    def _still_running(self, code):
        """Whether frames run `code` (in any thread) without this site's hook: the original, or
        code compiled with other breakpoints before; or generators or coroutines made from it
        are not finished. Those are traced."""
        return _still_running(code, self.compiled.original, self.compiled.current(code))

    # ------------------------------------------------------------------ waiting sites

    def waiting_in(self, code):
        """The waiting sites whose function `code` (a module's or a class body's) defines, or
        defines in a class it defines: [(site, target code, class name or None)], cached per
        code object."""
        found = self.makers.get(code)
        if found is not None:
            return found
        found = []
        if not code.co_flags & _CO_OPTIMIZED:  # module or class body code
            file = self.program_code.canon(code.co_filename)
            own = self.program_code.own_lines
            waiting = [s for s in self.sites.values()
                       if s.state == "waiting" and s.key[0] == file]
            for site in waiting:
                for const in code.co_consts:
                    if not isinstance(const, types.CodeType):
                        continue
                    if site.key[1] in own(const):
                        found.append((site, const, None))
                    elif not const.co_flags & _CO_OPTIMIZED:  # a class body: its methods
                        for inner in const.co_consts:
                            if isinstance(inner, types.CodeType) and site.key[1] in own(inner):
                                found.append((site, inner, const.co_name))
        self.makers[code] = found
        return found

    def bind(self, frame):
        """A line of the module or class code that defines waiting sites' functions runs (or
        it returns): those it has defined (bound to their name in its namespace, or in a class
        it made) are compiled now. True when one was (the caller re-arms its tracing)."""
        pending = self.makers.get(frame.f_code)
        if not pending:
            return False
        space = frame.f_locals
        bound = False
        for entry in list(pending):
            site, target, class_name = entry
            if site.state != "waiting":
                pending.remove(entry)
                continue
            where = space
            if class_name is not None:
                where = getattr(space.get(class_name), "__dict__", None)
                if where is None:
                    continue
            if not _defined(where.get(target.co_name), target, self.compiled.original):
                continue
            pending.remove(entry)
            if self._compile(site, target, None):
                bound = True
        return bound


def _defined(value, target, original):
    """Whether `value` (a name's value in a namespace) is, or wraps, a function of `target`
    (or of code compiled from it: another breakpoint's, bound just before)."""
    for _ in range(8):
        if value is None:
            return False
        value = getattr(value, "__func__", value)  # staticmethod, classmethod
        value = getattr(value, "fget", value)  # property
        code = getattr(value, "__code__", None)
        if code is not None and original(code) is target:
            return True
        value = getattr(value, "__wrapped__", None)
    return False


def _still_running(code, original, current):
    if code is None:
        return False
    for frame in sys._current_frames().values():
        while frame is not None:
            if frame.f_code is not current and original(frame.f_code) is code:
                return True
            frame = frame.f_back
    if code.co_flags & 0x2A0:  # a generator, coroutine or async generator
        for obj in gc.get_objects():
            if isinstance(obj, _GEN_TYPES):
                gcode = getattr(obj, "gi_code", None) or getattr(obj, "cr_code", None) or \
                    getattr(obj, "ag_code", None)
                frame = getattr(obj, "gi_frame", None) or getattr(obj, "cr_frame", None) or \
                    getattr(obj, "ag_frame", None)
                if gcode is not current and original(gcode) is code and frame is not None:
                    return True
    return False
