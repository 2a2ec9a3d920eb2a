"""Where code is, for the qdb bridge's breakpoints: the lines of a file that hold code, a file
named as a client names it, and the first line of a function's body (from the live object, or
from the source, statically, without importing anything).

A Locator owns its cache of executable lines (by path, mtime and size); what is the program's
code it asks of a ProgramCode (qdb_code).
"""

import builtins
import os
import sys
import types

from qdb_common import _CommandError, read_source_bytes


class Locator(object):
    """Files, lines and functions of the program's code."""

    def __init__(self, code, program_dir):
        self.code = code
        self.program_dir = program_dir
        self._lines_cache = {}  # path -> (mtime, size, set of lines, number of lines)

    def executable_lines(self, path):
        """Lines that hold code, from compiling the file (all nested code objects), cached by
        path, mtime and size."""
        st = os.stat(path)
        key = (st.st_mtime_ns, st.st_size)
        cached = self._lines_cache.get(path)
        if cached is not None and cached[0] == key:
            return cached[1], cached[2]
        source = read_source_bytes(path)
        nlines = source.count(b"\n") + (0 if source.endswith(b"\n") or not source else 1)
        code = compile(source, path, "exec", dont_inherit=True)
        lines = set()
        todo = [code]
        while todo:
            c = todo.pop()
            lines.update(self.code.own_lines(c))
            todo.extend(k for k in c.co_consts if isinstance(k, types.CodeType))
        self._lines_cache[path] = (key, lines, nlines)
        return lines, nlines

    def resolve_file(self, name):
        if name is None:
            return self.code.program
        name = os.path.expanduser(name)
        if os.path.isabs(name):
            candidates = [name]
        else:
            candidates = [os.path.join(self.program_dir, name), os.path.join(os.getcwd(), name)]
            for entry in sys.path:
                if isinstance(entry, str):
                    candidates.append(os.path.join(entry or os.getcwd(), name))
        for c in candidates:
            if os.path.isfile(c):
                return self.code.canon(c)
        return None

    def function_line(self, name, file_arg, spaces, full):
        """Where a breakpoint on function `name` goes: (file, first line of its body). The
        live object first (looked up in `spaces`; with `full` False, statically: no code of
        the program runs), then the function's definition in the given or main file, or in a
        module found without importing it."""
        label = '"%s"' % name
        # 1. The live object, when the program has a namespace to look it up in.
        obj = self.lookup(name, spaces, full)
        if obj is not None:
            code = self.code_of(obj)
            if code is not None:
                path = self.resolve_file(code.co_filename)
                if path is not None:
                    line = self._body_line_for_code(path, code)
                    if line is not None:
                        return path, line
        # 2. Statically: in the given (or main) file, then in a module found without importing it.
        if file_arg is not None:
            path = self.resolve_file(file_arg)
            if path is None:
                raise _CommandError("set_break", "Cannot set breakpoint on %s: no such file %s"
                                    % (label, file_arg))
            places = [(path, name)]
        else:
            places = [(self.code.program, name)]
            parts = name.split(".")
            for i in range(len(parts) - 1, 0, -1):
                mod = ".".join(parts[:i])
                origin = self.module_origin(mod)
                if origin:
                    places.append((origin, ".".join(parts[i:])))
        for path, qual in places:
            line = self._static_function_line(path, qual)
            if line is not None:
                return self.code.canon(path), line
        where = file_arg or os.path.basename(self.code.program)
        raise _CommandError("set_break", "Cannot set breakpoint on %s: no function of that name "
                            "in %s (nor a module of that name)" % (label, where))

    def lookup(self, name, spaces, full):
        """The object a dotted name names in `spaces` (then builtins, then sys.modules), or
        None."""
        parts = name.split(".")
        spaces = list(spaces) + [vars(builtins)]
        for space in spaces:
            try:
                if parts[0] in space:
                    obj = space[parts[0]]
                    break
            except Exception:
                continue
        else:
            obj = sys.modules.get(parts[0])
            if obj is None:
                return None
        # Under a restrictive policy no code of the program runs to find a function: static
        # lookups only (no property getters, no __getattr__).
        if full:
            get = getattr
        else:
            import inspect
            get = inspect.getattr_static
        try:
            for attr in parts[1:]:
                obj = get(obj, attr)
        except Exception:
            return None
        return obj

    def code_of(self, obj):
        try:
            import inspect
            obj = inspect.unwrap(obj)
        except Exception:
            pass
        for _ in range(3):
            if isinstance(obj, (staticmethod, classmethod)) or hasattr(obj, "__func__"):
                obj = getattr(obj, "__func__", obj)
        code = getattr(obj, "__code__", None)
        return code if isinstance(code, types.CodeType) else None

    def _parse(self, path):
        import ast
        return ast.parse(read_source_bytes(path), path)

    def _function_nodes(self, tree):
        import ast
        stack = [(tree, "")]
        while stack:
            node, prefix = stack.pop()
            for child in ast.iter_child_nodes(node):
                if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    qual = prefix + child.name
                    if not isinstance(child, ast.ClassDef):
                        yield qual, child
                    stack.append((child, qual + "."))
                else:
                    stack.append((child, prefix))

    def _body_line(self, path, node):
        import ast
        body = node.body
        first = body[0]
        if (len(body) > 1 and isinstance(first, ast.Expr)
                and isinstance(getattr(first, "value", None), ast.Constant)
                and isinstance(first.value.value, str)):
            first = body[1]
        line = first.lineno
        try:
            lines, _ = self.executable_lines(path)
            end = getattr(node, "end_lineno", None) or line + 1000
            after = [n for n in lines if line <= n <= end]
            if after:
                return min(after)
        except Exception:
            pass
        return line

    def _first_body_line(self, path, matches):
        """The first body line of the first function of `path` for which `matches(qual, node)`
        is true, or None. Raises when the file cannot be read or parsed."""
        for qual, node in self._function_nodes(self._parse(path)):
            if matches(qual, node):
                return self._body_line(path, node)
        return None

    def _static_function_line(self, path, qual):
        try:
            return self._first_body_line(path, lambda q, node: q == qual)
        except Exception:
            return None

    def _body_line_for_code(self, path, code):
        first = code.co_firstlineno

        def matches(_, node):
            starts = [node.lineno] + [d.lineno for d in node.decorator_list]
            return first in starts and node.name == code.co_name

        try:
            line = self._first_body_line(path, matches)
        except Exception:
            return None
        if line is not None:
            return line
        lines = sorted(n for n in self.code.own_lines(code) if n > first)
        return lines[0] if lines else first

    def module_origin(self, name):
        """The source file of module `name`, found without importing anything: a loaded
        module's __file__, else a search of sys.path (find_spec would import the parent
        packages of a dotted name, running their top-level code)."""
        mod = sys.modules.get(name)
        if mod is not None:
            origin = getattr(mod, "__file__", None)
            if isinstance(origin, str) and origin.endswith(".py") and os.path.isfile(origin):
                return origin
            return None
        parts = name.split(".")
        if not all(part.isidentifier() for part in parts):
            return None
        for entry in [self.program_dir] + list(sys.path):
            if not isinstance(entry, str):
                continue
            base = os.path.join(entry or os.getcwd(), *parts)
            for candidate in (base + ".py", os.path.join(base, "__init__.py")):
                if os.path.isfile(candidate):
                    return candidate
        return None
