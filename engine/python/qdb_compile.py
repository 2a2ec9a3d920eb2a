"""Breakpoints compiled into the code, for the qdb bridge (issue 28): the mechanism; qdb_sites
decides where it is used and where a breakpoint is traced instead.

A line breakpoint in a function becomes a call at the start of that line, in a new code object
for the one function that holds it; the rest of the program runs untouched, with no trace
function. How, and why this way:

- The function's source is compiled again with the call inserted (the ``ast`` module keeps the
  line numbers). The call carries the function's first line, not the breakpoint's: the
  breakpoint's line still starts with the program's own statement, so a trace function sees
  that line as before (a stop is made there, by a trace function set for that one frame after
  the hook: ``f_lineno`` is the breakpoint's line, ``jump`` works, no frame of qdb's is in the
  program's stack) and skips the hook's line. Bytecode rewriting
  would have to be redone for each CPython version (3.8 to 3.13 changed the instruction set,
  the line tables and the exception tables); the compiler does it for us.
- The source is never trusted blindly: the same source, compiled the same way without the call,
  must give the very bytecode of the loaded code object (same ``co_code``, names and free
  variables), or the breakpoint is refused (the file changed after import, or the code was not
  made from it) and the caller falls back to tracing.
- Free variables (closures, ``super()``'s ``__class__``) are reproduced by compiling the function
  inside a wrapper function that defines them; the new code object is taken from the
  wrapper's constants.
- The call is ``__qdb_bp__(ID)``, a name the bridge puts in ``builtins`` (so no module's globals
  change); a condition is compiled in place: ``if COND: __qdb_bp__(ID)``, so a false condition
  costs what it computes (and a count: ``__qdb_miss__[ID] += 1``, for the hit counts); one that
  raises calls the hook, never the program. Loop and ``with`` headers are refused (their line
  runs at each pass; a statement before them would run once).
- Every function object that shares the code object gets the new one (``gc.get_referrers``),
  and so do the functions that make it as a closure, found by its qualified name (their code,
  with the new one among its constants): closures made later have the breakpoint too (not yet
  for a closure made by a closure: its maker is found by no name). Removing it puts the
  original back on each, closures made meanwhile included.

Standard library only.
"""

import ast
import builtins
import collections
import gc
import sys
import types
import weakref

HOOK_NAME = "__qdb_bp__"
MISS_NAME = "__qdb_miss__"  # hook id -> the passes whose condition was false, in builtins
HITS_NAME = "__qdb_hits__"  # hook id -> the passes a compiled hit condition counted

# Statements whose header line runs again at each pass of a loop (or on leaving a with): a
# hook before them would run once where a trace function sees the line many times.
_REPEATING = (ast.For, ast.AsyncFor, ast.While, ast.With, ast.AsyncWith)


def _index(value):
    """A subscript's index (3.8 wraps it in ast.Index)."""
    if sys.version_info < (3, 9):
        return ast.Index(value=ast.Constant(value=value))
    return ast.Constant(value=value)

_CO_NESTED = 0x10  # a function defined in another (the wrapper's, here): informational

# co_flags of the compiler's __future__ features (they change what the source compiles to).
_FUTURE_FLAGS = 0
for _name in ("division", "absolute_import", "with_statement", "print_function",
              "unicode_literals", "generator_stop", "annotations", "barry_as_FLUFL"):
    _feature = getattr(__import__("__future__"), _name, None)
    if _feature is not None:
        _FUTURE_FLAGS |= _feature.compiler_flag


class CannotCompile(Exception):
    """The breakpoint cannot be compiled into this code (the caller traces instead); the
    message says why."""


def _read_source(filename):
    import linecache
    lines = linecache.getlines(filename)
    if not lines:
        raise CannotCompile("no source for %s" % filename)
    return "".join(lines)


def _function_node(tree, code):
    """The def (sync or async) of `code`: named as it, starting on its first line (a decorated
    function's first line is its first decorator's)."""
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == code.co_name:
            first = min([node.lineno] + [d.lineno for d in node.decorator_list])
            if code.co_firstlineno in (first, node.lineno):
                return node
    raise CannotCompile("no definition of %s at line %d of %s"
                        % (code.co_name, code.co_firstlineno, code.co_filename))


class _PutCondition(ast.NodeTransformer):
    """Puts a condition's expression where the hook statement's template says
    ``__qdb_cond__``."""

    def __init__(self, expr):
        self.expr = expr

    def visit_Name(self, node):
        return self.expr if node.id == "__qdb_cond__" else node


class _InsertHook(ast.NodeTransformer):
    """Puts the hook call before the statement that starts `line` (in the function's own body,
    not in functions nested in it)."""

    def __init__(self, hooks, first):
        self.hooks = hooks  # line -> (hook id, condition or None)
        self.first = first
        self.done = set()
        self.depth = 0

    def _call(self, hook_id, cond, hit, first):
        """The hook statement: ``__qdb_bp__(ID)``; with a condition ``try: if COND:
        __qdb_bp__(ID) / else: __qdb_miss__[ID] += 1 / except Exception: __qdb_bp__(ID, True)``
        (a false pass is counted, not called; a condition that raises calls the hook to say so,
        never the program); with a hit condition (`hit`: its operator and count), the passes the
        condition let through are counted in ``__qdb_hits__[ID]`` and the hook is called only
        when the count passes the test. Its line is the function's first line, not the
        breakpoint's: the breakpoint's line then starts with the program's own statement, so a
        trace function sees it as today (a step stops there, a stop made there can jump) and
        sees the hook's as a line of its own (``first``) that it skips."""
        call = "%s(%d)" % (HOOK_NAME, hook_id)
        if hit is not None:
            op, n = hit
            count = "%s[%d]" % (HITS_NAME, hook_id)
            test = ("%s %% %d == 0" % (count, n) if n > 0 else "False") if op == "%" else \
                "%s %s %d" % (count, "==" if op == "=" else op, n)
            body = ["%s += 1" % count, "if %s:" % test, "    " + call]
        else:
            body = [call]
        if cond is None and hit is None:
            source = call
        elif cond is None:
            source = "\n".join(["try:"] + ["    " + b for b in body]
                               + ["except Exception:", "    %s(%d, True)" % (HOOK_NAME, hook_id)])
        else:
            source = "\n".join(
                ["try:", "    if __qdb_cond__:"] + ["        " + b for b in body]
                + ["    else:", "        %s[%d] += 1" % (MISS_NAME, hook_id),
                   "except Exception:", "    %s(%d, True)" % (HOOK_NAME, hook_id)])
        stmt = ast.parse(source).body[0]
        if cond is not None:
            stmt = _PutCondition(ast.parse(cond, mode="eval").body).visit(stmt)
        for node in ast.walk(stmt):
            if isinstance(node, (ast.stmt, ast.expr, ast.excepthandler)):
                node.lineno = node.end_lineno = first
                node.col_offset = node.end_col_offset = 0
        return stmt

    def visit_FunctionDef(self, node):
        self.depth += 1
        if self.depth == 1:
            self.generic_visit(node)
        self.depth -= 1
        return node

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Lambda(self, node):
        return node

    def visit_ClassDef(self, node):
        return node

    def generic_visit(self, node):
        for field, value in ast.iter_fields(node):
            if isinstance(value, list) and value and isinstance(value[0], ast.stmt):
                out = []
                for stmt in value:
                    line = stmt.lineno
                    if line in self.hooks and line not in self.done:
                        if isinstance(stmt, _REPEATING):
                            raise CannotCompile(
                                "line %d is a loop's or a with's header: it runs more than "
                                "once per pass" % line)
                        hook_id, cond, hit = (tuple(self.hooks[line]) + (None,))[:3]
                        out.append(self._call(hook_id, cond, hit, self.first))
                        self.done.add(line)
                    out.append(self.visit(stmt))
                setattr(node, field, out)
            elif isinstance(value, ast.AST):
                self.visit(value)
            elif isinstance(value, list):
                for item in value:
                    if isinstance(item, ast.AST):
                        self.visit(item)
        return node


def _compile_function(node, code, free, imports):
    """`node` compiled as `code` was: in a wrapper that defines its free variables, beside the
    module's top-level imports (3.11's compiler loads a method of an imported name by
    LOAD_ATTR, of another by LOAD_METHOD), with the same file name and __future__ flags. The
    new code object of the function."""
    wrapper = ast.FunctionDef(
        name="__qdb_wrapper__",
        args=ast.arguments(posonlyargs=[], args=[], vararg=None, kwonlyargs=[],
                           kw_defaults=[], kwarg=None, defaults=[]),
        # Its own name stays a global for it (a recursive call), unless it is a free variable.
        body=([] if code.co_name in free else [ast.Global(names=[code.co_name])])
        + [ast.Assign(targets=[ast.Name(id=name, ctx=ast.Store())],
                      value=ast.Constant(value=None)) for name in free] + [node],
        decorator_list=[], returns=None, type_comment=None)
    if sys.version_info >= (3, 12):
        wrapper.type_params = []
    module = ast.Module(body=list(imports) + [wrapper], type_ignores=[])
    for n in ast.walk(wrapper):
        if not hasattr(n, "lineno") and isinstance(n, (ast.stmt, ast.expr)):
            ast.copy_location(n, node)
    ast.fix_missing_locations(module)
    top = compile(module, code.co_filename, "exec", flags=code.co_flags & _FUTURE_FLAGS,
                  dont_inherit=True)
    for const in top.co_consts:
        if isinstance(const, types.CodeType) and const.co_name == "__qdb_wrapper__":
            for inner in const.co_consts:
                if isinstance(inner, types.CodeType) and inner.co_name == code.co_name:
                    return inner
    raise CannotCompile("the compiler did not give %s back" % code.co_name)


def _same_consts(a, b):
    """Whether two code objects' constants are the same: nested code compared as code (its
    qualified name differs: it was compiled inside the wrapper), the rest by value and type."""
    if len(a) != len(b):
        return False
    for x, y in zip(a, b):
        if isinstance(x, types.CodeType):
            if not (isinstance(y, types.CodeType) and _same(x, y)):
                return False
        elif type(x) is not type(y) or repr(x) != repr(y):
            return False  # (repr: 0.0 and -0.0 are equal, and different constants)
    return True


def _same(a, b):
    """Whether two code objects compile the same (their bytecode, constants, names and
    variables)."""
    return (a.co_code == b.co_code and a.co_names == b.co_names
            and _same_consts(a.co_consts, b.co_consts)
            and a.co_varnames == b.co_varnames and a.co_freevars == b.co_freevars
            and a.co_cellvars == b.co_cellvars and a.co_argcount == b.co_argcount
            and a.co_firstlineno == b.co_firstlineno
            and (a.co_flags | _CO_NESTED) == (b.co_flags | _CO_NESTED))


def compile_with_hook(code, line, hook_id, cond=None, source=None, verified=None):
    """A new code object for `code` with ``__qdb_bp__(hook_id)`` (under ``if cond:`` when a
    condition is given) at the start of `line`: compile_with_hooks for one line."""
    return compile_with_hooks(code, {line: (hook_id, cond)}, source, verified)


def compile_with_hooks(code, hooks, source=None, verified=None):
    """A new code object for `code` with a hook at the start of each line of `hooks` (line ->
    (hook id, condition or None)). Raises CannotCompile when the source does not give back the
    loaded code exactly, or a line starts no statement of the function itself, or is a loop's
    header. `verified` (a dict) remembers the source each code object was checked against: the
    same source is not compiled twice to check it again."""
    if source is None:
        source = _read_source(code.co_filename)
    try:
        tree = ast.parse(source, code.co_filename)
    except (SyntaxError, ValueError) as exc:
        raise CannotCompile("the source does not parse: %s" % exc)
    node = _function_node(tree, code)
    free = list(code.co_freevars)
    imports = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    if verified is None or verified.get(code) != source:
        plain = _compile_function(node, code, free, imports)
        if not _same(plain, code):
            raise CannotCompile("the source of %s is not what was loaded (the file changed?)"
                                % code.co_name)
        if verified is not None:
            verified[code] = source
    for line, spec in hooks.items():
        cond = spec[1]
        if line == code.co_firstlineno:
            raise CannotCompile("line %d is %s's first line" % (line, code.co_name))
        if cond is not None:
            try:
                ast.parse(cond, mode="eval")
            except SyntaxError as exc:
                raise CannotCompile("the condition does not parse: %s" % exc)
    inserter = _InsertHook(hooks, code.co_firstlineno)
    node = inserter.visit(node)
    missing = sorted(set(hooks) - inserter.done)
    if missing:
        raise CannotCompile("line %d starts no statement of %s" % (missing[0], code.co_name))
    hooked = _compile_function(node, code, free, imports)
    if (hooked.co_freevars != code.co_freevars or hooked.co_cellvars != code.co_cellvars
            or hooked.co_varnames != code.co_varnames):
        raise CannotCompile("the hooked %s would not fit its frames and closures"
                            % code.co_name)
    # Its flags (not the wrapper's "nested") and, on 3.11+, its name in tracebacks and reprs.
    hooked = hooked.replace(co_flags=code.co_flags)
    if hasattr(code, "co_qualname"):
        hooked = hooked.replace(co_qualname=code.co_qualname)
    return hooked


def functions_of(code):
    """Every function object (or method's function) whose code object is `code`."""
    return [f for f in gc.get_referrers(code)
            if isinstance(f, types.FunctionType) and f.__code__ is code]


def _makers(code, functions):
    """The functions that make `code` as a closure: found by the qualified name of a function
    made from it (``outer.<locals>.inner``) in its module, holding `code` among its constants.
    (Code objects are not tracked by the garbage collector: they cannot be found as referrers.)"""
    found = []
    for f in functions:
        qualname = getattr(f, "__qualname__", "")
        if ".<locals>." not in qualname:
            continue
        outer_name = qualname.rsplit(".<locals>.", 1)[0]
        if ".<locals>." in outer_name:
            continue  # a closure's maker is itself a closure: only its own maker knows it
        obj = sys.modules.get(getattr(f, "__module__", None) or "")
        for part in outer_name.split("."):
            obj = getattr(obj, part, None) if obj is not None else None
        obj = getattr(obj, "__func__", obj)
        if (isinstance(obj, types.FunctionType) and obj not in found
                and any(k is code for k in obj.__code__.co_consts)):
            found.append(obj)
    return found


def _swap_makers(code, hooked, functions, swaps, makers=None):
    """The functions that make closures of `code` make them of `hooked` from now on: their own
    code with `hooked` in its constants. Each swap is recorded in `swaps` as (function, its
    original code)."""
    for maker in makers if makers else _makers(code, functions):
        outer = maker.__code__
        consts = tuple(hooked if k is code else k for k in outer.co_consts)
        replaced = outer.replace(co_consts=consts)
        for f in functions_of(outer):
            swaps.append((f, outer))
            f.__code__ = replaced


def _no_hook(hook_id, raised=False):
    """The hook once nothing listens: compiled code left running calls it."""


class _ById(object):
    """A dict keyed by identity (code objects compare by value: two equal functions of two
    files, or two empty modules, are equal keys). Holds its keys."""

    def __init__(self):
        self._d = {}

    def get(self, key, default=None):
        entry = self._d.get(id(key))
        return entry[1] if entry is not None and entry[0] is key else default

    def __setitem__(self, key, value):
        self._d[id(key)] = (key, value)

    def __contains__(self, key):
        entry = self._d.get(id(key))
        return entry is not None and entry[0] is key

    def pop(self, key, default=None):
        if key in self:
            return self._d.pop(id(key))[1]
        return default

    def keys(self):
        return [entry[0] for entry in self._d.values()]

    def clear(self):
        self._d.clear()

    def __len__(self):
        return len(self._d)


class _Made(object):
    """Every hooked code object made and still alive (run by a function, or by a frame since),
    to its original: by identity, not holding them."""

    def __init__(self):
        self._d = {}

    def add(self, hooked, original):
        key = id(hooked)
        self._d[key] = (weakref.ref(hooked, lambda _, key=key: self._d.pop(key, None)), original)

    def get(self, code, default=None):
        entry = self._d.get(id(code))
        return entry[1] if entry is not None and entry[0]() is code else default

    def __contains__(self, code):
        entry = self._d.get(id(code))
        return entry is not None and entry[0]() is code


class CompiledBreakpoints(object):
    """Breakpoints compiled into functions: set, and taken back. `hit(hook_id, frame, raised)`
    is called at each hit (in the thread that hit it, from the hook's own frame; `raised`: the
    compiled condition raised, the caller evaluates it again to say why). Several breakpoints
    in one function are compiled into one code object."""

    def __init__(self, hit):
        self._hit = hit
        self._hooks = _ById()  # original code -> {line: (hook id, condition)}
        self._of_hook = {}  # hook id -> (original code, line)
        self._swapped = _ById()  # original code -> (swaps, hooked code, closures made from it?)
        self._makers = _ById()  # original code -> the makers given when it was first compiled
        self._verified = _ById()  # code -> the source it was checked against
        # Every hooked code made, to its original: frames may still run one taken out (a trace
        # function skips its hook lines, and traces the lines it lacks).
        self.made = _Made()
        # hook id -> the passes its compiled condition was false (any id: a frame may still run
        # the code of a breakpoint taken out, and count in it)
        self.misses = collections.defaultdict(int)
        # hook id -> the passes its compiled hit condition counted (those its condition let by)
        self.counts = collections.defaultdict(int)

    def install_hook(self):
        """The names the compiled code reaches (in builtins: no module's globals change)."""
        hit = self._hit
        getframe = sys._getframe

        def __qdb_bp__(hook_id, raised=False):
            hit(hook_id, getframe(1), raised)

        setattr(builtins, HOOK_NAME, __qdb_bp__)
        setattr(builtins, MISS_NAME, self.misses)
        setattr(builtins, HITS_NAME, self.counts)

    def uninstall_hook(self):
        """The hook does nothing from now on. Its names stay: a frame that still runs compiled
        code (the function that stopped when the debugger left, a forked child's copy of it)
        calls them until it returns, and must not fail."""
        if not self._swapped:
            setattr(builtins, HOOK_NAME, _no_hook)

    def forget_hook(self):
        """After `remove_all`, at a detach that leaves no trace: the hook's names leave
        builtins, unless some code a breakpoint was compiled into is still alive (a frame, a
        generator runs it: it calls them until it returns)."""
        if self._runs_hooked_code():
            return False
        ours = {MISS_NAME: self.misses, HITS_NAME: self.counts}
        for name in (HOOK_NAME, MISS_NAME, HITS_NAME):
            value = builtins.__dict__.get(name)
            if value is not None and (value is ours.get(name) or name == HOOK_NAME and (
                    value is _no_hook or getattr(value, "__name__", "") == HOOK_NAME)):
                delattr(builtins, name)
        return True

    def _runs_hooked_code(self):
        """Whether a thread's stack, or a generator or coroutine not finished, is in code a
        breakpoint was compiled into."""
        made = self.made
        for frame in sys._current_frames().values():
            while frame is not None:
                if frame.f_code in made:
                    return True
                frame = frame.f_back
        import gc
        import types
        kinds = (types.GeneratorType, types.CoroutineType, types.AsyncGeneratorType)
        for obj in gc.get_objects():
            if isinstance(obj, kinds):
                frame = getattr(obj, "gi_frame", None) or getattr(obj, "cr_frame", None) or \
                    getattr(obj, "ag_frame", None)
                if frame is not None and frame.f_code in made:
                    return True
        return False

    def original(self, code):
        """The code a function had before its breakpoints were compiled into it."""
        return self.made.get(code, code)

    def makes(self, code):
        """Whether the functions that make closures of `code` were found (and make them with
        its breakpoints)."""
        entry = self._swapped.get(code)
        return entry is not None and entry[2]

    def current(self, code):
        """The hooked code the functions of `code` (an original) run now, or None."""
        entry = self._swapped.get(code)
        return entry[1] if entry is not None else None

    def add(self, hook_id, code, line, cond=None, source=None, makers=None, hit=None,
            counted=0):
        """Compiles a breakpoint at `line` into every function running `code` (the original:
        with the others compiled into it) and into the functions that make it as a closure
        (`makers`, else found by qualified name). CannotCompile when it cannot (nothing changed
        then). The functions swapped."""
        hooks = dict(self._hooks.get(code, {}))
        hooks[line] = (hook_id, cond, hit)
        if makers:
            if code not in self._makers:
                self._makers[code] = makers
        functions = self._apply(code, hooks, source)
        self._of_hook[hook_id] = (code, line)
        if cond is not None:
            self.misses[hook_id] = 0
        if hit is not None:
            # The count a hit condition tests goes on from what it was (`counted`).
            self.counts[hook_id] = counted
        return functions

    def remove(self, hook_id):
        """The breakpoint taken out of its code (the original back when it was the last). The
        passes its condition was false, not reported yet."""
        where = self._of_hook.pop(hook_id, None)
        if where is None:
            return 0
        code, line = where
        hooks = dict(self._hooks.get(code, {}))
        hooks.pop(line, None)
        self._apply(code, hooks)
        self.counts.pop(hook_id, None)
        return self.misses.pop(hook_id, 0)

    def remove_all(self):
        for hook_id in list(self._of_hook):
            self.remove(hook_id)

    def take_misses(self, hook_id):
        """The false passes of a compiled condition since the last call."""
        n = self.misses.get(hook_id, 0)
        if n:
            self.misses[hook_id] -= n
        return n

    def _apply(self, code, hooks, source=None):
        """`code`'s functions get a code object with `hooks` (the original when none)."""
        hooked = None
        if hooks:
            if source is None:
                source = self._verified.get(code)
            hooked = compile_with_hooks(code, hooks, source, self._verified)
        self._restore(code)
        if not hooks:
            self._hooks.pop(code, None)
            self._makers.pop(code, None)
            self._verified.pop(code, None)
            return []
        functions = functions_of(code)
        makers = self._makers.get(code)
        if not functions and not makers:
            raise CannotCompile("no function runs %s (module or class code, or exec'd)"
                                % code.co_name)
        swaps = [(f, code) for f in functions]
        for f in functions:
            f.__code__ = hooked
        # Closures made from now on get the breakpoint too.
        _swap_makers(code, hooked, functions, swaps, makers)
        self._swapped[code] = (swaps, hooked, len(swaps) > len(functions))
        self._hooks[code] = hooks
        self.made.add(hooked, code)
        return functions

    def _restore(self, code):
        entry = self._swapped.pop(code, None)
        if entry is None:
            return
        swaps, hooked, makes = entry
        for f, original in reversed(swaps):
            f.__code__ = original
        if makes:
            # Closures made while the breakpoint was in: the original code back on them too.
            for f in functions_of(hooked):
                f.__code__ = code
