"""Breakpoints compiled into the code, for the qdb bridge (issue 28; not yet used by the bridge's
breakpoint table: this module is the mechanism, tested on its own).

A line breakpoint in a function becomes a call at the start of that line, in a new code object
for the one function that holds it; the rest of the program runs untouched, with no trace
function. How, and why this way:

- The function's source is compiled again with the call inserted (the ``ast`` module keeps the
  line numbers; the call and its condition carry the breakpoint's line, so the stopped frame's
  ``f_lineno`` is that line and no extra frame of the program's appears). Bytecode rewriting
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
  costs what it computes.
- Every function object that shares the code object gets the new one (``gc.get_referrers``),
  and so do the functions that make it as a closure, found by its qualified name (their code,
  with the new one among its constants): closures made later have the breakpoint too (not yet
  for a closure made by a closure: its maker is found by no name). Removing it puts the
  original back on each, closures made meanwhile included.

Standard library only.
"""

import ast
import builtins
import gc
import sys
import types

HOOK_NAME = "__qdb_bp__"

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


class _InsertHook(ast.NodeTransformer):
    """Puts the hook call before the statement that starts `line` (in the function's own body,
    not in functions nested in it)."""

    def __init__(self, line, hook_id, cond):
        self.line = line
        self.hook_id = hook_id
        self.cond = cond
        self.done = False
        self.depth = 0

    def _call(self, at):
        call = ast.Expr(value=ast.Call(
            func=ast.Name(id=HOOK_NAME, ctx=ast.Load()),
            args=[ast.Constant(value=self.hook_id)], keywords=[]))
        stmt = call
        if self.cond is not None:
            test = ast.parse(self.cond, mode="eval").body
            stmt = ast.If(test=test, body=[call], orelse=[])
        for node in ast.walk(stmt):
            ast.copy_location(node, at)
            if hasattr(node, "end_lineno"):
                node.end_lineno = at.lineno
                node.end_col_offset = at.col_offset
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
                    if not self.done and stmt.lineno == self.line:
                        out.append(self._call(stmt))
                        self.done = True
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


def _same(a, b):
    """Whether two code objects compile the same (their bytecode, names and variables)."""
    return (a.co_code == b.co_code and a.co_names == b.co_names
            and a.co_varnames == b.co_varnames and a.co_freevars == b.co_freevars
            and a.co_cellvars == b.co_cellvars and a.co_argcount == b.co_argcount
            and a.co_firstlineno == b.co_firstlineno
            and (a.co_flags | _CO_NESTED) == (b.co_flags | _CO_NESTED))


def compile_with_hook(code, line, hook_id, cond=None, source=None, verified=None):
    """A new code object for `code` with ``__qdb_bp__(hook_id)`` (under ``if cond:`` when a
    condition is given) at the start of `line`. Raises CannotCompile when the source does not
    give back the loaded code exactly, or `line` starts no statement of the function itself.
    `verified` (a dict) remembers the source each code object was checked against: the same
    source is not compiled twice to check it again."""
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
    if cond is not None:
        try:
            ast.parse(cond, mode="eval")
        except SyntaxError as exc:
            raise CannotCompile("the condition does not parse: %s" % exc)
    inserter = _InsertHook(line, hook_id, cond)
    node = inserter.visit(node)
    if not inserter.done:
        raise CannotCompile("line %d starts no statement of %s" % (line, code.co_name))
    hooked = _compile_function(node, code, free, imports)
    if hooked.co_freevars != code.co_freevars:
        raise CannotCompile("the hooked %s would not fit its closures" % code.co_name)
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


def _swap_makers(code, hooked, functions, swaps):
    """The functions that make closures of `code` make them of `hooked` from now on: their own
    code with `hooked` in its constants. Each swap is recorded in `swaps` as (function, its
    original code)."""
    for maker in _makers(code, functions):
        outer = maker.__code__
        consts = tuple(hooked if k is code else k for k in outer.co_consts)
        replaced = outer.replace(co_consts=consts)
        for f in functions_of(outer):
            swaps.append((f, outer))
            f.__code__ = replaced


class CompiledBreakpoints(object):
    """Breakpoints compiled into functions: set, and taken back. `hit(hook_id, frame)` is
    called at each hit (in the thread that hit it, from the hook's own frame)."""

    def __init__(self, hit):
        self._hit = hit
        self._swapped = {}  # hook id -> [(function, its code before)], in the order swapped
        self._verified = {}  # code -> the source it was checked against

    def install_hook(self):
        """The name the compiled calls reach (in builtins: no module's globals change)."""
        hit = self._hit

        def __qdb_bp__(hook_id):
            hit(hook_id, sys._getframe(1))

        setattr(builtins, HOOK_NAME, __qdb_bp__)

    def uninstall_hook(self):
        if getattr(builtins, HOOK_NAME, None) is not None and not self._swapped:
            delattr(builtins, HOOK_NAME)

    def add(self, hook_id, code, line, cond=None, source=None):
        """Compiles the breakpoint into every function running `code`; the functions swapped.
        CannotCompile when it cannot (nothing changed then)."""
        functions = functions_of(code)
        if not functions:
            raise CannotCompile("no function runs %s (module or class code, or exec'd)"
                                % code.co_name)
        hooked = compile_with_hook(code, line, hook_id, cond, source, self._verified)
        swaps = [(f, code) for f in functions]
        for f in functions:
            f.__code__ = hooked
        # Closures made from now on get the breakpoint too.
        _swap_makers(code, hooked, functions, swaps)
        makes = len(swaps) > len(functions)
        self._swapped[hook_id] = (swaps, code, hooked, makes)
        return functions

    def remove(self, hook_id):
        """The original code back on every function that got the hooked one."""
        entry = self._swapped.pop(hook_id, None)
        if entry is None:
            return
        swaps, code, hooked, makes = entry
        for f, original in reversed(swaps):
            f.__code__ = original
        if makes:
            # Closures made while the breakpoint was in: the original code back on them too.
            for f in functions_of(hooked):
                f.__code__ = code
