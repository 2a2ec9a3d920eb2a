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
  slower. A line breakpoint is compiled into the code of the function that holds it
  (qdb_compile, qdb_sites): no trace function at all while only such breakpoints are set. Those
  that cannot be compiled are traced: with sys.monitoring on 3.12+ (events only on code objects
  that hold a breakpoint, and each line without one disabled after its first event), and on
  3.8-3.11 a filtered sys.settrace whose call handler returns a local tracer only for code
  objects that hold a breakpoint (decided once per code object).
- Stepping uses a per-thread sys.settrace with bdb's stepping rules, only on the stepping thread.
- Pause: the reader thread sets a flag, turns on line events (3.12+: global LINE monitoring;
  older: f_trace on the threads' frames) and sends SIGUSR2 to the main thread, whose handler
  stops right where the main thread was (even inside time.sleep).
- Program output: fds 1 and 2 are replaced by pipes; a forwarder thread relays what arrives as
  ``print`` events. Before any stop, the pipes are drained under the lock that sends events, so
  output printed before a stop reaches clients before that stop.

The bridge is a package of modules that qdb writes next to each other, each with one job, and
the Bridge is composed of objects that own their state: qdb_channel.Channel (the socket and the
lock events go out under), qdb_output.OutputCapture (the program's output and input),
qdb_eval.Evaluator (running code: the policy, its hook and the deadline), qdb_repr.Reprs (values
as text), qdb_code.ProgramCode (which code is the program's, and which files a client may read),
qdb_breakpoints.BreakpointTable (the breakpoints, qdb_locate.Locator to find lines and functions,
qdb_sites.CompiledSites to compile them into the code), qdb_tracing.Tracing (the tracing backends,
with qdb_monitoring for 3.12+, and stepping: where a thread stops),
qdb_hits.HitActions (logpoints and snapshots), qdb_pause.Pauser (pause, the signal, holding the
other threads), qdb_children.Children (child processes), qdb_requests.Requests (the engine
interface's primitive requests, by a table) and qdb_inspect.Inspector (frames, values and
references of a stop). The Bridge itself is the session: its channel's reader, its start and
end (this module), a thread's stop and its resume (qdb_stops) and the commands answered there
(qdb_commands, by a table). qdb_program runs the program as python would; qdb_threads starts the
bridge's threads (and reaches running threads on 3.9-3.11); qdb_common holds what they share.
"""

import json
import os
import queue
import signal
import sys
import threading

import qdb_inspect
import qdb_program
import qdb_threads
from qdb_breakpoints import BreakpointTable
from qdb_channel import Channel
from qdb_code import ProgramCode
from qdb_commands import RESUME_COMMANDS, CommandsMixin
from qdb_children import Children
from qdb_common import _BRIDGE_FILES, _PY312, _CommandError
from qdb_eval import Evaluator
from qdb_hits import HitActions
from qdb_output import OutputCapture
from qdb_pause import Pauser
from qdb_repr import Reprs
from qdb_requests import Requests
from qdb_stops import StopsMixin
from qdb_tracing import Tracing, _Stepper

# Every module of the bridge (they are all imported by now): never traced nor shown.
for _name, _module in list(sys.modules.items()):
    if _name == __name__ or _name.startswith("qdb_"):
        _BRIDGE_FILES.update((_module.__file__, os.path.abspath(_module.__file__)))







class Bridge(StopsMixin, CommandsMixin):
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
        self._break_on = config.get("break_on") or "uncaught"
        self._pid = os.getpid()
        self._main_ident = threading.main_thread().ident
        self._main_globals = None

        self.channel = Channel()
        self.reprs = Reprs()
        self.children = Children(self)
        self.output = OutputCapture(self.channel, lambda: not self._detached,
                                    self._internal_thread)
        policy = config.get("eval_policy") or "full"
        # The stop (qdb_stops, qdb_commands): one thread at a time interacts.
        self._busy = set()  # idents currently interacting
        self._interact_lock = threading.Lock()
        self._pending_id = None  # the command that resumed the program (its stop carries it)
        self._stop = None
        self._debugging = {}  # ident -> depth of `debug CODE` it runs (pdb's recursive debugger)
        self.pauser = Pauser(self)
        self.tracing = Tracing(self)
        self.hits = HitActions(self)
        self.evaluator = Evaluator(
            policy, float(config.get("eval_timeout") or 0), self._main_ident,
            self.pauser._signal_main, self._internal_thread, lambda: self._main_globals)
        self.code = ProgramCode(_BRIDGE_FILES, boot_globals, config.get("skip") or [], program,
                                policy == "full")
        self._send = self.channel.send
        self._error = self.channel.error
        self._queue = queue.Queue()
        self._inspector = qdb_inspect.Inspector(self, _BRIDGE_FILES)
        self._requests = Requests(self)
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
        self._exit_code = 0  # what the program's SystemExit asks for (a child reports it)
        self._last_exc_stop = None

        # Each part's own state, where its code is.
        self.breakpoints = BreakpointTable(
            self.code, self.evaluator, self._program_arg, self._program_dir,
            lambda: self._main_globals, self._send, self.tracing._rearm, lambda: self.breakpoints,
            hit=self.tracing._on_compiled_hit,
            compiled=config.get("compiled_breakpoints", True) is not False,
            inline_ok=lambda: self._break_on != "raised")


    # ------------------------------------------------------------------ channel

    def connect(self):
        self.channel.connect(self._config["channel"])
        impl = {"cpython": "CPython", "pypy": "PyPy"}.get(sys.implementation.name,
                                                        sys.implementation.name)
        extra = {}
        child = self._config.get("child")
        if child or self._config.get("attached"):
            # Whose child this is, and what it runs (the tracer did not start it).
            extra = {"program": self._program, "argv": [str(a) for a in sys.argv],
                     "cwd": os.getcwd()}
            if child:
                extra["child"] = {"parent": child.get("parent")}
        self._send("hello", dict(extra, **{
            "token": self._token,
            "runtime": "%s %s" % (impl, sys.version.split()[0]),
            "pid": os.getpid(),
            "capabilities": [
                "pause", "threads", "post_mortem", "exception_break", "function_breakpoints",
                "conditional_breakpoints", "watches", "eval_timeout", "eval_policy",
                "complete", "set_trace", "hit_conditions", "logpoints",
            ] + (["running_threads"] if _PY312 or (
                self._thread_tracer is not None and self._thread_tracer.available) else []),
        }))

    def connect_child(self):
        """Connects a child's channel; False (the child then runs untraced) when the tracer
        cannot be reached."""
        try:
            self.connect()
            return True
        except OSError:
            self.channel.ok = False
            self._active = False
            self._detached = True
            return False

    def _internal_thread(self):
        """First call of each bridge thread (started by qdb_threads.start_internal): it is never
        traced nor stopped in."""
        self._internal.add(threading.get_ident())
        sys.settrace(None)
        sys.setprofile(None)

    def _reader_loop(self):
        self._internal_thread()
        try:
            self.channel.read_frames(self._on_frame, lambda: self._detached)
        finally:
            if not self._detached:
                # The tracer went away: let the program run on, untraced. Its pipes may not be
                # closed yet (a process killed with SIGKILL closes its fds one by one), so fds 1
                # and 2 stay on qdb's pipes: the forwarder passes output on while the tracer's
                # end still reads, and drops it once that end is gone, instead of the program
                # dying of EPIPE at its next print.
                self.channel.ok = False
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
        if e == "disable" and p == "hard":
            # Ends the program at once, here: the stopped thread may be busy with an eval that
            # would not take the command from the queue for a long time.
            self.detach("hard", id_)
            return
        try:
            with self._state_lock:
                stopped = self._stopped_mode
                if stopped and e in RESUME_COMMANDS:
                    # A resume that cannot be done is refused here, and the program stays
                    # stopped; otherwise commands after it are handled as "running" even before
                    # the stopped thread has taken the resume from the queue.
                    if self._stop is not None:
                        self._resume_of(self._stop, e, p, self._view(self._stop, fid))
                    self._stopped_mode = False
                if stopped:
                    self._queue.put((e, p, id_, fid))
                    return
                if e == "start":
                    # Answered under the lock: a stop that begins meanwhile sends its stack
                    # after this `running`, never before it (a late `running` would tell qdb's
                    # core the program runs while it is stopped).
                    self._command(None, e, p, id_)
                    return
            self._command(None, e, p, id_)
        except _CommandError as err:
            self._error(err.type, err.data, e, id_)
        except Exception as exc:
            self._internal_error(exc, e, id_)

    def _internal_error(self, exc, command, id_):
        import traceback
        detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        self._error("internal", "qdb failed while handling %r: %s" % (command, detail),
                    command, id_)

    # ------------------------------------------------------------------ helpers

    # ------------------------------------------------------------------ lifecycle

    def start(self, breakpoints):
        self._active = True
        added = []
        for spec in breakpoints or []:
            try:
                # A child's are its parent's breakpoints, as set_break payloads with their ids.
                p = dict(spec) if isinstance(spec, dict) else self.breakpoints.parse_spec(spec)
                added.append(self.breakpoints.set(p, None, from_config=True))
            except _CommandError as err:
                self._error(err.type, err.data, "set_break")
            except Exception as exc:
                self._internal_error(exc, "set_break", None)
        if added:
            # The core learns them (and their ids) before any client asks.
            self._send("breakpoint_state", self.breakpoints.state(added))
        self.tracing._update_tracing()
        qdb_threads.start_internal(self._reader_loop, "qdb-reader")

    def trace_main_before_run(self):
        """Tracing of the main thread for the program's start."""
        ident = threading.get_ident()
        if self._stop_on_entry:
            self.tracing._steppers[ident] = _Stepper(None, None, 0, entry=True)
            self.tracing._stepping.add(ident)
            sys.settrace(self.tracing._step_global)
        elif not _PY312 and self.tracing._needs_line_tracing():
            sys.settrace(self.tracing._bp_global)

    def join_groups(self, names):
        """The session joins groups: the server adds them and sets their rules."""
        if self._active:
            self._send("groups", list(names))

    def set_trace(self, frame, stop=True):
        if not self._active:
            return
        if not stop:
            if not _PY312 and threading.get_ident() not in self.tracing._steppers:
                self.tracing._retrace_here(frame)
            return
        while frame is not None and self.code.is_ignored(frame):
            frame = frame.f_back
        if frame is None:
            return
        self._stop_at(frame, "set_trace")

    def post_mortem(self, exc, tb, ident=None):
        if not self._active or self._break_on == "never":
            return
        frames = self.code.frames_from_tb(tb)
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
        self.pauser._pause_flag = False
        # Tracing off everywhere.
        try:
            if hasattr(threading, "settrace_all_threads"):
                threading.settrace_all_threads(None)
            else:
                threading.settrace(None)
                sys.settrace(None)
                if threading.get_ident() != self._main_ident:
                    self.pauser._sig_detach = True
                    self.pauser._signal_main()
        except Exception:
            pass
        self.tracing._steppers.clear()
        self.tracing._stepping.clear()
        self.tracing._trace_cache.clear()
        if _PY312:
            self.tracing._mon_release()
        try:
            # Every function gets its own code back.
            with self.breakpoints.lock:
                self.breakpoints.sites.remove_all()
        except Exception:
            pass
        if mode == "hard":
            self.output.drain()
            self._send("disabled", {"mode": "hard"}, id_)
            os.kill(os.getpid(), signal.SIGKILL)
        self.output.drain()
        attached = self._config.get("attached")
        if attached:
            # Attached to a program that ran before qdb: everything qdb added is taken out
            # (its fds are its own, never the tracer's pipes) before the tracer hears it left.
            self.output.restore()
            import qdb_attach
            qdb_attach.leave(self)
        if notify:
            self._send("disabled", {"mode": "soft"}, id_)
        with self._state_lock:
            self._detached = True
        if restore and not attached:
            self.output.restore()
        self.channel.close()
        # Wake a thread stopped in the interaction loop.
        self._queue.put(None)

    def at_exit(self):
        """Last atexit handler: forwards the remaining output, gives fds 1 and 2 back."""
        if os.getpid() != self._pid:
            return
        self.children.on_exit(self._exit_code)
        self._active = False
        if _PY312:
            self.tracing._mon_release()
        sys.settrace(None)
        threading.settrace(None)
        try:
            self.output.restore()
        except Exception:
            pass
        if self._exit_sigint:
            self.pauser._orig_signal(signal.SIGINT, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGINT)


# ---------------------------------------------------------------------- module API

_bridge = None


_GROUP_NAME = None


def set_trace(stop=True, frame=None, group=None):
    """Stops in qdb at the caller's line (reason ``set_trace``). ``stop=False`` only makes sure
    tracing is on. ``group`` (a name, or a list of names) makes the session a member of those
    groups first (as ``qdb trace --group`` does); ``qdb.set_trace(group="jobs", stop=False)``
    joins without stopping. A no-op when qdb is not attached (for example after
    ``disable soft``)."""
    global _GROUP_NAME
    if group is not None:
        import re
        names = [group] if isinstance(group, str) else list(group)
        if _GROUP_NAME is None:
            _GROUP_NAME = re.compile(r"^[A-Za-z0-9._:@~-]{1,64}$")
        for name in names:
            if not isinstance(name, str) or not _GROUP_NAME.match(name):
                raise ValueError("qdb: a group is 1 to 64 letters, digits and ._:@~-, got %r"
                                 % (name,))
        if _bridge is not None and names:
            _bridge.join_groups(names)
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


def _main():
    """Runs the program as ``python PROGRAM ARGS`` would, under the bridge."""
    global _bridge
    boot_globals = sys.modules["__main__"].__dict__
    config = json.loads(os.environ.pop("QDB_BRIDGE"))
    # sys.argv is ['-c', PROGRAM, ARGS...]; the program sees [PROGRAM, ARGS...].
    argv = sys.argv[1:]
    program_arg = argv[0]
    kind, path, module_spec, module_code = qdb_program.program_of(config, argv)
    config["program_arg"] = program_arg
    bridge = Bridge(config, path if kind == "code" else os.path.realpath(path), boot_globals)
    _bridge = bridge
    sys.modules["qdb"] = sys.modules[__name__]
    sys.argv = argv
    attached = qdb_program.connect(bridge, config, _breakpointhook)
    sys.argv = argv
    qdb_program.set_path(kind, path)
    main_mod = qdb_program.main_module(kind, path, module_spec)
    bridge._main_globals = main_mod.__dict__
    if bridge.evaluator.policy.startswith("hook:"):
        bridge.evaluator.load_hook()
    code = qdb_program.program_code(kind, path, program_arg, module_code)
    if attached:
        bridge.start(config.get("breakpoints") or [])
    sys.modules["__main__"] = main_mod
    if attached:
        bridge.trace_main_before_run()
    qdb_program.run(bridge, code, main_mod)
