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

The bridge is a package of modules that qdb writes next to each other, each with one job: this
one (the Bridge: its channel to the tracer, stops and the commands answered at them, start and
end), qdb_breakpoints (where breakpoints go and the rules of a hit), qdb_tracing (the tracing
backends and what stops), qdb_pause (pause, signals, holding the other threads at a stop),
qdb_eval (running code: eval, conditions, the policy and the deadline), qdb_output (the program's
output and input), qdb_repr (values as text), qdb_inspect (protocol 2's frames, references and
source), qdb_threads (the bridge's threads, and trace functions of running threads on 3.9-3.11)
and qdb_common (what they share). The Bridge's parts are mixins: the state is the Bridge's.
"""

import copy
import json
import os
import queue
import signal
import sys
import threading

import qdb_inspect
import qdb_program
import qdb_threads
from qdb_breakpoints import BreakpointsMixin
from qdb_channel import Channel
from qdb_code import ProgramCode
from qdb_children import ChildrenMixin
from qdb_common import _BRIDGE_FILES, _GEN_FLAGS, _PY312, _CommandError, _Stop
from qdb_eval import EvalMixin, _PolicyRefused
from qdb_output import _MISSING, OutputMixin
from qdb_pause import PauseMixin
from qdb_repr import ReprMixin, _exc_line
from qdb_requests import Requests
from qdb_tracing import TracingMixin, _Stepper

# Every module of the bridge (they are all imported by now): never traced nor shown.
for _name, _module in list(sys.modules.items()):
    if _name == __name__ or _name.startswith("qdb_"):
        _BRIDGE_FILES.update((_module.__file__, os.path.abspath(_module.__file__)))


_RESUME_COMMANDS = frozenset(["step", "next", "return", "until", "continue"])
_FRAME_COMMANDS = frozenset(
    ["step", "next", "return", "until", "continue", "eval", "pprint", "up", "down", "frame",
     "locals", "globals", "args", "debug"]
)


class _NoLock(object):
    """A lock that is not taken: a stop inside `debug`'s code already holds the real one."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


_NO_LOCK = _NoLock()





class Bridge(BreakpointsMixin, TracingMixin, PauseMixin, EvalMixin, OutputMixin,
             ReprMixin, ChildrenMixin):
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
        self._pid = os.getpid()
        self._main_ident = threading.main_thread().ident
        self._main_globals = None

        self.channel = Channel()
        self.code = ProgramCode(_BRIDGE_FILES, boot_globals, config.get("skip") or [], program,
                                self._eval_policy == "full")
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
        self._init_breakpoints()
        self._init_tracing()
        self._init_pause()
        self._init_eval()
        self._init_output()


    # ------------------------------------------------------------------ channel

    def connect(self):
        self.channel.connect(self._config["channel"])
        impl = {"cpython": "CPython", "pypy": "PyPy"}.get(sys.implementation.name,
                                                        sys.implementation.name)
        extra = {}
        child = self._config.get("child")
        if child:
            # Whose child this is, and what it runs (the tracer did not start it).
            extra = {"child": {"parent": child.get("parent")}, "program": self._program,
                     "argv": [str(a) for a in sys.argv], "cwd": os.getcwd()}
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
        """First call of each bridge thread (started by qdb_threads.start_internal): it is never traced
        nor stopped in."""
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
                if e == "start":
                    # Answered under the lock: a stop that begins meanwhile sends its stack
                    # after this `running`, never before it (a late `running` would tell qdb's
                    # core the program runs while it is stopped).
                    self._running_command(e, p, id_)
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

    # ------------------------------------------------------------------ helpers

    def _bp_lines_for(self, code):
        """The breakpoint lines inside `code` itself (not nested code), or None."""
        try:
            return self._code_bp_lines[code]
        except KeyError:
            pass
        r = None
        by_line = self._bp_by_file.get(self.code.canon(code.co_filename))
        if by_line:
            hit = self.code.own_lines(code).intersection(by_line)
            if hit:
                r = frozenset(hit)
        self._code_bp_lines[code] = r
        return r

    def _thread_info(self, ident):
        t = threading._active.get(ident)
        name = t.name if t is not None else "Thread-%d" % ident
        return {"id": ident, "name": name}

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
        # In the code `debug` runs, this thread stops again inside its own stop.
        nested = self._debugging.get(ident, 0)
        if not self._active or ident in self._internal or ident in self._busy:
            return None
        if self._holding is not None and not nested:
            # Another thread is stopped: this one's stop comes when that one ends.
            self._hold_here(frame)
        self._busy.add(ident)
        try:
            with (_NO_LOCK if nested else self._interact_lock):
                if not self._active:
                    return None
                if frames is None:
                    frames = self.code.frames_from(frame)
                if not frames:
                    return None
                stop = _Stop(ident, self._thread_info(ident)["name"], frames, reason,
                             post_mortem)
                stop.depth = nested
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
        # A stop inside `debug`'s code: the other threads are held by the stop it came from.
        if not stop.depth and not self._hold_others(stop):
            self._disarm_line_events()
        # From now on commands go to this thread's queue: a client may answer the stack below
        # before this thread reaches the loop.
        with self._state_lock:
            self._stopped_mode = True
        if bp is not None:
            # Hit counts (and a temporary breakpoint gone) for the core's table.
            self._send("breakpoint_state", self._breakpoint_state(), sid)
        if cond_error is not None:
            self._error("condition", cond_error.data, None, sid)
        if return_value is not _MISSING:
            self._send("return", self._short_repr(return_value), sid)
        if stop.exception is not None:
            self._send("exception", stop.exception, sid)
        self._requests.send_watch_values(stop)
        self._send_stopped(stop, sid)
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
        for f, _ in stop.frames:
            f.f_trace_opcodes = False  # A step out that stopped elsewhere first.
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
        elif kind == "out":
            st = _Stepper(frame, frame, -1, out=True)
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
            "file": self.code.canon(frame.f_code.co_filename),
            "line": lineno if lineno is not None else 0,
            "func": frame.f_code.co_name,
            "code": self.code.source_line(frame, lineno) if lineno else "",
        }

    def _send_stopped(self, stop, id_=None):
        """The engine interface's `stopped` event: which thread stopped and why. qdb's core
        asks for its frames (`stack_trace`) and shows the stop (protocol 1's `stack`); the
        same stop is sent again for a new client's `start`."""
        p = {"thread": {"id": stop.ident, "name": stop.thread_name}, "reason": stop.reason}
        if stop.breakpoint is not None and stop.reason == "breakpoint":
            p["breakpoint"] = stop.breakpoint
        if stop.post_mortem:
            p["post_mortem"] = True
        if stop.depth:
            p["depth"] = stop.depth
        self._send("stopped", p, id_)

    def _cmd_debug(self, stop, view, code_text, id_):
        """pdb's `debug CODE`: runs the code in the selected frame, stopped at its first line,
        as a stop inside this one (depth + 1): it is stepped, inspected and continued as any
        stop; when the code ends, this stop is shown again. Returns a resume (detach) if the
        person quit inside it, else None."""
        if not isinstance(code_text, str) or not code_text.strip():
            raise _CommandError("payload", "debug takes code to run")
        try:
            text = self._apply_policy(code_text, "eval")
        except _PolicyRefused as exc:
            raise _CommandError("policy", str(exc))
        name = "<debug>" if not stop.depth else "<debug %d>" % (stop.depth + 1)
        try:
            code = compile(text, name, "exec", dont_inherit=True)
        except (SyntaxError, ValueError, OverflowError, RecursionError, MemoryError) as exc:
            raise _CommandError("eval", _exc_line(exc))
        frame = view.frame
        g, l = frame.f_globals, self._frame_locals(stop, frame)
        ident = stop.ident
        self._send("print", {"input": code_text, "exc": False,
                             "output": "ENTERING RECURSIVE DEBUGGER"}, id_)
        self._send("running", {"thread": {"id": ident, "name": stop.thread_name}}, id_)
        saved_trace = sys.gettrace()
        with self._state_lock:
            self._stopped_mode = False
        self._debugging[ident] = stop.depth + 1
        self._steppers[ident] = _Stepper(None, None, 0)
        self._stepping.add(ident)
        # The code runs as the program does: it may stop (this stop stays open meanwhile).
        self._busy.discard(ident)
        import linecache
        # Its lines, for the stops in it (as a file's).
        linecache.cache[name] = (len(text), None, text.splitlines(True), name)
        failed = []

        def run():
            # Set inside call_tracing, as pdb's `debug` does: on 3.11 a trace function set
            # before it sees no events.
            sys.settrace(self._step_global)
            try:
                exec(code, g, l)
            except BaseException as exc:  # what the code raised (SystemExit too) is shown
                failed.append(_exc_line(exc))
            finally:
                sys.settrace(None)

        try:
            sys.call_tracing(run, ())
        finally:
            sys.settrace(saved_trace)
            self._steppers.pop(ident, None)
            self._stepping.discard(ident)
            self._debugging.pop(ident, None)
            self._busy.add(ident)
            self._locals_to_fast(frame, l)
        if not self._active:
            return ("detach",)
        # This stop again, as it was (its frame and variable ids are new).
        self._inspector.reset()
        with self._state_lock:
            self._stop = stop
            self._stopped_mode = True
        if failed:
            self._send("print", {"input": code_text, "exc": True, "output": failed[0]})
        self._send("print", {"input": code_text, "exc": False,
                             "output": "LEAVING RECURSIVE DEBUGGER"})
        self._requests.send_watch_values(stop)
        self._send_stopped(stop)
        return None

    def _resume_of(self, stop, e, p, view):
        """The resume a resuming command asks for, as (kind, until line or None, the view of the
        thread and frame it applies to), or _CommandError if it cannot be done (the reader
        checks before it counts the program as running). It applies to the frame qdb's core
        selected (`view`: `return` leaves it, `until` and `next` stay in it), in the stopped
        thread or one held by its stop; protocol 2 may name the thread instead."""
        if isinstance(p, dict):
            if e == "return" and p.get("caller") is True:
                e = "out"
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
            return self._requests.handle(stop, p, id_)
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
        if e == "debug":
            return self._cmd_debug(stop, view, p, id_)
        # eval, pprint, list, complete, locals, globals and args are the core's, through
        # the engine's requests (evaluate, source, completions, scopes and variables).
        # `stack` (where) and `pause` at a stop are the core's too: it knows the stop.
        if e == "start":
            if stop.exception is not None and stop.post_mortem:
                self._send("exception", stop.exception, id_)
            self._send_stopped(stop, id_)
        else:
            self._common_command(e, p, id_, view)
        return None

    def _running_command(self, e, p, id_):
        if e == "request":
            return self._requests.handle(None, p, id_)
        if e in _FRAME_COMMANDS:
            raise _CommandError("running", "%s needs a stopped program, and it is running "
                                "(send pause first)" % e)
        if e == "start":
            # A new client learns the program runs (it would otherwise only see a later stop),
            # unless it is about to stop at its first line.
            if self._stopped_once or not self._stop_on_entry:
                self._send("running", id_=id_)
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
        # Breakpoint commands are the core's: it sends set_breakpoint and the others as
        # requests.
        # `list` and `complete` are the core's (through `source` and `completions`).
        if e == "set_exception_break":
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

    # ------------------------------------------------------------------ lifecycle

    def start(self, breakpoints):
        self._active = True
        added = []
        for spec in breakpoints or []:
            try:
                # A child's are its parent's breakpoints, as set_break payloads with their ids.
                p = dict(spec) if isinstance(spec, dict) else self._parse_bp_spec(spec)
                added.append(self.set_break(p, None, from_config=True))
            except _CommandError as err:
                self._error(err.type, err.data, "set_break")
            except Exception as exc:
                self._internal_error(exc, "set_break", None)
        if added:
            # The core learns them (and their ids) before any client asks.
            self._send("breakpoint_state", self._breakpoint_state(added))
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

    def join_groups(self, names):
        """The session joins groups: the server adds them and sets their rules."""
        if self._active:
            self._send("groups", list(names))

    def set_trace(self, frame, stop=True):
        if not self._active:
            return
        if not stop:
            if not _PY312 and threading.get_ident() not in self._steppers:
                self._retrace_here(frame)
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
        self.channel.close()
        # Wake a thread stopped in the interaction loop.
        self._queue.put(None)

    def at_exit(self):
        """Last atexit handler: forwards the remaining output, gives fds 1 and 2 back."""
        if os.getpid() != self._pid:
            return
        self.on_exit(self._exit_code)
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
    if bridge._eval_policy.startswith("hook:"):
        bridge._load_hook()
    code = qdb_program.program_code(kind, path, program_arg, module_code)
    if attached:
        bridge.start(config.get("breakpoints") or [])
    sys.modules["__main__"] = main_mod
    if attached:
        bridge.trace_main_before_run()
    qdb_program.run(bridge, code, main_mod)
