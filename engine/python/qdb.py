"""qdb bridge: the debugger core that runs inside the debugged Python interpreter.

The Deno side (python_engine.ts) writes this file into a private temporary directory and runs

    PYTHON -c BOOTSTRAP TMPDIR PROGRAM ARGS...

with the configuration as JSON in the environment variable QDB_BRIDGE. The bootstrap checks the
Python version (it must run on any Python, so it is written in the oldest syntax), imports this
file as module ``qdb`` and calls ``_main()``, which connects to the Unix socket named in the
configuration, says ``hello``, and runs PROGRAM as ``__main__`` the way ``python PROGRAM`` would.

Messages on the socket are framed like the tracer link (protocol/framing.ts): a 4-byte big-endian
length, then UTF-8 JSON ``{"e", "p", "id"}``. Commands come in, tracer events go out.

Design, briefly (the reasons are next to the code):
- No bdb: bdb's global trace function traces every line of every frame and makes programs 7-13x
  slower. Breakpoints use sys.monitoring on 3.12+ (events only on code objects that hold a
  breakpoint, and each line without one disabled after its first event), and on 3.8-3.11 a
  filtered sys.settrace whose call handler returns a local tracer only for code objects that hold
  a breakpoint (decided once per code object). Nothing is installed without breakpoints.
- Stepping uses a per-thread sys.settrace with bdb's stepping rules, only on the stepping thread.
- Pause: the reader thread sets a flag, turns on line events (3.12+: global LINE monitoring;
  older: f_trace on the threads' frames) and sends SIGUSR2 to the main thread, whose handler
  stops right where the main thread was (even inside time.sleep).
- Program output: fds 1 and 2 are replaced by pipes; a forwarder thread relays what arrives as
  ``print`` events. Before any stop, the pipes are drained under the lock that sends events, so
  output printed before a stop reaches clients before that stop.

The bridge is a package of modules that qdb writes next to each other: this one (the Bridge:
channel, breakpoints, stepping, stops, commands), qdb_output (the program's output and input, a
mixin), qdb_repr (values as text, a mixin), qdb_inspect (protocol 2's frames, references and
source) and qdb_threads (trace functions of running threads on 3.9-3.11).
"""

import builtins
import copy
import json
import os
import queue
import re
import signal
import socket
import struct
import sys
import threading
import time
import types

import qdb_inspect
import qdb_threads
from qdb_output import MAX_OUTPUT as _MAX_OUTPUT
from qdb_output import _MISSING, OutputMixin, _Capture
from qdb_repr import ReprMixin, _exc_line

_PY312 = sys.version_info >= (3, 12)
_PY313 = sys.version_info >= (3, 13)

# The signal qdb uses to interrupt the main thread (pause, eval timeout, retrace on 3.8-3.11).
# A handler the program installs for it later is chained (see _install_signal_hooks).
PAUSE_SIGNAL = signal.SIGUSR2

# co_flags of frames whose return events are suspensions (as bdb's GENERATOR_AND_COROUTINE_FLAGS).
_GEN_FLAGS = 0x20 | 0x80 | 0x200

_BRIDGE_FILE = os.path.abspath(__file__)
_BRIDGE_FILES = {_BRIDGE_FILE, __file__}
for _module in (qdb_inspect, qdb_threads, sys.modules["qdb_output"], sys.modules["qdb_repr"]):
    _BRIDGE_FILES.update((_module.__file__, os.path.abspath(_module.__file__)))

# The largest file `list` reads: a source file, not a log or a disk image.
_MAX_LIST_BYTES = 4 * 1024 * 1024

_RESUME_COMMANDS = frozenset(["step", "next", "return", "until", "continue"])
_FRAME_COMMANDS = frozenset(
    ["step", "next", "return", "until", "continue", "eval", "pprint", "up", "down", "frame",
     "locals", "globals", "args"]
)



class _CommandError(Exception):
    """A command failed in a way the client should hear about: becomes an ``error`` event."""

    def __init__(self, type_, data):
        Exception.__init__(self, data if isinstance(data, str) else type_)
        self.type = type_
        self.data = data


class _EvalTimeout(BaseException):
    """Raised asynchronously in a thread whose eval ran out of time (BaseException so that a
    bare ``except Exception`` in the evaluated code does not swallow it)."""


class _PolicyRefused(Exception):
    pass




def _strip_one_newline(text):
    return text[:-1] if text.endswith("\n") else text


class _Breakpoint(object):
    __slots__ = ("id", "file", "line", "temp", "cond", "func", "enabled", "ignore", "hits",
                 "compiled", "pending", "hit_condition", "hit_test", "log", "cond_hits",
                 "log_parts", "log_code")

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
        return out


_HIT_CONDITION = re.compile(r"^\s*(>=|>|==|=|<=|<|%)?\s*(\d+)\s*$")


def _hit_test(text):
    """The test of a hit condition (`>= 5`, `% 10`, a bare `5` as `>= 5`), or None for none."""
    if text is None:
        return None
    m = _HIT_CONDITION.match(text) if isinstance(text, str) else None
    if m is None:
        raise _CommandError("payload", 'hit_condition must be an operator (>=, >, ==, <, <=, %) '
                            'and a count, such as ">= 5", got %r' % (text,))
    op, n = m.group(1) or ">=", int(m.group(2))
    return {
        ">=": lambda h: h >= n, ">": lambda h: h > n, "==": lambda h: h == n,
        "=": lambda h: h == n, "<=": lambda h: h <= n, "<": lambda h: h < n,
        "%": lambda h: n > 0 and h % n == 0,
    }[op]


def _log_parts(text):
    """A logpoint message as (literal, expression) pairs: `{expr}` parts, `{{` and `}}` for
    braces; braces inside an expression nest (a dict display)."""
    parts = []
    literal = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c in "{}" and text.startswith(c * 2, i):
            literal.append(c)
            i += 2
            continue
        if c != "{":
            literal.append(c)
            i += 1
            continue
        depth, j = 1, i + 1
        while j < n and depth:
            depth += {"{": 1, "}": -1}.get(text[j], 0)
            j += 1
        if depth:
            literal.append(text[i:])
            break
        parts.append(("".join(literal), text[i + 1:j - 1]))
        literal = []
        i = j
    parts.append(("".join(literal), None))
    return parts


class _Stepper(object):
    """bdb's stepping state, for one thread."""
    __slots__ = ("stopframe", "returnframe", "stoplineno", "entry")

    def __init__(self, stopframe=None, returnframe=None, stoplineno=0, entry=False):
        self.stopframe = stopframe
        self.returnframe = returnframe
        self.stoplineno = stoplineno
        self.entry = entry


class _Stop(object):
    """One stop of one thread: its frames (oldest first) and the selected one."""

    def __init__(self, ident, thread_name, frames, reason, post_mortem=False):
        self.ident = ident
        self.thread_name = thread_name
        self.frames = frames  # list of (frame, lineno)
        self.index = len(frames) - 1
        self.reason = reason
        self.breakpoint = None
        self.post_mortem = post_mortem
        self.exception = None  # payload of the exception event, resent on start
        self.exc_value = None  # the exception object itself, for exception_info
        self.locals_cache = {}

    @property
    def frame(self):
        return self.frames[self.index][0]





class Bridge(OutputMixin, ReprMixin):
    """The debugger. All state is per instance (bdb's warning about class state applies)."""

    def __init__(self, config, program, boot_globals):
        self._config = config
        self._token = config.get("token", "")
        self._program = program  # absolute path of the main file
        self._program_arg = config.get("program_arg") or program
        self._program_dir = os.path.dirname(program)
        self._boot_globals = boot_globals
        self._stop_on_entry = bool(config.get("stop_on_entry", True))
        self._stopped_once = False  # until then, a stop at entry is still to come
        self._eval_policy = config.get("eval_policy") or "full"
        self._eval_timeout = float(config.get("eval_timeout") or 0)
        self._break_on = config.get("break_on") or "uncaught"
        self._skip = [str(s) for s in (config.get("skip") or [])]
        self._pid = os.getpid()
        self._main_ident = threading.main_thread().ident
        self._main_globals = None

        # Channel.
        self._sock = None
        self._send_lock = threading.RLock()
        self._channel_ok = False
        self._early = b""  # bytes read before the reader loop started
        self._queue = queue.Queue()
        self._inspector = qdb_inspect.Inspector(self, _BRIDGE_FILES)
        # What the core watches: evaluated here at every stop and frame change, and sent
        # (`watch_values`) before the stop, so that a stop costs no extra round trip.
        self._stop_watches = []
        # 3.9-3.11: breakpoints reach threads that already run (see qdb_threads).
        self._thread_tracer = None if _PY312 else qdb_threads.ThreadTracer()
        self._pause_traced = False  # threads were given a trace function only to pause or hold
        self._state_lock = threading.RLock()
        self._stopped_mode = False
        self._internal = set()  # idents of the bridge's own threads

        # Lifecycle.
        self._active = False
        self._detached = False
        self._detaching = False
        self._exit_sigint = False
        self._last_exc_stop = None

        # Breakpoints.
        self._bps = {}
        self._bp_by_file = {}  # canonical file -> {line: [bp...]}
        # Breakpoints on functions of modules not found yet: they bind when an import makes
        # their name resolvable (see _bind_pending).
        self._pending_bps = {}
        self._real_import = None
        self._modules_seen = 0
        self._next_bp_id = 1
        self._bp_lock = threading.RLock()
        self._lines_cache = {}  # path -> (mtime, size, set of lines, number of lines)

        # Caches keyed by code object.
        self._canon_cache = {}
        self._own_lines_cache = {}
        self._code_bp_lines = {}  # code -> frozenset of breakpoint lines (or None)
        self._ignored_code = {}  # code -> True when never stopped in (bridge, skip)

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
        self._gate = None  # a lock held while `_holding` is set
        self._held = {}  # ident -> _Stop (reason "held") of a thread waiting at the gate
        self._held_resume = {}  # ident -> the resume a held thread applies when it goes on
        self._entering_hold = set()  # idents between the decision to hold and the wait

        # Signals.
        self._signal_requests = 0
        self._sig_retrace = False
        self._sig_detach = False
        self._sig_timeout = None
        self._chained_handler = signal.SIG_DFL
        self._orig_signal = signal.signal
        self._orig_getsignal = signal.getsignal

        # Eval deadline (one watchdog thread).
        # The eval thread only touches the raw C lock: an asynchronous exception can land at any
        # bytecode, and one inside threading.Condition's Python code would leak its lock.
        self._wd_lock = threading.Lock()
        self._wd_wake = threading.Event()
        self._wd_job = None
        self._wd_thread = None
        self._set_async_exc = None

        # Output.
        self._streams = []
        self._forwarder = None
        self._libc_fflush = _MISSING

        # Policy hook.
        self._hook = None
        self._hook_error = None
        self._orig_excepthook = None

    # ------------------------------------------------------------------ channel

    def connect(self):
        path = self._config["channel"]
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(path)
        self._sock = sock
        self._channel_ok = True
        impl = {"cpython": "CPython", "pypy": "PyPy"}.get(sys.implementation.name,
                                                        sys.implementation.name)
        self._send("hello", {
            "token": self._token,
            "runtime": "%s %s" % (impl, sys.version.split()[0]),
            "pid": os.getpid(),
            "capabilities": [
                "pause", "threads", "post_mortem", "exception_break", "function_breakpoints",
                "conditional_breakpoints", "watches", "eval_timeout", "eval_policy",
                "complete", "set_trace", "hit_conditions", "logpoints",
            ] + (["running_threads"] if _PY312 or (
                self._thread_tracer is not None and self._thread_tracer.available) else []),
        })

    def _send(self, e, p=_MISSING, id_=None):
        """Sends one event; False when the channel is gone (detaching is the reader's job)."""
        msg = {"e": e}
        if p is not _MISSING:
            msg["p"] = p
        if id_ is not None:
            msg["id"] = id_
        try:
            body = json.dumps(msg, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        except UnicodeEncodeError:
            # Lone surrogates (from surrogateescape text) cannot be UTF-8: escape them instead.
            body = json.dumps(msg, separators=(",", ":")).encode("ascii")
        with self._send_lock:
            if not self._channel_ok:
                return False
            try:
                self._sock.sendall(struct.pack(">I", len(body)) + body)
                return True
            except OSError:
                self._channel_ok = False
                return False

    def _error(self, type_, data, command=None, id_=None):
        p = {"type": type_, "data": data}
        if command:
            p["command"] = command
        self._send("error", p, id_)

    def _internal_thread(self):
        """First call of each bridge thread (started by qdb_threads.start_internal): it is never traced
        nor stopped in."""
        self._internal.add(threading.get_ident())
        sys.settrace(None)
        sys.setprofile(None)

    def _reader_loop(self):
        self._internal_thread()
        # Frames that came with the capture answer are handled first: nothing may follow them
        # (a client's `start` waits for its reply, and the program for its input).
        buf, self._early = self._early, b""
        sock = self._sock
        try:
            while True:
                while len(buf) >= 4:
                    (size,) = struct.unpack(">I", buf[:4])
                    if len(buf) < 4 + size:
                        break
                    body, buf = buf[4:4 + size], buf[4 + size:]
                    self._on_frame(body)
                if self._detached:
                    break
                try:
                    chunk = sock.recv(262144)
                except OSError:
                    break
                if not chunk:
                    break
                buf += chunk
        finally:
            if not self._detached:
                # The tracer went away: let the program run on, untraced. Its pipes may not be
                # closed yet (a process killed with SIGKILL closes its fds one by one), so fds 1
                # and 2 stay on qdb's pipes: the forwarder passes output on while the tracer's
                # end still reads, and drops it once that end is gone, instead of the program
                # dying of EPIPE at its next print.
                self._channel_ok = False
                self.detach("soft", None, notify=False, restore=False)

    def _on_frame(self, body):
        try:
            msg = json.loads(body.decode("utf-8"))
        except Exception as exc:
            self._error("message", "Frame is not valid JSON: %s" % exc)
            return
        if not isinstance(msg, dict) or not isinstance(msg.get("e"), str):
            self._error("message", "Message must be an object with an \"e\" string")
            return
        id_ = msg.get("id")
        if not (id_ is None or isinstance(id_, (str, int))) or isinstance(id_, bool):
            id_ = None
        e = msg["e"]
        p = msg.get("p")
        # The frame that qdb's core has selected for protocol 1's commands (a frame id).
        fid = msg.get("frame")
        if not isinstance(fid, int) or isinstance(fid, bool):
            fid = None
        if e == "captured":
            return  # The tracer holds the output pipes (an answer that came late).
        try:
            with self._state_lock:
                stopped = self._stopped_mode
                if stopped and e in _RESUME_COMMANDS:
                    # A resume that cannot be done is refused here, and the program stays
                    # stopped; otherwise commands after it are handled as "running" even before
                    # the stopped thread has taken the resume from the queue.
                    if self._stop is not None:
                        self._resume_of(self._stop, e, p, self._view(self._stop, fid))
                    self._stopped_mode = False
                if stopped:
                    self._queue.put((e, p, id_, fid))
                    return
            self._running_command(e, p, id_)
        except _CommandError as err:
            self._error(err.type, err.data, e, id_)
        except Exception as exc:
            self._internal_error(exc, e, id_)

    def _internal_error(self, exc, command, id_):
        import traceback
        detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        self._error("internal", "qdb failed while handling %r: %s" % (command, detail),
                    command, id_)

    # ------------------------------------------------------------------ helpers on code/frames

    def _canon(self, filename):
        r = self._canon_cache.get(filename)
        if r is None:
            if filename.startswith("<") and filename.endswith(">"):
                r = filename
            else:
                r = os.path.realpath(os.path.abspath(filename))
            self._canon_cache[filename] = r
        return r

    def _own_lines(self, code):
        r = self._own_lines_cache.get(code)
        if r is None:
            if hasattr(code, "co_lines"):
                r = frozenset(line for _, _, line in code.co_lines() if line)
            else:
                import dis
                r = frozenset(line for _, line in dis.findlinestarts(code) if line)
            self._own_lines_cache[code] = r
        return r

    def _bp_lines_for(self, code):
        """The breakpoint lines inside `code` itself (not nested code), or None."""
        try:
            return self._code_bp_lines[code]
        except KeyError:
            pass
        r = None
        by_line = self._bp_by_file.get(self._canon(code.co_filename))
        if by_line:
            hit = self._own_lines(code).intersection(by_line)
            if hit:
                r = frozenset(hit)
        self._code_bp_lines[code] = r
        return r

    def _is_ignored(self, frame):
        """Never stop in (or show) the bridge's frames, the bootstrap and skipped modules."""
        code = frame.f_code
        r = self._ignored_code.get(code)
        if r is None:
            fn = code.co_filename
            r = fn in _BRIDGE_FILES or (fn == "<string>" and frame.f_globals is self._boot_globals)
            if not r and self._skip:
                r = self._matches_skip(frame.f_globals.get("__name__"), fn)
            self._ignored_code[code] = r
        return r

    def _matches_skip(self, module, filename):
        import fnmatch
        path = self._canon(filename) if filename else ""
        for pattern in self._skip:
            if module and fnmatch.fnmatchcase(module, pattern):
                return True
            if path and (fnmatch.fnmatchcase(path, pattern)
                         or fnmatch.fnmatchcase(os.path.basename(path), pattern)):
                return True
        return False

    def _file_skipped(self, path):
        if not self._skip:
            return False
        return self._matches_skip(self._module_name_of(path), path)

    def _module_name_of(self, path):
        """The dotted module name a file would be imported as, from sys.path."""
        best = None
        for entry in sys.path:
            if not isinstance(entry, str):
                continue
            root = self._canon(entry or os.getcwd())
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

    def _frames_from(self, frame):
        """Program frames from the outermost to `frame`, as (frame, lineno)."""
        out = []
        while frame is not None:
            if not self._is_ignored(frame):
                out.append((frame, frame.f_lineno))
            frame = frame.f_back
        out.reverse()
        return out

    def _frames_from_tb(self, tb):
        out = []
        while tb is not None:
            if not self._is_ignored(tb.tb_frame):
                out.append((tb.tb_frame, tb.tb_lineno))
            tb = tb.tb_next
        return out

    def _thread_info(self, ident):
        t = threading._active.get(ident)
        name = t.name if t is not None else "Thread-%d" % ident
        return {"id": ident, "name": name}

    def _source_line(self, frame, lineno):
        import linecache
        fn = frame.f_code.co_filename
        try:
            return linecache.getline(fn, lineno, frame.f_globals).rstrip("\r\n")
        except Exception:
            return ""

    # ------------------------------------------------------------------ breakpoints

    def _executable_lines(self, path):
        """Lines that hold code, from compiling the file (all nested code objects), cached by
        path, mtime and size."""
        st = os.stat(path)
        key = (st.st_mtime_ns, st.st_size)
        cached = self._lines_cache.get(path)
        if cached is not None and cached[0] == key:
            return cached[1], cached[2]
        with open(path, "rb") as f:
            source = f.read()
        nlines = source.count(b"\n") + (0 if source.endswith(b"\n") or not source else 1)
        code = compile(source, path, "exec", dont_inherit=True)
        lines = set()
        todo = [code]
        while todo:
            c = todo.pop()
            lines.update(self._own_lines(c))
            todo.extend(k for k in c.co_consts if isinstance(k, types.CodeType))
        self._lines_cache[path] = (key, lines, nlines)
        return lines, nlines

    def _resolve_file(self, name):
        if name is None:
            return self._program
        name = os.path.expanduser(name)
        if os.path.isabs(name):
            candidates = [name]
        else:
            candidates = [os.path.join(self._program_dir, name), os.path.join(os.getcwd(), name)]
            for entry in sys.path:
                if isinstance(entry, str):
                    candidates.append(os.path.join(entry or os.getcwd(), name))
        for c in candidates:
            if os.path.isfile(c):
                return self._canon(c)
        return None

    def _bp_label(self, file_arg, line):
        return '"%s:%s"' % (file_arg if file_arg else self._program_arg, line)

    def _check_line(self, path, file_arg, line):
        label = self._bp_label(file_arg, line)
        try:
            lines, nlines = self._executable_lines(path)
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
        if cond is None:
            return
        if self._eval_policy == "none":
            raise _CommandError("policy", 'Eval policy "none" refuses to run code '
                                "(breakpoint conditions included)")
        if self._eval_policy.startswith("hook:"):
            try:
                self._apply_policy(cond, "condition")
            except _PolicyRefused as exc:
                raise _CommandError("policy", str(exc))
        try:
            compile(cond, "<condition>", "eval", dont_inherit=True)
        except (SyntaxError, ValueError, UnicodeError, RecursionError, MemoryError,
                OverflowError) as exc:
            raise _CommandError("set_break", "Cannot use the condition %r: %s"
                                % (cond, _exc_line(exc)))

    def set_break(self, p, stop, from_config=False):
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
        self._check_cond_policy(cond)
        self._check_log(p.get("log"))
        _hit_test(p.get("hit_condition"))
        if line is None and file_arg is None and self._may_pend(func, stop):
            return self._add_pending(func, cond, p)
        if line is not None:
            path = self._resolve_file(file_arg)
            if path is not None and not self._may_read(path):
                path = None
            if path is None:
                raise _CommandError("set_break", "Cannot set breakpoint at %s: no such file"
                                    % self._bp_label(file_arg, line))
            self._check_line(path, file_arg, line)
            func_name = func if isinstance(func, str) else None
        else:
            path, line = self._resolve_function(func, file_arg, stop)
            func_name = func
        if self._file_skipped(path):
            raise _CommandError("set_break", "Cannot set breakpoint at %s: the file is skipped"
                                % self._bp_label(file_arg or path, line))
        with self._bp_lock:
            bp = self._new_bp(p, cond, func_name, path, line)
            self._bps[bp.id] = bp
            self._bp_by_file.setdefault(path, {}).setdefault(line, []).append(bp)
        self._breakpoints_changed()
        return bp

    def _may_pend(self, func, stop):
        """A dotted name whose first part is nothing known (in the selected frame, or the main
        script when running) and none of whose modules can be found yet: its code may load
        later."""
        if not isinstance(func, str) or "." not in func:
            return False
        if self._lookup_live(func, stop) is not None:
            return False
        parts = func.split(".")
        if not all(part.isidentifier() for part in parts):
            return False
        if stop is not None:
            spaces = [self._frame_locals(stop, stop.frame), stop.frame.f_globals]
        else:
            spaces = [self._main_globals or {}]
        try:
            if any(parts[0] in space for space in spaces) or hasattr(builtins, parts[0]):
                return False
        except Exception:
            return False
        return not any(self._module_origin(".".join(parts[:i])) for i in range(1, len(parts)))

    def _new_bp(self, p, cond, func, path, line):
        """A breakpoint from a set_break payload, with the next id. Call with the bp lock held."""
        bp = _Breakpoint()
        bp.id = self._next_bp_id
        self._next_bp_id += 1
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
        return bp

    def _add_pending(self, func, cond, p):
        with self._bp_lock:
            bp = self._new_bp(p, cond, func, None, None)
            self._pending_bps[bp.id] = bp
        self._watch_imports()
        return bp

    def _watch_imports(self):
        """While breakpoints are pending, every import statement tries to bind them."""
        if self._real_import is not None or not self._pending_bps:
            return
        real = builtins.__import__
        bridge = self

        def __import__(name, globals=None, locals=None, fromlist=(), level=0):
            module = real(name, globals, locals, fromlist, level)
            if bridge._pending_bps and len(sys.modules) != bridge._modules_seen:
                bridge._bind_pending()
            return module

        __import__.__doc__ = real.__doc__
        self._real_import = real
        builtins.__import__ = __import__

    def _unwatch_imports(self):
        real = self._real_import
        if real is not None and not self._pending_bps:
            self._real_import = None
            if getattr(builtins.__import__, "__name__", "") == "__import__" and \
                    builtins.__import__ is not real:
                builtins.__import__ = real

    def _bind_pending(self):
        """Binds the pending breakpoints whose function can be found now."""
        self._modules_seen = len(sys.modules)
        bound = False
        for bp in list(self._pending_bps.values()):
            try:
                path, line = self._resolve_function(bp.func, None, None)
            except Exception:
                continue
            with self._bp_lock:
                if self._pending_bps.pop(bp.id, None) is None:
                    continue
                bp.file = path
                bp.line = line
                bp.pending = False
                self._bps[bp.id] = bp
                self._bp_by_file.setdefault(path, {}).setdefault(line, []).append(bp)
            bound = True
        if bound:
            self._unwatch_imports()
            self._breakpoints_changed()
            self._send("breakpoints", self._breakpoints_payload())

    def _bp_by_id(self, id_):
        return self._bps.get(id_) or self._pending_bps.get(id_)

    def _delete_bp(self, bp):
        if self._pending_bps.pop(bp.id, None) is not None:
            self._unwatch_imports()
            return
        with self._bp_lock:
            if self._bps.pop(bp.id, None) is None:
                return
            by_line = self._bp_by_file.get(bp.file, {})
            lst = by_line.get(bp.line, [])
            if bp in lst:
                lst.remove(bp)
            if not lst:
                by_line.pop(bp.line, None)
            if not by_line:
                self._bp_by_file.pop(bp.file, None)

    def clear_break(self, p):
        if not isinstance(p, dict):
            raise _CommandError("payload", "clear_break needs an object {id} or {file?, line}")
        if p.get("id") is not None:
            bp = self._bp_by_id(p["id"])
            if bp is None:
                raise _CommandError("clear_break", "No breakpoint %s" % p["id"])
            self._delete_bp(bp)
        else:
            line = p.get("line")
            path = self._resolve_file(p.get("file"))
            found = [b for b in list(self._bps.values()) if b.file == path and b.line == line]
            if not found:
                raise _CommandError("clear_break", "No breakpoint at %s"
                                    % self._bp_label(p.get("file"), line))
            for b in found:
                self._delete_bp(b)
        self._breakpoints_changed()

    def update_break(self, p):
        if not isinstance(p, dict) or not isinstance(p.get("id"), int):
            raise _CommandError("payload", "update_break needs an object {id, ...}")
        bp = self._bp_by_id(p["id"])
        if bp is None:
            raise _CommandError("update_break", "No breakpoint %s" % p["id"])
        if "cond" in p:
            cond = p["cond"]
            if cond is not None and not isinstance(cond, str):
                raise _CommandError("payload", "update_break: cond must be a string or null")
            try:
                self._check_cond_policy(cond)
            except _CommandError as err:
                if err.type == "set_break":
                    err.type = "update_break"
                raise
            bp.cond = cond
            bp.compiled = None
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
        self._breakpoints_changed()

    def _breakpoints_payload(self):
        bps = list(self._bps.values()) + list(self._pending_bps.values())
        return [b.payload() for b in sorted(bps, key=lambda b: b.id)]

    def _breakpoints_changed(self):
        """Invalidates every per-code decision and re-arms the tracing backend."""
        self._code_bp_lines.clear()
        self._trace_cache.clear()
        self._update_tracing()

    def _resolve_function(self, name, file_arg, stop):
        if not isinstance(name, str) or not name:
            raise _CommandError("payload", "set_break: func must be a non-empty string")
        label = '"%s"' % name
        # 1. The live object, when the program has a namespace to look it up in.
        obj = self._lookup_live(name, stop)
        if obj is not None:
            code = self._code_of(obj)
            if code is not None:
                path = self._resolve_file(code.co_filename)
                if path is not None:
                    line = self._body_line_for_code(path, code)
                    if line is not None:
                        return path, line
        # 2. Statically: in the given (or main) file, then in a module found without importing it.
        if file_arg is not None:
            path = self._resolve_file(file_arg)
            if path is None:
                raise _CommandError("set_break", "Cannot set breakpoint on %s: no such file %s"
                                    % (label, file_arg))
            places = [(path, name)]
        else:
            places = [(self._program, name)]
            parts = name.split(".")
            for i in range(len(parts) - 1, 0, -1):
                mod = ".".join(parts[:i])
                origin = self._module_origin(mod)
                if origin:
                    places.append((origin, ".".join(parts[i:])))
        for path, qual in places:
            line = self._static_function_line(path, qual)
            if line is not None:
                return self._canon(path), line
        where = file_arg or os.path.basename(self._program)
        raise _CommandError("set_break", "Cannot set breakpoint on %s: no function of that name "
                            "in %s (nor a module of that name)" % (label, where))

    def _lookup_live(self, name, stop):
        parts = name.split(".")
        spaces = []
        if stop is not None:
            frame = stop.frame
            spaces = [self._frame_locals(stop, frame), frame.f_globals]
        elif self._main_globals is not None:
            spaces = [self._main_globals]
        spaces.append(vars(builtins))
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
        if self._eval_policy == "full":
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

    def _code_of(self, obj):
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
        with open(path, "rb") as f:
            return ast.parse(f.read(), path)

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
            lines, _ = self._executable_lines(path)
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
        lines = sorted(n for n in self._own_lines(code) if n > first)
        return lines[0] if lines else first

    def _module_origin(self, name):
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
        for entry in [self._program_dir] + list(sys.path):
            if not isinstance(entry, str):
                continue
            base = os.path.join(entry or os.getcwd(), *parts)
            for candidate in (base + ".py", os.path.join(base, "__init__.py")):
                if os.path.isfile(candidate):
                    return candidate
        return None

    # ------------------------------------------------------------------ tracing backends

    def _needs_line_tracing(self):
        return bool(self._bps) or self._break_on == "raised"

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
                if not self._is_ignored(frame):
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
            if not self._is_ignored(frame):
                frame.f_trace = self._bp_local_for(frame.f_code) if want else None
            frame = frame.f_back

    def _bp_local_for(self, code):
        if self._break_on == "raised" or self._bp_lines_for(code):
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
        if self._active and not self._is_ignored(frame):
            r = self._bp_local_for(code)
            if r is not None and self._break_on == "raised" and not self._bp_lines_for(code):
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
            lines = self._bp_lines_for(frame.f_code)
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
        if self._is_ignored(frame):
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
        if self._is_ignored(frame):
            return None
        if self._stop_here(st, frame) or self._bp_lines_for(frame.f_code):
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
            lines = self._bp_lines_for(frame.f_code)
            if lines and frame.f_lineno in lines:
                self._on_bp_line(frame)
                return frame.f_trace
            if self._pause_flag or self._holding is not None:
                self._maybe_pause(frame)
                return frame.f_trace
        elif event == "return":
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

    def _set_caller_trace(self, frame):
        caller = frame.f_back
        while caller is not None and self._is_ignored(caller):
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
        if self._bps:
            events |= E.PY_START | E.PY_RESUME
        if self._break_on == "raised":
            events |= E.RAISE
        if self._pausing_events:
            events |= E.LINE
        # Code objects armed before: re-arm or disarm for the current breakpoints.
        self._mon_lines.clear()
        for code in list(self._mon_codes):
            lines = self._bp_lines_for(code)
            if lines:
                self._mon_lines[code] = lines
                mon.set_local_events(tool, code, E.LINE)
            else:
                mon.set_local_events(tool, code, 0)
                self._mon_codes.discard(code)
        # Code already running (PY_START has passed for it): arm it now.
        if self._bps:
            for ident, frame in sys._current_frames().items():
                if ident in self._internal:
                    continue
                while frame is not None:
                    self._mon_arm(frame.f_code)
                    frame = frame.f_back
        mon.set_events(tool, events)
        mon.restart_events()

    def _mon_arm(self, code):
        if code in self._mon_lines:
            return True
        lines = self._bp_lines_for(code)
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

    def _on_bp_line(self, frame):
        """A line with a breakpoint runs: apply bdb's effective() rules, maybe stop."""
        file = self._canon(frame.f_code.co_filename)
        line = frame.f_lineno
        by_line = self._bp_by_file.get(file)
        bps = list(by_line.get(line, ())) if by_line else []
        chosen = None
        cond_error = None
        for b in bps:
            if not b.enabled:
                continue
            b.hits += 1
            if b.cond:
                try:
                    value = self._eval_condition(b, frame)
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
            chosen = b
            break
        if chosen is None:
            return
        if chosen.temp and cond_error is None:
            self._delete_bp(chosen)
            self._breakpoints_changed()
        self._stop_at(frame, "breakpoint", bp=chosen, cond_error=cond_error)

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
                code_text = self._apply_policy(expr, "log")
                code = bp.log_code.get(code_text)
                if code is None:
                    code = bp.log_code[code_text] = compile(code_text, "<log>", "eval",
                                                            dont_inherit=True)
                value = self._with_deadline(lambda: eval(code, frame.f_globals, frame.f_locals))
                text = value if isinstance(value, str) else self._short_repr(value)
            except _PolicyRefused as exc:
                text = "<%s>" % exc
            except _EvalFailed as exc:
                text = "<%s>" % exc.text
            except Exception as exc:
                text = "<%s>" % _exc_line(exc)
            out.append(text[:1000])
        self.drain_output()
        self._send("print", {"input": "<log>", "exc": False, "output": "".join(out) + "\n"})

    def _maybe_pause(self, frame):
        """A line event while a pause is asked for or a stop holds the program."""
        while frame is not None and self._is_ignored(frame):
            frame = frame.f_back
        if frame is None:
            return
        if self._holding is not None:
            self._hold_here(frame)
            return
        if qdb_threads.starting_internal(threading.get_ident(), frame):
            return
        if self._claim_pause():
            self._stop_at(frame, "pause")

    def _claim_pause(self):
        with self._state_lock:
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
        if _PY312:
            if not self._pausing_events:
                self._pausing_events = True
                self._update_monitoring()
        else:
            tracer = self._thread_tracer
            if tracer is not None and tracer.available:
                if tracer.set_trace(self._other_threads(), self._bp_global):
                    self._pause_traced = True
            for ident, frame in sys._current_frames().items():
                if ident in self._internal or ident == self._main_ident:
                    continue
                while frame is not None:
                    if not self._is_ignored(frame) and frame.f_trace is None:
                        frame.f_trace = self._bp_local
                    frame = frame.f_back
        if signal_main:
            self._signal_main()

    def _disarm_line_events(self):
        """Back to the events that breakpoints and the exception mode need."""
        if _PY312 and self._pausing_events:
            self._pausing_events = False
            try:
                self._update_monitoring()
            except Exception:
                pass
        if self._pause_traced:
            self._pause_traced = False
            self._retrace_others(self._bp_global if self._needs_line_tracing() else None)

    # ------------------------------------------------------------------ all threads stop together

    def _hold_others(self, stop):
        """A stop stops the whole program: every other thread waits at its next line of Python
        (one inside a call into native code, such as sleep, I/O or a lock, when it returns) until
        the stop ends. A program with one thread pays nothing."""
        if stop.post_mortem:
            return False
        me = stop.ident
        if not any(t.ident != me and t.ident not in self._internal
                   for t in threading.enumerate()):
            return False
        gate = threading.Lock()
        gate.acquire()
        with self._state_lock:
            self._gate = gate
            self._holding = stop
        self._arm_line_events(signal_main=me != self._main_ident)
        return True

    def _release_others(self, stop):
        """The stop ends: the threads it holds go on (idempotent)."""
        with self._state_lock:
            if self._holding is not stop or stop is None:
                return
            self._holding = None
            gate, self._gate = self._gate, None
        if not self._pause_flag:
            self._disarm_line_events()
        gate.release()

    def _hold_here(self, frame):
        """Waits at `frame` while another thread's stop holds the program; returns whether it
        waited. The wait is on a plain lock (no Python code runs in a held thread), and a held
        thread told to step starts stepping here when the stop ends."""
        ident = threading.get_ident()
        if ident in self._entering_hold:
            return False  # qdb's own code below, run by this thread (in a signal handler)
        with self._state_lock:
            holding, gate = self._holding, self._gate
            if (holding is None or gate is None or ident == holding.ident
                    or ident in self._internal or ident in self._busy or ident in self._held):
                return False
            self._entering_hold.add(ident)
        try:
            if qdb_threads.starting_internal(ident, frame):
                return False
            held = _Stop(ident, self._thread_info(ident)["name"], self._frames_from(frame),
                         "held")
            with self._state_lock:
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
            with self._state_lock:
                self._held.pop(ident, None)
                resume = self._held_resume.pop(ident, None)
        if resume is not None and self._active and held.frames:
            self._apply_resume(*resume)
        return True

    def _on_raise_event(self, frame, arg):
        exc_type, exc, tb = arg
        # Only where it is raised, not in every frame it passes through.
        if tb is not None and tb.tb_next is not None:
            return
        self._on_raise(frame, exc_type, exc, tb)

    def _on_raise(self, frame, exc_type, exc, tb):
        if exc_type in (StopIteration, StopAsyncIteration, GeneratorExit):
            return
        if frame.f_code.co_filename.startswith("<frozen ") or self._is_ignored(frame):
            return
        self._stop_at(frame, "exception", exc_info=(exc_type, exc, tb))

    # ------------------------------------------------------------------ stops and interaction

    def _exception_payload(self, exc_type, exc, tb, uncaught, ident):
        import traceback
        try:
            text = "".join(traceback.format_exception(exc_type, exc, tb))
        except Exception:
            text = _exc_line(exc)
        try:
            value = str(exc)
        except Exception:
            value = "<str() failed>"
        return {
            "type": getattr(exc_type, "__name__", str(exc_type)), "value": value,
            "traceback": text, "uncaught": uncaught, "thread": self._thread_info(ident),
        }

    def _stop_at(self, frame, reason, bp=None, cond_error=None, exc_info=None,
                 return_value=_MISSING, frames=None, post_mortem=False, exception=None,
                 exc_value=None):
        """Stops this thread at `frame` and runs the interaction loop until a resume command.
        Other threads that want to stop wait their turn on the interaction lock."""
        ident = threading.get_ident()
        if not self._active or ident in self._internal or ident in self._busy:
            return None
        if self._holding is not None:
            # Another thread is stopped: this one's stop comes when that one ends.
            self._hold_here(frame)
        self._busy.add(ident)
        try:
            with self._interact_lock:
                if not self._active:
                    return None
                if frames is None:
                    frames = self._frames_from(frame)
                if not frames:
                    return None
                stop = _Stop(ident, self._thread_info(ident)["name"], frames, reason,
                             post_mortem)
                if bp is not None:
                    stop.breakpoint = bp.id
                stop.exc_value = exc_value if exc_info is None else exc_info[1]
                if exception is not None:
                    stop.exception = exception
                elif exc_info is not None:
                    stop.exception = self._exception_payload(exc_info[0], exc_info[1],
                                                             exc_info[2], False, ident)
                    self._last_exc_stop = (frame, exc_info[1])
                try:
                    return self._interact(stop, bp, cond_error, return_value)
                finally:
                    # From now on, a new client may be told the program runs.
                    self._stopped_once = True
        finally:
            self._busy.discard(ident)

    def _take_pending_id(self):
        with self._state_lock:
            id_, self._pending_id = self._pending_id, None
        return id_

    def _interact(self, stop, bp, cond_error, return_value):
        # A pause that is still pending would stop again right after this stop: drop it.
        self._pause_flag = False
        self.drain_output()
        sid = self._take_pending_id()
        self._stop = stop
        if not self._hold_others(stop):
            self._disarm_line_events()
        # From now on commands go to this thread's queue: a client may answer the stack below
        # before this thread reaches the loop.
        with self._state_lock:
            self._stopped_mode = True
        if bp is not None:
            self._send("breakpoints", self._breakpoints_payload(), sid)
        if cond_error is not None:
            self._error("condition", cond_error.data, None, sid)
        if return_value is not _MISSING:
            self._send("return", self._short_repr(return_value), sid)
        if stop.exception is not None:
            self._send("exception", stop.exception, sid)
        self._send_watch_values(stop)
        self._send("stack", self._stack_payload(stop), sid)
        resume = None
        try:
            while resume is None:
                try:
                    item = self._queue.get()
                except KeyboardInterrupt:
                    continue
                if item is None:  # detached while stopped
                    resume = ("detach",)
                    break
                e, p, id_, fid = item
                try:
                    resume = self._stopped_command(stop, e, p, id_, fid)
                except _CommandError as err:
                    self._error(err.type, err.data, e, id_)
                    if e in _RESUME_COMMANDS:
                        with self._state_lock:
                            self._stopped_mode = True
                except KeyboardInterrupt:
                    continue
                except Exception as exc:
                    self._internal_error(exc, e, id_)
                    if e in _RESUME_COMMANDS:
                        with self._state_lock:
                            self._stopped_mode = True
        finally:
            view = stop
            with self._state_lock:
                self._stopped_mode = False
                if resume is not None and len(resume) == 3:
                    kind, line, view = resume
                    resume = (kind, line)
                    if view.ident != stop.ident:
                        # A held thread steps; this one goes on with the others.
                        self._held_resume[view.ident] = (view, resume)
                        view, resume = stop, ("continue", None)
            self._stop = None
            self._inspector.reset()
            self._release_others(stop)
            # Anything queued after the resume belongs to no stop: answer it as "running".
            while True:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is not None:
                    self._on_late_command(item)
        self._apply_resume(view, resume)
        return resume

    def _on_late_command(self, item):
        e, p, id_, _ = item
        try:
            self._running_command(e, p, id_)
        except _CommandError as err:
            self._error(err.type, err.data, e, id_)
        except Exception as exc:
            self._internal_error(exc, e, id_)

    def _apply_resume(self, stop, resume):
        """Sets the stepping state of this thread for the resume command."""
        ident = threading.get_ident()
        kind = resume[0]
        if kind == "detach" or not self._active or stop.post_mortem:
            self._steppers.pop(ident, None)
            self._stepping.discard(ident)
            if not self._active:
                sys.settrace(None)
                for f, _ in stop.frames:
                    f.f_trace = None
            return
        frame = stop.frame
        if kind == "continue":
            self._steppers.pop(ident, None)
            self._stepping.discard(ident)
            if _PY312:
                sys.settrace(None)
                for f, _ in stop.frames:
                    f.f_trace = None
            else:
                self._retrace_here(stop.frames[-1][0])
            return
        if kind == "step":
            st = _Stepper(None, None, 0)
        elif kind == "next":
            st = _Stepper(frame, None, 0)
        elif kind == "return":
            if frame.f_code.co_flags & _GEN_FLAGS:
                st = _Stepper(frame, None, -1)
            else:
                st = _Stepper(frame.f_back, frame, 0)
        else:  # until
            st = _Stepper(frame, frame, resume[1])
        self._steppers[ident] = st
        self._stepping.add(ident)
        sys.settrace(self._step_global)
        for f, _ in stop.frames:
            f.f_trace = self._step_local
            f.f_trace_lines = True

    def _frame_payload(self, frame, lineno):
        """A frame as the protocol shows it (both versions): file, line, function, code."""
        return {
            "file": self._canon(frame.f_code.co_filename),
            "line": lineno if lineno is not None else 0,
            "func": frame.f_code.co_name,
            "code": self._source_line(frame, lineno) if lineno else "",
        }

    def _stack_payload(self, stop):
        """A stop as protocol 1 shows it, each frame with its id (for qdb's core, which selects
        frames, and for protocol 2's commands)."""
        frame_id = self._inspector.frame_id
        stack = []
        for frame, lineno in stop.frames:
            item = self._frame_payload(frame, lineno)
            item["id"] = frame_id(stop, frame)
            stack.append(item)
        p = {"index": stop.index, "stack": stack,
             "thread": {"id": stop.ident, "name": stop.thread_name}, "reason": stop.reason}
        if stop.breakpoint is not None and stop.reason == "breakpoint":
            p["breakpoint"] = stop.breakpoint
        if stop.post_mortem:
            p["post_mortem"] = True
        return p

    def _resume_of(self, stop, e, p, view):
        """The resume a resuming command asks for, as (kind, until line or None, the view of the
        thread and frame it applies to), or _CommandError if it cannot be done (the reader
        checks before it counts the program as running). It applies to the frame qdb's core
        selected (`view`: `return` leaves it, `until` and `next` stay in it), in the stopped
        thread or one held by its stop; protocol 2 may name the thread instead."""
        if isinstance(p, dict):
            thread = p.get("thread")
            p = p.get("line")
            if thread is not None and thread != view.ident:
                view = stop if thread == stop.ident else self._held.get(thread)
                if view is None:
                    raise _CommandError("thread", "Thread %s is not stopped: only the thread "
                                        "stopped here (%s, %s) and the threads held by its stop "
                                        "(see threads) can be resumed"
                                        % (thread, stop.ident, stop.thread_name))
        if e == "continue":
            return ("continue", None, stop)
        if e != "until":
            return (e, None, view)
        line = p
        current = view.frames[view.index][1] or 0
        if line is None:
            line = current + 1
        elif not isinstance(line, int) or isinstance(line, bool):
            raise _CommandError("payload", "until takes a line number")
        elif line <= current:
            raise _CommandError("payload", '"until" line %d is not after the current '
                                "line %d" % (line, current))
        return ("until", line, view)

    def _view(self, stop, fid):
        """The stop as seen from the frame qdb's core selected: the stopped thread's or a held
        thread's, with that frame as its current one. A frame id from an earlier stop (the core
        had not seen this one yet) means this stop's newest frame, as protocol 1 always did."""
        if fid is None or stop is None:
            return stop
        try:
            frame = self._inspector.frame(stop, fid)
        except qdb_inspect.InspectError:
            return stop
        owners = [stop]
        with self._state_lock:
            owners.extend(self._held.values())
        for owner in owners:
            for i, (f, _) in enumerate(owner.frames):
                if f is frame:
                    if owner is stop and i == stop.index:
                        return stop
                    view = copy.copy(owner)
                    view.index = i
                    return view
        return stop

    def _stopped_command(self, stop, e, p, id_, fid=None):
        """Handles one command while stopped; returns a resume tuple to leave the loop. `fid`
        is the frame qdb's core selected, for protocol 1's commands that act on it."""
        if e == "request":
            return self._request(stop, p, id_)
        view = self._view(stop, fid)
        if e in _RESUME_COMMANDS:
            resume = self._resume_of(stop, e, p, view)
            with self._state_lock:
                self._pending_id = id_
            target = resume[2] if e != "continue" else stop
            self._send("running", {"thread": {"id": target.ident, "name": target.thread_name}},
                       id_)
            return resume
        if e == "disable":
            mode = p if p is not None else "soft"
            if mode not in ("soft", "hard"):
                raise _CommandError("disable", 'disable takes "soft" or "hard", got %r' % (mode,))
            self.detach(mode, id_)
            return ("detach",)
        if e == "eval":
            self._cmd_eval(view, p, id_)
        elif e == "pprint":
            self._cmd_pprint(view, p, id_)
        elif e in ("locals", "globals", "args"):
            self._send(e, self._namespace_payload(view, e), id_)
        elif e == "stack":
            self._send("stack", self._stack_payload(stop), id_)
        elif e == "pause":
            self._send("stack", self._stack_payload(stop), id_)
        elif e == "start":
            self._send("breakpoints", self._breakpoints_payload(), id_)
            if stop.exception is not None and stop.post_mortem:
                self._send("exception", stop.exception, id_)
            self._send("stack", self._stack_payload(stop), id_)
        else:
            self._common_command(e, p, id_, view)
        return None

    def _running_command(self, e, p, id_):
        if e == "request":
            return self._request(None, p, id_)
        if e in _FRAME_COMMANDS:
            raise _CommandError("running", "%s needs a stopped program, and it is running "
                                "(send pause first)" % e)
        if e == "start":
            self._send("breakpoints", self._breakpoints_payload(), id_)
            # A new client learns the program runs (it would otherwise only see a later stop),
            # unless it is about to stop at its first line.
            if self._stopped_once or not self._stop_on_entry:
                self._send("running", id_=id_)
        elif e == "stack":
            raise _CommandError("running", "The program is running: there is no stack to show "
                                "(send pause first)")
        elif e == "pause":
            self._request_pause(id_)
        elif e == "disable":
            mode = p if p is not None else "soft"
            if mode not in ("soft", "hard"):
                raise _CommandError("disable", 'disable takes "soft" or "hard", got %r' % (mode,))
            self.detach(mode, id_)
        else:
            self._common_command(e, p, id_, None)

    def _common_command(self, e, p, id_, stop):
        if e == "set_break":
            self.set_break(p, stop)
            self._send("breakpoints", self._breakpoints_payload(), id_)
        elif e == "clear_break":
            self.clear_break(p)
            self._send("breakpoints", self._breakpoints_payload(), id_)
        elif e == "update_break":
            self.update_break(p)
            self._send("breakpoints", self._breakpoints_payload(), id_)
        elif e == "breakpoints":
            self._send("breakpoints", self._breakpoints_payload(), id_)
        elif e == "list":
            self._send("list", self._cmd_list(stop, p), id_)
        elif e == "complete":
            if not isinstance(p, str):
                raise _CommandError("payload", "complete takes the text before the cursor")
            self._send("completions", {"text": p, "matches": self._complete(stop, p)}, id_)
        elif e == "set_exception_break":
            if p not in ("raised", "uncaught", "never"):
                raise _CommandError("payload", 'set_exception_break takes "raised", "uncaught" '
                                    'or "never"')
            self._break_on = p
            self._trace_cache.clear()
            self._update_tracing()
        elif e == "input":
            raise _CommandError("input", "The program's standard input is not connected to qdb")
        else:
            raise _CommandError("event", "Unknown command %r" % (e,))

    # ------------------------------------------------------------------ protocol 2 requests

    def _request(self, stop, p, id_):
        """A primitive request of the engine interface (engine/engine.ts): exactly one
        `response`, with the result or the error. Arguments were checked by the tracer's core."""
        p = p if isinstance(p, dict) else {}
        command, args = p.get("command"), p.get("args")
        args = args if isinstance(args, dict) else {}
        inspector = self._inspector
        try:
            if command == "threads":
                result = inspector.threads(stop)
            elif command == "source":
                result = inspector.source(args)
            elif command == "stack_trace":
                result = inspector.stack_trace(stop, args)
            elif command == "set_breakpoints":
                result = self._set_file_breakpoints(args)
            elif command == "exception_info":
                result = self._exception_info(stop, args)
            elif command == "completions":
                frame_id = args.get("frame")
                frame = None if frame_id is None else inspector.frame(stop, frame_id)
                result = {"matches": self._complete(stop, args.get("text", ""), frame)[:1000]}
            elif stop is None and command in ("scopes", "variables", "evaluate", "set_variable",
                                               "watch"):
                raise qdb_inspect.InspectError(
                    "running", "%s needs a stopped program, and it is running (send pause "
                    "first)" % command)
            elif command == "scopes":
                result = inspector.scopes(stop, args)
            elif command == "variables":
                result = inspector.variables(stop, args)
            elif command == "evaluate":
                result = self._evaluate(stop, args)
            elif command == "set_variable":
                result = self._set_variable(stop, args)
            elif command == "set_stop_watches":
                exprs = args.get("exprs") or []
                self._stop_watches = [e for e in exprs if isinstance(e, str)][:1000]
                result = {}
            elif command == "watch":
                view = self._view(stop, args.get("frame"))
                result = {"values": [self._watch_value(view, expr)
                                     for expr in args.get("exprs") or []]}
            else:
                raise qdb_inspect.InspectError("event", "Unknown request %r" % (command,))
        except (qdb_inspect.InspectError, _CommandError) as err:
            self._send("response", {"error": {"type": err.type, "data": err.data}}, id_)
            return None
        except Exception as exc:
            import traceback
            detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
            self._send("response", {"error": {
                "type": "internal",
                "data": "qdb failed while handling %r: %s" % (command, detail)}}, id_)
            return None
        self._send("response", {"result": result}, id_)
        return None

    def _send_watch_values(self, stop):
        """The core's watches, evaluated in the selected frame, sent before the stop."""
        exprs = list(self._stop_watches)
        if exprs:
            self._send("watch_values", {"exprs": exprs,
                                        "values": [self._watch_value(stop, e) for e in exprs]})

    def _watch_value(self, stop, expr):
        """A watched expression in the selected frame: its short repr, or the exception (the
        core's `watch` request evaluates every watch of a stop at once)."""
        try:
            return {"exc": False, "value": self._short_repr(self._run_eval(stop, expr, "watch"))}
        except _PolicyRefused as exc:
            return {"exc": True, "value": str(exc)}
        except _EvalFailed as exc:
            return {"exc": True, "value": exc.text}
        except Exception as exc:
            # Whatever a client watches, the program must not die of it.
            return {"exc": True, "value": _exc_line(exc)}

    def _set_variable(self, stop, args):
        """Assigns the value of an expression (in a frame given by id, or the selected one) to
        a child of a reference: a variable of a scope, a key, an item or an attribute."""
        frame_id = args.get("frame")
        frame = stop.frame if frame_id is None else self._inspector.frame(stop, frame_id)
        try:
            value = self._run_eval(stop, args.get("value"), "set_variable", frame)
        except _PolicyRefused as exc:
            raise _CommandError("policy", str(exc))
        except _EvalFailed as exc:
            raise _CommandError("eval", exc.text)
        self._inspector.assign(stop, args.get("ref"), args.get("name"), value,
                               self._locals_to_fast)
        return self._inspector.value(value)

    def _exception_info(self, stop, args):
        """The exception a thread stopped on: type, message, traceback, and a reference to the
        exception object itself."""
        thread = args.get("thread")
        if stop is None or stop.ident != thread:
            raise qdb_inspect.InspectError("thread", "Thread %s is not stopped" % thread)
        if stop.exception is None:
            raise qdb_inspect.InspectError("thread", "Thread %s did not stop on an exception "
                                           "(it stopped: %s)" % (thread, stop.reason))
        info = stop.exception
        out = {"type": info["type"], "message": info["value"], "traceback": info["traceback"],
               "uncaught": bool(info.get("uncaught")), "ref": 0}
        if stop.exc_value is not None:
            out["ref"] = self._inspector.value(stop.exc_value)["ref"]
        return out

    def _set_file_breakpoints(self, args):
        """An editor's whole list of line breakpoints for one file: the file's line breakpoints
        are replaced (breakpoints on functions stay). A line without code moves to the next line
        that has one. Each is answered as set, in order; one that cannot be set is answered with
        id 0, `verified` false and a message, and is not kept."""
        file_arg = args.get("file")
        specs = args.get("breakpoints") or []
        path = self._resolve_file(file_arg)
        if path is not None and (not self._may_read(path) or self._file_skipped(path)):
            path = None
        lines = nlines = None
        problem = None
        if path is None:
            problem = "no such file"
        else:
            try:
                lines, nlines = self._executable_lines(path)
            except SyntaxError as exc:
                problem = "the file does not compile (%s)" % _exc_line(exc)
            except (OSError, ValueError) as exc:
                problem = str(exc)
        if path is not None:
            for b in [b for b in list(self._bps.values()) if b.file == path and b.func is None]:
                self._delete_bp(b)
        out = []
        for spec in specs:
            line = spec.get("line")
            why = problem
            at = line
            if why is None:
                later = sorted(n for n in lines if n >= line)
                if line > nlines:
                    why = "the file has only %d line%s" % (nlines, "" if nlines == 1 else "s")
                elif not later:
                    why = "no code on line %d or after it" % line
                else:
                    at = later[0]
            if why is None:
                try:
                    self._check_cond_policy(spec.get("cond"))
                    self._check_log(spec.get("log"))
                    _hit_test(spec.get("hit_condition"))
                except _CommandError as err:
                    why = err.data
            if why is not None:
                out.append({"id": 0, "file": path or file_arg, "line": line, "temp": False,
                            "cond": spec.get("cond"), "func": None, "enabled": True,
                            "ignore": 0, "hits": 0, "verified": False,
                            "message": "Cannot set breakpoint at %s: %s"
                            % (self._bp_label(file_arg, line), why)})
                continue
            with self._bp_lock:
                bp = self._new_bp(spec, spec.get("cond"), None, path, at)
                self._bps[bp.id] = bp
                self._bp_by_file.setdefault(path, {}).setdefault(at, []).append(bp)
            out.append(bp.payload())
        self._breakpoints_changed()
        self._send("breakpoints", self._breakpoints_payload())
        return {"breakpoints": out}

    def _evaluate(self, stop, args):
        """An expression (or, in the `repl` context, statements) in a frame given by id or the
        selected one: its value with a reference to its children. What it prints is in
        `output`."""
        expr = args.get("expr")
        context = args.get("context", "repl")
        frame_id = args.get("frame")
        frame = stop.frame if frame_id is None else self._inspector.frame(stop, frame_id)
        try:
            code_text = self._apply_policy(expr, "evaluate" if context == "repl" else context)
        except _PolicyRefused as exc:
            raise _CommandError("policy", str(exc))
        try:
            try:
                code = compile(code_text, "<qdb>", "eval", dont_inherit=True)
            except SyntaxError:
                if context != "repl":
                    raise
                code = compile(code_text, "<qdb>", "exec", dont_inherit=True)
        except (SyntaxError, ValueError, UnicodeError, RecursionError, MemoryError,
                OverflowError) as exc:
            raise _CommandError("eval", _exc_line(exc))
        g, l = frame.f_globals, self._frame_locals(stop, frame)
        capture = _Capture()
        saved = sys.stdout, sys.stderr
        sys.stdout = sys.stderr = capture
        try:
            value = self._with_deadline(lambda: eval(code, g, l))
        except _EvalFailed as exc:
            raise _CommandError("eval", exc.text)
        finally:
            sys.stdout, sys.stderr = saved
            self._locals_to_fast(frame, l)
        result = self._inspector.value(value)
        output = capture.getvalue()
        if output:
            result["output"] = output[:_MAX_OUTPUT]
        return result

    def _cmd_list(self, stop, p):
        p = p if isinstance(p, dict) else {}
        file_arg = p.get("file")
        if file_arg is None:
            path = self._canon(stop.frame.f_code.co_filename) if stop else self._program
        else:
            path = self._resolve_file(file_arg)
            if path is None:
                raise _CommandError("list", "Cannot list %s: no such file" % file_arg)
        label = file_arg or path
        if self._file_skipped(path) or path in _BRIDGE_FILES:
            raise _CommandError("list", "Cannot list %s: the file is skipped" % label)
        if not self._may_read(path):
            raise _CommandError("list", "Cannot list %s: no such file" % label)
        start, end = p.get("start"), p.get("end")
        if start is not None or end is not None:
            if start is None:
                start = max(1, end - 10)
            if end is None:
                end = start + 10
        import linecache
        lines = linecache.cache.get(path, (None, None, None))[2]
        if not lines:
            lines = self._read_source_lines(path, label, end)
        if start is None:
            return "".join(lines)
        return "".join(lines[start - 1:end])

    def _read_source_lines(self, path, label, end):
        """The lines of a regular file of bounded size (up to `end` when given). A FIFO or a
        device (/proc/kmsg, /dev/zero) would block or never end: it is refused unread."""
        import stat
        try:
            st = os.stat(path)
        except OSError as exc:
            raise _CommandError("list", "Cannot list %s: %s" % (label, exc.strerror or exc))
        if not stat.S_ISREG(st.st_mode):
            raise _CommandError("list", "Cannot list %s: not a regular file" % label)
        if st.st_size > _MAX_LIST_BYTES and end is None:
            raise _CommandError("list", "Cannot list %s: it has %d bytes; list a range of "
                                "lines instead" % (label, st.st_size))
        lines = []
        total = 0
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
            with open(fd, "r", encoding="utf-8", errors="replace", newline="") as f:
                for text in f:
                    lines.append(text)
                    total += len(text)
                    if (end is not None and len(lines) >= end) or total > _MAX_LIST_BYTES:
                        break
        except OSError as exc:
            raise _CommandError("list", "Cannot list %s: %s" % (label, exc.strerror or exc))
        return lines

    def _may_read(self, path):
        """Whether `list` and `set_break` may read this file. With eval policy "full" a client
        can run any code, so any file; otherwise only the program's own Python source: the
        program, the files of loaded modules and of code that ran, and .py files under the
        program's directory or sys.path. Files outside say "no such file", as missing ones do,
        so that the answer is no oracle for what exists."""
        if self._eval_policy == "full":
            return True
        path = self._canon(path)
        if path == self._program:
            return True
        import linecache
        if path in linecache.cache:
            return True
        for mod in list(sys.modules.values()):
            f = getattr(mod, "__file__", None)
            if isinstance(f, str) and self._canon(f) == path:
                return True
        if not path.endswith(".py"):
            return False
        roots = [self._program_dir] + [e for e in sys.path if isinstance(e, str) and e]
        for root in roots:
            root = self._canon(root)
            if path.startswith(root.rstrip(os.sep) + os.sep):
                return True
        return False

    def _namespace_payload(self, stop, kind):
        frame = stop.frame
        if kind == "globals":
            space = frame.f_globals
        else:
            space = self._frame_locals(stop, frame)
        out = {}
        try:
            items = list(space.items())
        except Exception:
            items = []
        if kind == "args":
            code = frame.f_code
            n = code.co_argcount + code.co_kwonlyargcount
            n += bool(code.co_flags & 0x04) + bool(code.co_flags & 0x08)
            names = code.co_varnames[:n]
            items = [(k, v) for k, v in items if k in names]
            order = {name: i for i, name in enumerate(names)}
            items.sort(key=lambda kv: order.get(kv[0], 0))
        for k, v in items:
            if k == "__builtins__":
                continue
            out[str(k)] = self._short_repr(v)
        return out

    # ------------------------------------------------------------------ eval

    def _frame_locals(self, stop, frame):
        # Read afresh each time: on 3.8-3.12 this syncs the dict from the frame, and every eval
        # writes its changes back right after (_locals_to_fast), so nothing is lost; 3.11 and
        # 3.12 only write back a dict that was just read. On 3.13 it is a write-through proxy.
        return frame.f_locals

    def _locals_to_fast(self, frame, space):
        if _PY313 or space is frame.f_globals:
            return
        fn = getattr(self, "_l2f", _MISSING)
        if fn is _MISSING:
            fn = None
            try:
                import ctypes
                fn = ctypes.pythonapi.PyFrame_LocalsToFast
                fn.argtypes = [ctypes.py_object, ctypes.c_int]
                fn.restype = None
            except Exception:
                pass
            self._l2f = fn
        if fn is not None:
            try:
                fn(frame, 0)
            except Exception:
                pass

    def _load_hook(self):
        if self._hook is not None or self._hook_error is not None:
            return
        spec = self._eval_policy[len("hook:"):]
        module_name, _, func_name = spec.rpartition(":")
        try:
            import importlib
            module = importlib.import_module(module_name)
            self._hook = getattr(module, func_name)
        except Exception as exc:
            self._hook_error = 'Eval policy "%s": the hook cannot be loaded (%s)' % (
                self._eval_policy, _exc_line(exc))

    def _apply_policy(self, code, where):
        """Returns the code to run, or raises _PolicyRefused."""
        policy = self._eval_policy
        if policy == "full":
            return code
        if policy == "none":
            raise _PolicyRefused('Eval policy "none" refuses to run code')
        if policy.startswith("hook:"):
            self._load_hook()
            if self._hook_error:
                raise _PolicyRefused(self._hook_error)
            try:
                verdict = self._hook(code, where)
            except Exception as exc:
                raise _PolicyRefused('Eval policy "%s" refused to run code: %s'
                                     % (policy, _exc_line(exc)))
            if verdict is True:
                return code
            if isinstance(verdict, str):
                return verdict
            raise _PolicyRefused('Eval policy "%s" refused to run code' % policy)
        raise _PolicyRefused('Unknown eval policy "%s": no code runs' % policy)

    def _run_eval(self, stop, expr, where, frame=None):
        """Evaluates an expression in `frame`, by default the selected one (policy and timeout
        applied)."""
        code_text = self._apply_policy(expr, where)
        try:
            code = compile(code_text, "<%s>" % where, "eval", dont_inherit=True)
        except (SyntaxError, ValueError, UnicodeError, RecursionError, MemoryError,
                OverflowError) as exc:
            # A lone surrogate, a NUL, or "-" * 99999 + "1" fail in the compiler itself.
            raise _EvalFailed(_exc_line(exc), type(exc).__name__)
        if frame is None and stop is not None:
            frame = stop.frame
        if frame is not None:
            g, l = frame.f_globals, self._frame_locals(stop, frame)
        else:
            g = l = self._main_globals if self._main_globals is not None else {}
        return self._with_deadline(lambda: eval(code, g, l))

    def _eval_condition(self, bp, frame):
        try:
            code_text = self._apply_policy(bp.cond, "condition")
            if bp.compiled is None or bp.compiled[0] != code_text:
                bp.compiled = (code_text, compile(code_text, "<condition>", "eval",
                                                  dont_inherit=True))
            code = bp.compiled[1]
            return self._with_deadline(lambda: eval(code, frame.f_globals, frame.f_locals))
        except _PolicyRefused as exc:
            raise _CondError(bp, frame, "PolicyError", str(exc))
        except _EvalFailed as exc:
            raise _CondError(bp, frame, exc.type_name, exc.text)
        except Exception as exc:
            raise _CondError(bp, frame, type(exc).__name__, _exc_line(exc))

    def _with_deadline(self, fn):
        """Runs fn() under the eval timeout; any exception becomes _EvalFailed.

        A runaway main thread is interrupted by PAUSE_SIGNAL, whose handler raises
        _EvalTimeout (that also ends a blocking sleep); another thread gets _EvalTimeout as an
        asynchronous exception. A pending asynchronous exception is never taken back with
        PyThreadState_SetAsyncExc(id, NULL): on 3.11 that leaves the eval breaker set and a
        traced thread spins; if it lands late it is absorbed here instead."""
        timeout = self._eval_timeout
        job = self._arm_deadline(timeout) if timeout > 0 else None
        outcome = None
        try:
            try:
                outcome = (True, fn())
            except BaseException as exc:
                if job is not None and isinstance(exc, _EvalTimeout):
                    job[5] = True
                outcome = (False, exc)
            if job is not None:
                self._disarm_deadline(job)
        except _EvalTimeout as exc:
            # Landed just after the code finished: it still took that long.
            job[5] = True
            self._disarm_deadline(job)
            outcome = (False, exc)
        if job is not None and job[4] and not job[5]:
            self._absorb(job)
        ok, value = outcome
        if ok:
            return value
        if isinstance(value, _EvalTimeout):
            raise _EvalFailed("TimeoutError: eval took longer than %gs" % timeout,
                              "TimeoutError")
        raise _EvalFailed(_exc_line(value), type(value).__name__)

    def _absorb(self, job):
        try:
            for _ in range(10_000_000):
                pass
        except _EvalTimeout:
            job[5] = True

    def _arm_deadline(self, timeout):
        if self._set_async_exc is None:
            try:
                import ctypes
                f = ctypes.pythonapi.PyThreadState_SetAsyncExc
                f.argtypes = [ctypes.c_ulong, ctypes.py_object]
                f.restype = ctypes.c_int
                self._set_async_exc = f
            except Exception:
                self._set_async_exc = False
        if self._wd_thread is None:
            self._wd_thread = qdb_threads.start_internal(self._watchdog, "qdb-timeout")
        # [token, deadline, thread, fired, async exception sent, async exception consumed]
        job = [object(), time.monotonic() + timeout, threading.get_ident(), False, False, False]
        with self._wd_lock:
            self._wd_job = job
        self._wd_wake.set()
        return job

    def _disarm_deadline(self, job):
        with self._wd_lock:
            if self._wd_job is job:
                self._wd_job = None
            self._sig_timeout = None

    def _watchdog(self):
        self._internal_thread()
        left = None
        while True:
            self._wd_wake.wait(left)
            self._wd_wake.clear()
            with self._wd_lock:
                job = self._wd_job
                left = None
                if job is None or job[3]:
                    continue
                left = job[1] - time.monotonic()
                if left > 0:
                    continue
                left = None
                job[3] = True
                if job[2] == self._main_ident:
                    self._sig_timeout = job[0]
                    self._signal_main()
                elif self._set_async_exc:
                    job[4] = True
                    self._set_async_exc(job[2], _EvalTimeout)

    def _cmd_eval(self, stop, p, id_):
        if not isinstance(p, str) or not p:
            raise _CommandError("payload", "eval takes a non-empty string of code")
        try:
            code_text = self._apply_policy(p, "eval")
        except _PolicyRefused as exc:
            raise _CommandError("policy", str(exc))
        frame = stop.frame
        g, l = frame.f_globals, self._frame_locals(stop, frame)
        exc_flag = False
        capture = _Capture()
        try:
            try:
                code = compile(code_text + "\n", "<qdb>", "single", dont_inherit=True)
            except SyntaxError:
                code = compile(code_text, "<qdb>", "exec", dont_inherit=True)
        except (SyntaxError, ValueError, UnicodeError, RecursionError, MemoryError,
                OverflowError) as exc:
            self._send("print", {"input": p, "exc": True, "output": _exc_line(exc)}, id_)
            return

        def display(value):
            if value is not None:
                capture.write(self._full_repr(value) + "\n")

        saved = sys.stdout, sys.stderr, sys.displayhook
        sys.stdout = sys.stderr = capture
        sys.displayhook = display
        try:
            self._with_deadline(lambda: exec(code, g, l))
        except _EvalFailed as exc:
            exc_flag = True
            capture.write(exc.text)
        finally:
            sys.stdout, sys.stderr, sys.displayhook = saved
            self._locals_to_fast(frame, l)
        output = capture.getvalue()
        if capture.size > _MAX_OUTPUT:
            output += "\n... [qdb: output truncated at %d characters]" % _MAX_OUTPUT
        self._send("print", {"input": p, "exc": exc_flag, "output": _strip_one_newline(output)},
                   id_)

    def _cmd_pprint(self, stop, p, id_):
        if not isinstance(p, str) or not p:
            raise _CommandError("payload", "pprint takes a non-empty expression")
        try:
            value = self._run_eval(stop, p, "pprint")
            out, exc = self._full_repr(value, pretty=True), False
        except _PolicyRefused as err:
            raise _CommandError("policy", str(err))
        except _EvalFailed as err:
            out, exc = err.text, True
        self._send("print", {"input": p, "exc": exc, "output": out}, id_)

    def _complete(self, stop, text, frame=None):
        import rlcompleter
        if stop is not None:
            frame = frame or stop.frame
            ns = dict(frame.f_globals)
            try:
                ns.update(self._frame_locals(stop, frame))
            except Exception:
                pass
        else:
            ns = dict(self._main_globals or {})
        if "." not in text:
            comp = rlcompleter.Completer(ns)
            matches = comp.global_matches(text)
        else:
            expr, _, attr = text.rpartition(".")
            try:
                code = self._apply_policy(expr, "complete")
                value = self._with_deadline(lambda: eval(code, ns))
            except (_PolicyRefused, _EvalFailed):
                return []
            except SyntaxError:
                return []
            comp = rlcompleter.Completer({"__qdb_obj": value})
            matches = [expr + m[len("__qdb_obj"):]
                       for m in comp.attr_matches("__qdb_obj." + attr)]
        out = []
        for m in matches:
            if m not in out:
                out.append(m)
        return out

    # ------------------------------------------------------------------ pause, signals

    def _signal_main(self):
        try:
            self._signal_requests += 1
            signal.pthread_kill(self._main_ident, PAUSE_SIGNAL)
        except (OSError, ValueError, AttributeError):
            self._signal_requests = max(0, self._signal_requests - 1)

    def _request_pause(self, id_):
        with self._state_lock:
            self._pending_id = id_
            self._pause_flag = True
        self._arm_line_events()

    def _on_signal(self, signum, frame):
        ours = self._signal_requests > 0
        if ours:
            self._signal_requests -= 1
        token = self._sig_timeout
        if token is not None:
            job = self._wd_job
            self._sig_timeout = None
            if job is not None and job[0] is token and job[2] == threading.get_ident():
                raise _EvalTimeout()
        if self._sig_detach:
            self._sig_detach = False
            sys.settrace(None)
            f = frame
            while f is not None:
                f.f_trace = None
                f = f.f_back
        if self._sig_retrace and self._active:
            self._sig_retrace = False
            if not _PY312:
                self._retrace_here(frame)
        if (self._pause_flag or self._holding is not None) and self._active:
            ident = threading.get_ident()
            if ident not in self._busy:
                self._maybe_pause(frame)
        if not ours:
            handler = self._chained_handler
            if callable(handler):
                handler(signum, frame)
            elif handler == signal.SIG_DFL and not self._active:
                pass

    def install_signal_hooks(self):
        self._orig_signal(PAUSE_SIGNAL, self._on_signal)
        bridge = self

        def qdb_signal(signalnum, handler):
            # The program installing its own handler for our signal: keep ours, chain theirs.
            if signalnum == PAUSE_SIGNAL and bridge._active:
                if not (callable(handler) or handler in (signal.SIG_DFL, signal.SIG_IGN)):
                    raise TypeError("signal handler must be signal.SIG_IGN, signal.SIG_DFL, "
                                    "or a callable object")
                old = bridge._chained_handler
                bridge._chained_handler = handler
                return old
            return bridge._orig_signal(signalnum, handler)

        def qdb_getsignal(signalnum):
            if signalnum == PAUSE_SIGNAL and bridge._active:
                return bridge._chained_handler
            return bridge._orig_getsignal(signalnum)

        qdb_signal.__doc__ = signal.signal.__doc__
        qdb_getsignal.__doc__ = signal.getsignal.__doc__
        signal.signal = qdb_signal
        signal.getsignal = qdb_getsignal

    # ------------------------------------------------------------------ lifecycle

    def start(self, breakpoints):
        self._active = True
        for spec in breakpoints or []:
            try:
                self.set_break(self._parse_bp_spec(spec), None, from_config=True)
            except _CommandError as err:
                self._error(err.type, err.data, "set_break")
            except Exception as exc:
                self._internal_error(exc, "set_break", None)
        if self._bps or self._pending_bps:
            self._send("breakpoints", self._breakpoints_payload())
        self._update_tracing()
        qdb_threads.start_internal(self._reader_loop, "qdb-reader")

    def _parse_bp_spec(self, spec):
        """`--break` specs, as pdb's `b`: [FILE:]LINE or [FILE:]FUNCTION, then `, CONDITION`."""
        spec, comma, cond = str(spec).partition(",")
        spec = spec.strip()
        out = self._parse_bp_place(spec)
        if comma and cond.strip():
            out["cond"] = cond.strip()
        return out

    def _parse_bp_place(self, spec):
        head, sep, tail = spec.rpartition(":")
        if sep and tail.strip().isdigit():
            return {"file": head or None, "line": int(tail)} if head else {"line": int(tail)}
        if spec.isdigit():
            return {"line": int(spec)}
        if sep and (head.endswith(".py") or os.sep in head):
            return {"file": head, "func": tail}
        return {"func": spec}

    def trace_main_before_run(self):
        """Tracing of the main thread for the program's start."""
        ident = threading.get_ident()
        if self._stop_on_entry:
            self._steppers[ident] = _Stepper(None, None, 0, entry=True)
            self._stepping.add(ident)
            sys.settrace(self._step_global)
        elif not _PY312 and self._needs_line_tracing():
            sys.settrace(self._bp_global)

    def set_trace(self, frame, stop=True):
        if not self._active:
            return
        if not stop:
            if not _PY312 and threading.get_ident() not in self._steppers:
                self._retrace_here(frame)
            return
        while frame is not None and self._is_ignored(frame):
            frame = frame.f_back
        if frame is None:
            return
        self._stop_at(frame, "set_trace")

    def post_mortem(self, exc, tb, ident=None):
        if not self._active or self._break_on == "never":
            return
        frames = self._frames_from_tb(tb)
        if not frames:
            return
        if ident is None:
            ident = threading.get_ident()
        exception = self._exception_payload(type(exc), exc, tb, True, ident)
        self._stop_at(frames[-1][0], "exception", frames=frames, post_mortem=True,
                      exception=exception, exc_value=exc)

    def detach(self, mode, id_, notify=True, restore=True):
        """Stops debugging. soft: the program runs on untraced with its own stdout/stderr
        (or, without `restore`, with qdb's pipes forwarding to them); hard: the process ends
        at once."""
        with self._state_lock:
            if self._detaching:
                return
            self._detaching = True
        self._active = False
        self._pause_flag = False
        # Tracing off everywhere.
        try:
            if hasattr(threading, "settrace_all_threads"):
                threading.settrace_all_threads(None)
            else:
                threading.settrace(None)
                sys.settrace(None)
                if threading.get_ident() != self._main_ident:
                    self._sig_detach = True
                    self._signal_main()
        except Exception:
            pass
        self._steppers.clear()
        self._stepping.clear()
        self._trace_cache.clear()
        if _PY312:
            self._mon_release()
        if mode == "hard":
            self.drain_output()
            self._send("disabled", {"mode": "hard"}, id_)
            os.kill(os.getpid(), signal.SIGKILL)
        self.drain_output()
        if notify:
            self._send("disabled", {"mode": "soft"}, id_)
        with self._state_lock:
            self._detached = True
        if restore:
            self.restore_output()
        with self._send_lock:
            self._channel_ok = False
            try:
                self._sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            try:
                self._sock.close()
            except OSError:
                pass
        # Wake a thread stopped in the interaction loop.
        self._queue.put(None)

    def at_exit(self):
        """Last atexit handler: forwards the remaining output, gives fds 1 and 2 back."""
        if os.getpid() != self._pid:
            return
        self._active = False
        if _PY312:
            self._mon_release()
        sys.settrace(None)
        threading.settrace(None)
        try:
            self.restore_output()
        except Exception:
            pass
        if self._exit_sigint:
            self._orig_signal(signal.SIGINT, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGINT)

    def after_fork_in_child(self):
        """A forked child must not talk on the parent's channel nor trace."""
        self._active = False
        self._detached = True
        self._channel_ok = False
        self._streams = []
        self._holding = None
        self._gate = None
        self._held = {}
        sys.settrace(None)
        threading.settrace(None)
        if _PY312:
            self._mon_release()


class _EvalFailed(Exception):
    def __init__(self, text, type_name="Exception"):
        Exception.__init__(self, text)
        self.text = text
        self.type_name = type_name


class _CondError(Exception):
    def __init__(self, bp, frame, exc_name, output):
        Exception.__init__(self, output)
        self.data = {"cond": bp.cond, "line": frame.f_lineno, "exc": exc_name,
                     "output": output}


# ---------------------------------------------------------------------- module API

_bridge = None


def set_trace(stop=True, frame=None):
    """Stops in qdb at the caller's line (reason ``set_trace``). ``stop=False`` only makes sure
    tracing is on. A no-op when qdb is not attached (for example after ``disable soft``)."""
    if _bridge is None:
        return
    if frame is None:
        frame = sys._getframe(1)
    _bridge.set_trace(frame, stop)


class trace(object):
    """``with qdb.trace(): ...`` stops at the ``with`` line (``stop=False``: just traces)."""

    def __init__(self, stop=True):
        self.stop = stop

    def __enter__(self):
        set_trace(self.stop, sys._getframe(1))
        return self

    def __exit__(self, *exc):
        return False


def _breakpointhook(*args, **kws):
    """sys.breakpointhook: honours PYTHONBREAKPOINT as the default hook does."""
    name = os.environ.get("PYTHONBREAKPOINT")
    if name == "0":
        return None
    if name and name not in ("qdb.set_trace", "pdb.set_trace"):
        return sys.__breakpointhook__(*args, **kws)
    set_trace(True, sys._getframe(1))
    return None


def _trim_tb(tb, bridge):
    while tb is not None and bridge._is_ignored(tb.tb_frame):
        tb = tb.tb_next
    return tb


def _cant_open(path, exc):
    sys.stderr.write("%s: can't open file %r: [Errno %d] %s\n"
                     % (sys.executable, path, exc.errno or 0, exc.strerror))
    sys.stderr.flush()


def _main():
    """Runs the program as ``python PROGRAM ARGS`` would, under the bridge."""
    global _bridge
    boot_globals = sys.modules["__main__"].__dict__
    config = json.loads(os.environ.pop("QDB_BRIDGE"))
    # sys.argv is ['-c', PROGRAM, ARGS...]; the program sees [PROGRAM, ARGS...].
    argv = sys.argv[1:]
    program_arg = argv[0]
    kind = config.get("run", "file")
    module_spec = module_code = None
    if kind == "module":
        # As `python -m MODULE` does: the current directory first on the path, the module
        # found (its parent packages imported) before it runs as __main__.
        if not getattr(sys.flags, "safe_path", False):
            sys.path.insert(0, os.getcwd())
        import runpy
        try:
            _, module_spec, module_code = runpy._get_module_details(program_arg)
        except Exception as exc:
            sys.stderr.write("%s: %s\n" % (sys.executable, exc))
            raise SystemExit(1)
        path = module_spec.origin
        argv[0] = path
    elif kind == "code":
        path = "<string>"
        argv[0] = "-c"
    else:
        path = os.path.abspath(program_arg)
    config["program_arg"] = program_arg
    bridge = Bridge(config, path if kind == "code" else os.path.realpath(path), boot_globals)
    _bridge = bridge
    this = sys.modules[__name__]
    sys.modules["qdb"] = this

    bridge.connect()
    bridge.capture_output()
    bridge.hook_exit()
    bridge.watch_stdin()
    import atexit
    atexit.register(bridge.at_exit)  # first registered, so it runs last
    os.register_at_fork(after_in_child=bridge.after_fork_in_child)
    bridge.install_signal_hooks()
    sys.breakpointhook = _breakpointhook

    orig_thread_hook = threading.excepthook

    def thread_excepthook(args):
        if args.exc_type is not SystemExit and args.exc_value is not None:
            try:
                bridge.post_mortem(args.exc_value, args.exc_traceback,
                                   args.thread.ident if args.thread else None)
            except Exception:
                pass
        return orig_thread_hook(args)

    threading.excepthook = thread_excepthook

    sys.argv = argv
    if kind == "file" and not getattr(sys.flags, "safe_path", False):
        if sys.path and sys.path[0] in ("", "."):
            sys.path[0] = os.path.dirname(os.path.realpath(path))
        else:
            sys.path.insert(0, os.path.dirname(os.path.realpath(path)))
    elif kind == "code" and not getattr(sys.flags, "safe_path", False):
        if not sys.path or sys.path[0] not in ("", "."):
            sys.path.insert(0, "")

    import importlib.machinery
    main_mod = types.ModuleType("__main__")
    if kind == "module":
        main_mod.__dict__.update({
            "__file__": path, "__builtins__": builtins, "__cached__": module_spec.cached,
            "__loader__": module_spec.loader, "__spec__": module_spec,
            "__package__": module_spec.parent,
        })
    elif kind == "code":
        main_mod.__dict__.update({
            "__builtins__": builtins, "__loader__": importlib.machinery.BuiltinImporter,
            "__spec__": None, "__package__": None,
        })
    else:
        main_mod.__dict__.update({
            "__file__": path, "__builtins__": builtins, "__cached__": None,
            "__loader__": importlib.machinery.SourceFileLoader("__main__", path),
            "__spec__": None, "__package__": None,
        })
    bridge._main_globals = main_mod.__dict__
    if bridge._eval_policy.startswith("hook:"):
        bridge._load_hook()

    if kind == "module":
        code = module_code
    else:
        if kind == "code":
            source = program_arg
        else:
            try:
                with open(path, "rb") as f:
                    source = f.read()
            except OSError as exc:
                _cant_open(path, exc)
                raise SystemExit(2)
        try:
            code = compile(source, path, "exec", dont_inherit=True)
        except (SyntaxError, ValueError) as exc:
            # As python shows it: no frame of qdb's above the program's line.
            exc.__traceback__ = None
            sys.excepthook(type(exc), exc, None)
            raise SystemExit(1)

    bridge.start(config.get("breakpoints") or [])
    sys.modules["__main__"] = main_mod
    bridge.trace_main_before_run()
    try:
        exec(code, main_mod.__dict__)
    except SystemExit:
        sys.settrace(None)
        raise
    except BaseException as exc:
        sys.settrace(None)
        tb = _trim_tb(exc.__traceback__, bridge)
        try:
            bridge.post_mortem(exc, tb)
        except Exception:
            pass
        sys.last_type, sys.last_value, sys.last_traceback = type(exc), exc, tb
        # The default hook prints exc.__traceback__, which still starts in the bridge.
        exc.__traceback__ = tb
        if _PY312:
            sys.last_exc = exc
        try:
            sys.excepthook(type(exc), exc, tb)
        except Exception:
            pass
        if isinstance(exc, KeyboardInterrupt):
            # Python ends with SIGINT after an uncaught KeyboardInterrupt; at_exit does that.
            bridge._exit_sigint = True
        raise SystemExit(1)
    finally:
        sys.settrace(None)
        bridge._steppers.pop(threading.get_ident(), None)
        bridge._stepping.discard(threading.get_ident())
