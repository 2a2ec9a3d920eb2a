"""Which code is the program's, for the qdb bridge: files by their canonical path, the lines a code
object owns, and the frames a client sees (never the bridge's, the bootstrap's or those of
modules the session skips, pdb's ``skip``).

A ProgramCode owns its caches (each decided once per file name or code object); the bridge's
parts ask it instead of keeping their own.
"""

import os
import sys


class ProgramCode(object):
    """What is the program's code, and where it is."""

    def __init__(self, own_files, boot_globals, skip, program, read_any):
        self.own_files = own_files  # the bridge's files (qdb_common._BRIDGE_FILES)
        self.program = program  # the main file, absolute
        self.read_any = read_any  # eval policy "full": a client may read any file
        self.boot_globals = boot_globals  # the bootstrap's globals (`python -c BOOTSTRAP`)
        self.skip = [str(s) for s in skip]  # module or file patterns never stopped in
        self._canon = {}
        self._own_lines = {}
        self._ignored = {}

    def canon(self, filename):
        """A file name as every part of qdb names it: real and absolute (<pseudo> names kept)."""
        r = self._canon.get(filename)
        if r is None:
            if filename.startswith("<") and filename.endswith(">"):
                r = filename
            else:
                r = os.path.realpath(os.path.abspath(filename))
            self._canon[filename] = r
        return r

    def own_lines(self, code):
        """The lines `code` itself starts instructions on (not those of code nested in it)."""
        r = self._own_lines.get(code)
        if r is None:
            if hasattr(code, "co_lines"):
                r = frozenset(line for _, _, line in code.co_lines() if line)
            else:
                import dis
                r = frozenset(line for _, line in dis.findlinestarts(code) if line)
            self._own_lines[code] = r
        return r

    def is_ignored(self, frame):
        """Never stop in (or show) the bridge's frames, the bootstrap and skipped modules."""
        code = frame.f_code
        r = self._ignored.get(code)
        if r is None:
            fn = code.co_filename
            r = fn in self.own_files or (fn == "<string>" and frame.f_globals is self.boot_globals)
            if not r and self.skip:
                r = self._matches_skip(frame.f_globals.get("__name__"), fn)
            self._ignored[code] = r
        return r

    def _matches_skip(self, module, filename):
        import fnmatch
        path = self.canon(filename) if filename else ""
        for pattern in self.skip:
            if module and fnmatch.fnmatchcase(module, pattern):
                return True
            if path and (fnmatch.fnmatchcase(path, pattern)
                         or fnmatch.fnmatchcase(os.path.basename(path), pattern)):
                return True
        return False

    def file_skipped(self, path):
        """Whether the session skips this file (by its module name or its path)."""
        if not self.skip:
            return False
        return self._matches_skip(self.module_name_of(path), path)

    def module_name_of(self, path):
        """The dotted module name a file would be imported as, from sys.path."""
        best = None
        for entry in sys.path:
            if not isinstance(entry, str):
                continue
            root = self.canon(entry or os.getcwd())
            if path.startswith(root.rstrip(os.sep) + os.sep):
                rel = path[len(root.rstrip(os.sep)) + 1:]
                if best is None or len(rel) < len(best):
                    best = rel
        if best is None:
            best = os.path.basename(path)
        name = os.path.splitext(best)[0].replace(os.sep, ".")
        if name.endswith(".__init__"):
            name = name[: -len(".__init__")]
        return name

    def frames_from(self, frame):
        """Program frames from the outermost to `frame`, as (frame, lineno)."""
        out = []
        while frame is not None:
            if not self.is_ignored(frame):
                out.append((frame, frame.f_lineno))
            frame = frame.f_back
        out.reverse()
        return out

    def frames_from_tb(self, tb):
        """Program frames of a traceback, as (frame, lineno)."""
        out = []
        while tb is not None:
            if not self.is_ignored(tb.tb_frame):
                out.append((tb.tb_frame, tb.tb_lineno))
            tb = tb.tb_next
        return out

    def source_line(self, frame, lineno):
        """The text of a line of a frame's code ("" when there is none)."""
        import linecache
        fn = frame.f_code.co_filename
        try:
            return linecache.getline(fn, lineno, frame.f_globals).rstrip("\r\n")
        except Exception:
            return ""

    def may_read(self, path, any_under_full=True):
        """Whether `list` and `set_break` may read this file. With eval policy "full" a client
        can run any code, so any file; otherwise only the program's own Python source: the
        program, the files of loaded modules and of code that ran, and .py files under the
        program's directory or sys.path. Files outside say "no such file", as missing ones do,
        so that the answer is no oracle for what exists. `source` (which editors and `list`
        read) asks without the shortcut of "full": the program's code only."""
        if self.read_any and any_under_full:
            return True
        path = self.canon(path)
        if path == self.program:
            return True
        import linecache
        if path in linecache.cache:
            return True
        for mod in list(sys.modules.values()):
            f = getattr(mod, "__file__", None)
            if isinstance(f, str) and self.canon(f) == path:
                return True
        if not path.endswith(".py"):
            return False
        roots = [os.path.dirname(self.program)] + [e for e in sys.path if isinstance(e, str) and e]
        for root in roots:
            root = self.canon(root)
            if path.startswith(root.rstrip(os.sep) + os.sep):
                return True
        return False
